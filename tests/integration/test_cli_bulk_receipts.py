"""`eightxeight bulk --receipts-listen` against a real sandbox: the sandbox posts each row's
receipt to the command's own receiver while it sends; the summary, --json and --report show them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async import AsyncSmsClient
from eightxeight_async._cli_bulk_receipts import ENV_AUTHORIZATION
from eightxeight_async.sandbox import Sandbox

from .cli_support import clean_env, invoke, sandbox_env, sandbox_in_thread

pytestmark = pytest.mark.integration

SECRET = "Basic YnVsay1jbGk6cjNjZWlwdHM="
ROWS = 30
#: Lines of the file (the header is line 1): +15550100001 is undelivered (error 15), and
#: +15550100003 rejected by 8x8 in its answer (its receipt says "rejected").
UNDELIVERED_LINE, REJECTED_LINE = 5, 9


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(
        tmp_path / "ca", sent_after=0.05, delivered_after=0.1, dlr_retry_scale=0.001
    ) as server:
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def point_webhook(sandbox: Sandbox, url: str) -> None:
    async def configure() -> None:
        async with AsyncSmsClient(**sandbox.client_kwargs()) as client:
            await client.set_webhook(url=url, http_authorization=SECRET)

    asyncio.run(configure())


def write_rows(path: Path) -> None:
    lines = ["phone,text"]
    for line in range(2, ROWS + 2):
        phone = {UNDELIVERED_LINE: "+15550100001", REJECTED_LINE: "+15550100003"}.get(
            line, f"+659{line:07d}"
        )
        lines.append(f"{phone},Row on line {line}")
    path.write_text("\n".join(lines) + "\n")


def test_bulk_records_the_receipts_it_receives(sandbox: Sandbox, tmp_path: Path) -> None:
    """Every row ends with its delivery state; the JSON counts them; the report lists the two."""
    port = free_port()
    point_webhook(sandbox, f"http://127.0.0.1:{port}/")
    data = tmp_path / "rows.csv"
    write_rows(data)
    report = tmp_path / "report.csv"
    env = {**sandbox_env(sandbox), ENV_AUTHORIZATION: SECRET}
    code, out, err = invoke(
        [
            "--json",
            "bulk",
            str(data),
            "--job-id",
            "dlr",
            "--chunk-size",
            "10",
            "--receipts-listen",
            f"127.0.0.1:{port}",
            "--receipts-wait",
            "60",
            "--report",
            str(report),
        ],
        env,
    )
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    assert code == 10, err  # the rejected row: refused by 8x8
    document = json.loads(out)
    assert document["accepted"] == ROWS - 1
    assert document["delivery"] == {
        "delivered": ROWS - 2,
        "undelivered": 1,
        "rejected": 1,
        "awaiting": 0,
    }
    assert document["receipts"]["listen"] == f"http://127.0.0.1:{port}/"
    assert document["receipts"]["received"] == ROWS
    assert f"Recording delivery receipts received on http://127.0.0.1:{port}/" in err
    rows = list(csv.reader(io.StringIO(report.read_text())))
    assert rows[0] == ["line", "client_message_id", "state", "reason", "delivery", "error_code"]
    assert [(r[0], r[2], r[4], r[5]) for r in rows[1:]] == [
        (str(UNDELIVERED_LINE), "accepted", "undelivered", "15"),
        (str(REJECTED_LINE), "rejected", "rejected", ""),
    ]
    assert {status for _, _, status in sandbox.state.dlr_attempts} == {200}

    # A later run of the job (nothing left to send) shows the recorded deliveries, no listener.
    code, out, err = invoke(
        ["bulk", str(data), "--job-id", "dlr", "--chunk-size", "10"], sandbox_env(sandbox)
    )
    assert code == 10, err
    delivery = next(line for line in out.splitlines() if line.strip().startswith("delivery"))
    assert (
        f"{ROWS - 2} delivered, 1 undelivered, 1 rejected, "
        "0 accepted with no receipt yet" in delivery
    )


def test_ctrl_c_while_waiting_for_receipts_ends_the_wait_not_the_job(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """No receipt comes (the webhook points elsewhere): Ctrl-C ends the wait; exit 0, counted."""
    data = tmp_path / "rows.csv"
    data.write_text("phone,text\n+6591000001,a\n+6591000002,b\n")
    env = clean_env({**sandbox_env(sandbox), ENV_AUTHORIZATION: SECRET})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eightxeight_async",
            "bulk",
            str(data),
            "--receipts-listen",
            "127.0.0.1:0",
            "--receipts-wait",
            "600",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Waiting up to 600 s for the receipts of 2 rows"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in out + err
    assert "accepted  2" in out
    assert "0 delivered, 0 undelivered, 0 rejected, 2 accepted with no " in out
