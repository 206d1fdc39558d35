"""What an outside user met running the examples as documented (issue 12's try-out).

The worker runs as its README's command, in a process of its own, against a real sandbox; the
OTP apps run under their real servers. Each defect fixed here has its test.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Sandbox

from . import test_examples
from .conftest import eventually
from .test_examples import (
    AUTHORIZATION,
    LIMIT,
    ROOT,
    SERVERS,
    Handset,
    client_environment,
    free_socket,
    run_example,
    summary,
)

#: The fixture of test_examples: a sandbox whose SMS texts a Handset reads.
phone_sandbox = test_examples.phone_sandbox

WORKER = "examples/queue_worker.py"


def worker_environment(sandbox: Sandbox | None = None) -> dict[str, str]:
    """The worker's environment: the sandbox's variables (or well-formed stand-ins)."""
    if sandbox is not None:
        client = client_environment(sandbox)
    else:  # nothing is sent in these tests: the worker stops before any request
        client = {
            "EIGHTXEIGHT_BASE_URL": "https://127.0.0.1:9",
            "EIGHTXEIGHT_API_KEY": "stand-in-key",
            "EIGHTXEIGHT_SUBACCOUNT_ID": "stand_in",
            "EIGHTXEIGHT_ACCOUNT_ID": "stand-in-account",
        }
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EIGHTXEIGHT")},
        **client,
        "WORKER_WEBHOOK_AUTHORIZATION": AUTHORIZATION,
        "PYTHONUNBUFFERED": "1",
    }


async def test_worker_ctrl_c_stops_after_the_requests_in_flight_and_prints_how_to_resume(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """Ctrl-C: the summary, the command that resumes, exit 130, no traceback; that command
    then sends the rest, and no row twice."""
    sandbox, _ = phone_sandbox
    journal = tmp_path / "big.journal"
    args = [WORKER, "--generate", "2000", "--journal", str(journal)]
    args += ["--job-id", "bigjob", "--chunk-size", "10", "--concurrency", "1"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=worker_environment(sandbox),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(lambda: sandbox.state.requests["send_batch"] >= 3, limit=LIMIT)
        process.send_signal(signal.SIGINT)  # ours, by its handle
        out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), LIMIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out, err = out_bytes.decode(), err_bytes.decode()
    print(f"$ python {' '.join(args)}   (Ctrl-C, exit {process.returncode})\n{out}{err}")
    assert process.returncode == 130
    assert "Traceback" not in err
    counts = summary(out)
    assert 0 < counts["total"] < 2000
    assert counts["unknown"] == 0  # the requests in flight finished
    resume = err.split("To send the rest: ")[1].strip()
    assert resume == "python " + shlex.join(args)

    code, again, err = await run_example(
        shlex.split(resume)[1:], worker_environment(sandbox), timeout=4 * LIMIT
    )
    print(f"$ {resume}   (exit {code})\n{again[-400:]}{err}")
    assert (code, err) == (0, "")
    assert summary(again)["total"] == 2000
    assert f"{counts['total']:,} row(s) stood in the journal" in again
    assert len(sandbox.state.messages) == 1_992  # each valid row sent once


async def test_worker_reconciles_a_generated_job_with_its_own_option(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """``--reconcile`` (a --generate job has no CSV for ``eightxeight bulk``) reads the job."""
    sandbox, _ = phone_sandbox
    journal = str(tmp_path / "j")
    job = [WORKER, "--generate", "20", "--journal", journal, "--job-id", "gen"]
    assert (await run_example(job, worker_environment(sandbox)))[0] == 0
    code, out, err = await run_example([*job, "--reconcile"], worker_environment(sandbox))
    print(f"$ python {' '.join(job)} --reconcile   (exit {code})\n{out}{err}")
    assert (code, err) == (0, "")
    assert "job gen: 0 unknown row(s) checked" in out
    code, _, err = await run_example(
        [WORKER, "--generate", "20", "--journal", journal, "--reconcile"], worker_environment()
    )
    assert code == 2
    assert "--reconcile needs --job-id" in err


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("in-use", "cannot listen there"),
        ("999.1.1.1:8001", "--listen 999.1.1.1:8001: cannot listen there"),
        ("10.255.255.1:8001", "--listen 10.255.255.1:8001: cannot listen there"),
    ],
)
async def test_worker_listen_problems_are_named_not_tracebacks(
    listen: str, expected: str, tmp_path: Path
) -> None:
    """An address in use, not a host, or not this machine's: the worker's message, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if listen == "in-use":
            listen = f"127.0.0.1:{taken.getsockname()[1]}"
        args = [WORKER, "--generate", "5", "--journal", str(tmp_path / "j"), "--listen", listen]
        code, out, err = await run_example(args, worker_environment())
    print(f"$ python {' '.join(args)}   (exit {code})\n{out}{err}")
    assert code == 2
    assert err.startswith("queue worker cannot start:")
    assert expected in err
    assert "Traceback" not in err


async def test_worker_refuses_a_non_ascii_webhook_authorization(tmp_path: Path) -> None:
    environment = {**worker_environment(), "WORKER_WEBHOOK_AUTHORIZATION": "Basic sécret"}
    args = [WORKER, "--generate", "5", "--journal", str(tmp_path / "j"), "--listen", "127.0.0.1:0"]
    code, _, err = await run_example(args, environment)
    assert code == 2
    assert "WORKER_WEBHOOK_AUTHORIZATION must be printable ASCII" in err
    assert "Traceback" not in err
    assert "sécret" not in err


async def test_worker_wrong_api_key_is_a_configuration_error(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    sandbox, _ = phone_sandbox
    environment = {**worker_environment(sandbox), "EIGHTXEIGHT_API_KEY": "wrong-key-12345"}
    args = [WORKER, "--generate", "5", "--journal", str(tmp_path / "j")]
    code, _, err = await run_example(args, environment)
    print(f"$ python {' '.join(args)}   (a wrong key, exit {code})\n{err}")
    assert code == 2
    assert "EIGHTXEIGHT_API_KEY" in err
    assert "wrong-key-12345" not in err


async def test_worker_reads_a_csv_with_a_byte_order_mark(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: the header is still ``destination``."""
    sandbox, handset = phone_sandbox
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffdestination,text\n+6591110001,Café ouvert\n".encode())
    args = [WORKER, "--csv", str(path), "--journal", str(tmp_path / "j")]
    code, out, err = await run_example(args, worker_environment(sandbox))
    print(f"$ python {' '.join(args)}   (exit {code})\n{out}{err}")
    assert (code, err) == (0, "")
    assert summary(out)["accepted"] == 1
    assert handset.texts == {"+6591110001": ["Café ouvert"]}


async def test_worker_names_the_line_of_undecodable_bytes_and_takes_encoding(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """A Latin-1 file read as UTF-8: the rows before the bad line are sent, the line is named
    with a hint; with ``--encoding latin-1`` the whole file goes."""
    sandbox, handset = phone_sandbox
    path = tmp_path / "latin1.csv"
    path.write_bytes("destination,text\n+6591110001,ok\n+6591110002,Café\n".encode("latin-1"))
    args = [WORKER, "--csv", str(path), "--journal", str(tmp_path / "j"), "--job-id", "latin"]
    code, out, err = await run_example(args, worker_environment(sandbox))
    print(f"$ python {' '.join(args)}   (exit {code})\n{out}{err}")
    assert code == 2
    assert "line 3" in err
    assert "--encoding" in err
    assert "Traceback" not in err
    assert summary(out)["accepted"] == 1
    code, out, err = await run_example(
        [*args, "--encoding", "latin-1"], worker_environment(sandbox)
    )
    assert (code, err) == (0, "")
    assert handset.texts["+6591110002"] == ["Café"]


async def test_worker_warns_of_texts_over_ten_parts(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    sandbox, _ = phone_sandbox
    path = tmp_path / "long.csv"
    path.write_text(f"destination,text\n+6591110001,short\n+6591110002,{'x' * 1600}\n")
    args = [WORKER, "--csv", str(path), "--journal", str(tmp_path / "j")]
    code, out, err = await run_example(args, worker_environment(sandbox))
    print(f"$ python {' '.join(args)}   (exit {code})\n{out}{err}")
    assert code == 0
    assert "1 row(s) have a text over 10 SMS parts, which 8x8 cuts (row 1)" in out


# --- the OTP apps -------------------------------------------------------------------------------


def otp_environment(sandbox: Sandbox | None, **extra: str) -> dict[str, str]:
    """The apps' environment (OTP_PORT 0: should one start, it takes a free port)."""
    base = worker_environment(sandbox)
    del base["WORKER_WEBHOOK_AUTHORIZATION"]
    return {**base, "OTP_WEBHOOK_AUTHORIZATION": AUTHORIZATION, "OTP_PORT": "0", **extra}


STARTS = {
    "fastapi": ["-m", "examples.fastapi_otp"],
    "aiohttp": ["-m", "examples.aiohttp_otp"],
}


@pytest.mark.parametrize("framework", sorted(STARTS))
@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"EIGHTXEIGHT_BASE_URL": "notaurl"}, "EIGHTXEIGHT_BASE_URL"),
        ({"EIGHTXEIGHT_CA_BUNDLE": "/nonexistent"}, "EIGHTXEIGHT_CA_BUNDLE"),
        ({"EIGHTXEIGHT_API_KEY": "wrong-key-12345"}, "EIGHTXEIGHT_API_KEY"),
        ({"EIGHTXEIGHT_BASE_URL": "https://127.0.0.1:9"}, "EIGHTXEIGHT_BASE_URL"),  # down
        ({"OTP_PORT": "eighty"}, "OTP_PORT"),
    ],
    ids=["base-url", "ca-bundle", "api-key", "sandbox-down", "port"],
)
async def test_otp_app_startup_problems_are_named_not_tracebacks(
    framework: str,
    setting: dict[str, str],
    named: str,
    phone_sandbox: tuple[Sandbox, Handset],
) -> None:
    """A setting that stops the app at startup (OTP_WEBHOOK_URL set: registered then): the
    README's "cannot start" list naming it, exit 2, no traceback, no secret."""
    sandbox, _ = phone_sandbox
    environment = otp_environment(
        sandbox, OTP_WEBHOOK_URL="http://127.0.0.1:8000/webhooks/8x8/", **setting
    )
    code, out, err = await run_example(STARTS[framework], environment)
    print(f"$ {setting} python {' '.join(STARTS[framework])}   (exit {code})\n{out}{err}")
    assert code == 2
    assert "The OTP example cannot start:" in err
    assert named in err
    assert "Traceback" not in err
    assert "wrong-key-12345" not in err
    assert sandbox.state.requests["send_sms"] == 0


async def test_otp_app_under_uvicorn_factory_reports_without_traceback(tmp_path: Path) -> None:
    """``uvicorn --factory``: the missing variables listed (exit 2); a startup problem is
    uvicorn's failed startup (its exit 3) with the app's message, no traceback."""
    factory = ["-m", "uvicorn", "--factory", "examples.fastapi_otp.app:create_app", "--port", "0"]
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("EIGHTXEIGHT", "OTP"))}
    code, _, err = await run_example(factory, bare)
    print(f"$ uvicorn --factory ...   (exit {code})\n{err}")
    assert code == 2
    assert "OTP_WEBHOOK_AUTHORIZATION is not set" in err
    assert "Traceback" not in err
    code, _, err = await run_example(factory, otp_environment(None, EIGHTXEIGHT_BASE_URL="x"))
    print(f"$ EIGHTXEIGHT_BASE_URL=x uvicorn --factory ...   (exit {code})\n{err}")
    assert code == 3
    assert "EIGHTXEIGHT_BASE_URL" in err
    assert "Traceback" not in err


ODD_BODIES = [
    b"[" * 2000,
    b'{"phone": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"phone": null}',
    b'{"phone": 1e999}',
    b'{"phone": 12345678901234567890}',
    b'{"phone": {"a": 1}}',
    b'{"phone": "\\ud800"}',
    b'{"phone": "+65\\u0000912345"}',
    b"null",
    b'"a string"',
    b"",
    b"\xff\xfe",
    b'{"umid": "x", "code": "\\ud800"}',
]


@pytest.mark.parametrize("framework", ["fastapi", "aiohttp"])
async def test_otp_app_answers_odd_json_with_a_json_4xx(
    framework: str, phone_sandbox: tuple[Sandbox, Handset], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Surrogates, deep nesting, huge numbers, null, wrong types, oversized bodies, unknown
    routes: each a 4xx ``{"error": ...}`` that echoes nothing; the webhook URL works with and
    without its trailing slash; too many wrong codes say so."""
    import httpx

    sandbox, handset = phone_sandbox
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name, value in otp_environment(sandbox, OTP_WEBHOOK_URL=f"{base}/webhooks/8x8").items():
        monkeypatch.setenv(name, value)
    async with SERVERS[framework](sock), httpx.AsyncClient(base_url=base, timeout=LIMIT) as http:
        sent = (await http.post("/otp", json={"phone": "+6591234567"})).json()
        umid = sent["umid"]
        calls = [("POST", "/otp", body) for body in ODD_BODIES]
        calls += [("POST", "/otp/verify", body) for body in ODD_BODIES]
        calls.append(("POST", "/otp/verify", f'{{"umid": "{umid}", "code": "\\ud800"}}'.encode()))
        calls.append(("POST", "/otp", b'{"phone": "' + b"9" * 5000 + b'"}'))
        calls += [("GET", f"/otp/{umid}/delivery?timeout={t}", b"") for t in ("nan", "1e999", "x")]
        calls += [("GET", "/nowhere", b""), ("DELETE", "/otp", b"")]
        for method, path, content in calls:
            answer = await http.request(method, path, content=content)
            shown = content[:40]
            print(f"{framework} {method} {path} {shown!r} -> {answer.status_code} {answer.text}")
            assert 400 <= answer.status_code < 500, (path, content[:60], answer.text)
            assert list(answer.json()) == ["error"]
            assert "9999" not in answer.text
        # The receipt reached the receiver at the URL registered without the slash.
        delivery = await http.get(f"/otp/{umid}/delivery?timeout=20")
        assert delivery.json()["via"] == "receipt"
        assert [s for u, _, s in sandbox.state.dlr_attempts if u == umid] == [200]
        for _ in range(3):
            await http.post("/otp/verify", json={"umid": umid, "code": "000000x"})
        right = await http.post("/otp/verify", json={"umid": umid, "code": handset.code(PHONE)})
        assert right.status_code == 410
        assert "too many wrong codes" in right.json()["error"]


PHONE = "+6591234567"


async def test_an_expired_code_answers_410_and_gets_failure_feedback_when_forgotten(
    phone_sandbox: tuple[Sandbox, Handset], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified after its 5 minutes: 410 "expired" and feedback ``failure``; never verified and
    forgotten after 10 minutes (another send purges it): feedback ``failure`` all the same."""
    import types

    import httpx

    import examples.otp_core as otp_core

    sandbox, _ = phone_sandbox
    clock = {"offset": 0.0}
    real = time.monotonic
    monkeypatch.setattr(
        otp_core, "time", types.SimpleNamespace(monotonic=lambda: real() + clock["offset"])
    )
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name, value in otp_environment(sandbox).items():
        monkeypatch.setenv(name, value)
    async with SERVERS["fastapi"](sock), httpx.AsyncClient(base_url=base, timeout=LIMIT) as http:
        late = (await http.post("/otp", json={"phone": PHONE})).json()["umid"]
        forgotten = (await http.post("/otp", json={"phone": "+6591234568"})).json()["umid"]
        clock["offset"] = 301.0
        answer = await http.post("/otp/verify", json={"umid": late, "code": "123456"})
        assert answer.status_code == 410
        assert "expired" in answer.json()["error"]
        clock["offset"] = 601.0
        await http.post("/otp", json={"phone": "+6591234569"})  # purges both
        answer = await http.post("/otp/verify", json={"umid": forgotten, "code": "123456"})
        assert answer.status_code == 404
        await eventually(lambda: bool(sandbox.state.messages[forgotten].feedback), limit=LIMIT)
    assert [f["outcome"] for f in sandbox.state.messages[late].feedback] == ["failure"]
    assert [f["outcome"] for f in sandbox.state.messages[forgotten].feedback] == ["failure"]


def test_otp_settings_report_a_bad_port_with_the_other_problems() -> None:
    """OTP_PORT is checked with the rest, not only once everything else is fixed."""
    from examples.otp_core import ConfigError, OtpSettings

    with pytest.raises(ConfigError) as caught:
        OtpSettings.from_env({"OTP_PORT": "eighty"})
    assert any("OTP_PORT" in problem for problem in caught.value.problems)
    assert any("OTP_WEBHOOK_AUTHORIZATION" in problem for problem in caught.value.problems)


@pytest.mark.parametrize("wait", ["nan", "-1", "inf"])
async def test_worker_refuses_a_receipts_wait_that_never_ends(wait: str, tmp_path: Path) -> None:
    """``--receipts-wait nan`` would wait for ever (no comparison with nan holds)."""
    args = [WORKER, "--generate", "5", "--journal", str(tmp_path / "j"), "--receipts-wait", wait]
    code, out, err = await run_example(args, worker_environment())
    assert (code, out) == (2, "")
    assert "--receipts-wait must be 0 to 86400 seconds" in err
