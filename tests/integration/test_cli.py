"""The `eightxeight` command against a running sandbox, and the demo, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Sandbox

from .cli_support import clean_env, sandbox_env, sandbox_in_thread
from .cli_support import invoke as cli_invoke

pytestmark = pytest.mark.integration


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m eightxeight_async ARGS`; return (exit code, stdout, stderr)."""
    full_env = clean_env(env, COLUMNS="200")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eightxeight_async",
        *args,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_demo_runs_end_to_end() -> None:
    """`eightxeight demo` exits 0 after delivery and feedback, with the journey printed."""
    code, out, err = await run_cli("demo", "--delivered-after", "0.5")
    assert code == 0, err
    assert "delivered / delivered_to_recipient" in out
    assert "send_feedback" in out
    assert "SendOutcomeUnknownError" in out


async def test_send_status_feedback_commands(sandbox: Sandbox) -> None:
    """send --json, status --wait --json and feedback work with the environment settings."""
    env = sandbox_env(sandbox)
    code, out, err = await run_cli(
        "--json",
        "send",
        "--to",
        "+6591234567",
        "--text",
        "Code 1234",
        "--track",
        "Outcome",
        env=env,
    )
    assert code == 0, err
    sent = json.loads(out)
    assert sent["status"]["code"] == "QUEUED"
    code, out, err = await run_cli("--json", "status", sent["umid"], "--wait", env=env)
    assert code == 0, err
    assert json.loads(out)["status"]["state"] == "delivered"
    code, out, err = await run_cli("feedback", sent["umid"], "success", env=env)
    assert code == 0, err
    assert "accepted" in out
    assert sandbox.state.messages[sent["umid"]].feedback


async def test_connection_error_exit_code(tmp_path: Path) -> None:
    """Nothing listening: exit code 5."""
    async with Sandbox(cert_dir=tmp_path) as server:
        env = sandbox_env(server)
    code, _, err = await run_cli("status", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9", env=env)
    assert code == 5
    assert "nothing was sent" in err


@pytest.fixture
def threaded_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox serving from its own thread and loop, so that in-process CLI runs can call it."""
    with sandbox_in_thread(tmp_path, sent_after=0.1, delivered_after=0.2) as sandbox:
        yield sandbox


def invoke(sandbox: Sandbox, *args: str, **env: str) -> tuple[int, str, str]:
    return cli_invoke(list(args), {**sandbox_env(sandbox), **env})


def test_in_process_journey(threaded_sandbox: Sandbox) -> None:
    """send, status --wait, feedback and survey, rendered as tables and as JSON."""
    code, out, _ = invoke(threaded_sandbox, "send", "--to", "+6591234567", "--text", "Code 1")
    assert code == 0
    assert "QUEUED" in out
    assert "+6591234567" not in out
    code, out, _ = invoke(threaded_sandbox, "--json", "send", "--to", "+15550100001", "--text", "x")
    umid = json.loads(out)["umid"]
    code, out, _ = invoke(threaded_sandbox, "status", umid, "--wait")
    assert code == 8  # ended undelivered
    assert "undelivered" in out
    assert "15 Invalid destination" in out
    code, out, _ = invoke(threaded_sandbox, "--json", "feedback", umid, "failure")
    assert json.loads(out) == {"umid": umid, "outcome": "failure", "accepted": True}
    code, out, _ = invoke(threaded_sandbox, "survey", "nps", "--to", "+6591234567")
    assert code == 0
    code, _, _ = invoke(threaded_sandbox, "survey", "nps", "--to", "+6591234567", "--var", "x")
    assert code == 2


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(["send", "--to", "12", "--text", "x"], {}, 3, id="validation"),
        pytest.param(
            ["send", "--to", "+6591234567", "--text", "x"],
            {"EIGHTXEIGHT_API_KEY": "k"},
            4,
            id="api",
        ),
        pytest.param(["send", "--to", "+15550100003", "--text", "x"], {}, 4, id="rejected"),
        pytest.param(
            ["feedback", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9", "success"], {}, 4, id="404"
        ),
    ],
)
def test_in_process_exit_codes(
    threaded_sandbox: Sandbox, args: list[str], env: dict[str, str], expected: int
) -> None:
    """Each kind of failure has its exit code."""
    code, _, err = invoke(threaded_sandbox, *args, **env)
    assert code == expected
    assert err.startswith("error:")


def test_demo_in_process() -> None:
    """The demo's journey, run in this process: delivered, feedback sent, faults shown."""
    code, out, err = cli_invoke(["demo", "--delivered-after", "0.4"], {"COLUMNS": "200"})
    assert code == 0, err
    assert "delivered / delivered_to_recipient" in out
    assert "waited Retry-After 1 s, then QUEUED" in out
    assert "request(s) had to be refused" in out


def test_demo_says_when_it_skips_feedback() -> None:
    """A demo number that ends undelivered says feedback was skipped, and why."""
    code, out, err = cli_invoke(
        ["demo", "--to", "+15550100001", "--delivered-after", "0.2", "--json"], {}
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["final_state"] == "undelivered"
    feedback = [step for step in report["steps"] if step["call"] == "send_feedback"]
    assert [step["result"] for step in feedback] == [
        "skipped: the message ended 'undelivered', not delivered"
    ]
    assert "+15*******01" in json.dumps(report)  # masked as everywhere else
