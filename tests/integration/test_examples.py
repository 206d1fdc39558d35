"""The examples under ``examples/``, each run against a real sandbox (TLS 1.3) on 127.0.0.1.

The OTP apps run under their own servers (uvicorn for FastAPI, aiohttp.web's runner), configured
from the environment as their README says; the sandbox posts each delivery receipt to the app's
webhook receiver. The "handset" reads each SMS off the sandbox's wire, as a user reads the phone:
the app never shows its codes. The queue worker runs as its README's command, in a process of
its own. Each test prints what the example printed or answered (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web

from eightxeight_async.sandbox import Sandbox

from .conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
AUTHORIZATION = "Basic b3RwLWV4YW1wbGU6dGVzdC1vbmx5LXNlY3JldA=="
PHONE = "+6591234567"
UNDELIVERED = "+15550100001"  # the sandbox's test number: undelivered, error 15
REJECTED = "+15550100003"  # the sandbox's test number: REJECTED in the answer
#: Bounds: every wait of these tests ends within this many seconds, or the test fails.
LIMIT = 60.0


class Handset:
    """ASGI middleware on the sandbox: keeps the text of each SMS sent, by destination.

    It stands for the phone: the test learns a code the way a user does, from the message.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.texts: dict[str, list[str]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not re.fullmatch(r"/api/v1/subaccounts/[^/]+/messages(/batch)?", scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        content = b"".join(chunks)
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            sent = json.loads(content)
            shared = sent.get("template", {}).get("text")
            for sms in sent.get("messages", [sent]):  # a batch, or one SMS
                number = "+" + sms["destination"].lstrip("+")
                self.texts.setdefault(number, []).append(sms.get("text") or shared)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                later: dict[str, Any] = await receive()  # what comes next: a disconnect
                return later
            replayed = True
            return {"type": "http.request", "body": content, "more_body": False}

        await self.app(scope, replay, send)

    def code(self, number: str) -> str:
        """The 6-digit code of the last SMS to ``number``."""
        found = re.search(r"\b(\d{6})\b", self.texts[number][-1])
        assert found is not None, "the SMS holds no 6-digit code"
        return found.group(1)


@pytest.fixture
async def phone_sandbox(
    monkeypatch: pytest.MonkeyPatch, openapi_conformance: Any
) -> AsyncIterator[tuple[Sandbox, Handset]]:
    """A running sandbox (fast lifecycles) whose SMS texts a Handset reads."""
    import eightxeight_async.sandbox._server as server_module

    handsets: list[Handset] = []
    checked_build = vars(server_module)["build_app"]  # already wrapped by the OpenAPI check

    def build(state: Any) -> Any:
        handsets.append(Handset(checked_build(state)))
        return handsets[-1]

    monkeypatch.setattr(server_module, "build_app", build)
    async with Sandbox(sent_after=0.1, delivered_after=0.2, dlr_retry_scale=0.001) as sandbox:
        yield sandbox, handsets[0]


def client_environment(sandbox: Sandbox) -> dict[str, str]:
    """The EIGHTXEIGHT_* variables ``eightxeight sandbox`` prints, for this sandbox."""
    kwargs = sandbox.client_kwargs()
    return {
        "EIGHTXEIGHT_BASE_URL": kwargs["base_url"],
        "EIGHTXEIGHT_API_KEY": kwargs["api_key"],
        "EIGHTXEIGHT_SUBACCOUNT_ID": kwargs["subaccount_id"],
        "EIGHTXEIGHT_ACCOUNT_ID": kwargs["account_id"],
        "EIGHTXEIGHT_CA_BUNDLE": str(kwargs["verify"]),
    }


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test's loop keeps its own signal handling


@contextlib.asynccontextmanager
async def serve_fastapi(sock: socket.socket) -> AsyncIterator[None]:
    """``create_app()`` under uvicorn, its lifespan on, on ``sock``."""
    from examples.fastapi_otp.app import create_app

    server = _Server(uvicorn.Config(create_app(), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), limit=LIMIT)
        assert server.started, "the FastAPI app did not start"
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, LIMIT)


@contextlib.asynccontextmanager
async def serve_aiohttp(sock: socket.socket) -> AsyncIterator[None]:
    """``create_app()`` under aiohttp.web's runner (its cleanup context on), on ``sock``."""
    from examples.aiohttp_otp.app import create_app

    runner = web.AppRunner(create_app())
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await asyncio.wait_for(runner.cleanup(), LIMIT)


SERVERS: dict[str, Callable[[socket.socket], contextlib.AbstractAsyncContextManager[None]]] = {
    "fastapi": serve_fastapi,
    "aiohttp": serve_aiohttp,
}


class Transcript:
    """Calls the app and prints each request and answer: the example's output."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http = http
        print(f"\n=== {name} ===")

    async def __call__(self, method: str, path: str, **options: Any) -> tuple[int, Any]:
        answer = await self.http.request(method, path, **options)
        sent = options.get("json")
        shown = "" if sent is None else " " + json.dumps(sent)
        print(f"{method} {path}{shown}\n  -> {answer.status_code} {answer.text}")
        return answer.status_code, answer.json() if answer.content else None


@pytest.mark.parametrize("framework", sorted(SERVERS))
async def test_otp_example_walks_send_receipt_wait_verify_and_feedback(
    framework: str,
    phone_sandbox: tuple[Sandbox, Handset],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The OTP app sends a code, gets its receipt through the webhook, waits on the tracker,
    verifies the code and reports the outcome to the sandbox; test numbers end undelivered and
    rejected; a forged webhook post is refused; no code or full number is logged."""
    sandbox, handset = phone_sandbox
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name, value in client_environment(sandbox).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTP_WEBHOOK_AUTHORIZATION", AUTHORIZATION)
    monkeypatch.setenv("OTP_WEBHOOK_URL", f"{base}/webhooks/8x8/")
    monkeypatch.setenv("OTP_WEBHOOK_ALLOWED_IPS", "127.0.0.1")
    caplog.set_level(logging.INFO, logger="otp_example")
    async with (
        SERVERS[framework](sock),
        httpx.AsyncClient(base_url=base, timeout=LIMIT) as http,
    ):
        call = Transcript(http, f"{framework} OTP example")
        status, sent = await call("POST", "/otp", json={"phone": PHONE})
        assert status == 201
        umid = sent["umid"]
        assert sent == {"umid": umid, "expires_in": 300}

        status, delivery = await call("GET", f"/otp/{umid}/delivery?timeout=20")
        assert (status, delivery) == (
            200,
            {
                "umid": umid,
                "final": True,
                "state": "delivered",
                "via": "receipt",
                "error_code": None,
            },
        )
        # Asked again, the app answers from what it kept (the tracker hands a state out once).
        assert await call("GET", f"/otp/{umid}/delivery?timeout=0") == (status, delivery)

        code = handset.code(PHONE)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        assert await call("POST", "/otp/verify", json={"umid": umid, "code": wrong}) == (
            200,
            {"verified": False, "attempts_left": 2},
        )
        assert sandbox.state.messages[umid].feedback == []  # not settled yet
        assert await call("POST", "/otp/verify", json={"umid": umid, "code": code}) == (
            200,
            {"verified": True},
        )
        status, used = await call("POST", "/otp/verify", json={"umid": umid, "code": code})
        assert (status, used["verified"]) == (410, False)

        # A number that ends undelivered: the receipt says so; three wrong codes are a failure.
        status, lost = await call("POST", "/otp", json={"phone": UNDELIVERED})
        assert status == 201
        lost_umid = lost["umid"]
        status, delivery = await call("GET", f"/otp/{lost_umid}/delivery?timeout=20")
        assert (status, delivery["state"], delivery["error_code"]) == (200, "undelivered", 15)
        for left in (2, 1, 0):
            assert await call(
                "POST", "/otp/verify", json={"umid": lost_umid, "code": "not-it"}
            ) == (200, {"verified": False, "attempts_left": left})

        status, refused = await call("POST", "/otp", json={"phone": REJECTED})
        assert status == 422
        assert "rejected" in refused["error"]
        status, invalid = await call("POST", "/otp", json={"phone": "12"})
        assert status == 422
        assert "destination" in invalid["error"]
        assert (await call("GET", "/otp/no-such-umid/delivery"))[0] == 404

        forged = await http.post(
            "/webhooks/8x8/",
            content=json.dumps({"namespace": "SMS"}),
            headers={"Authorization": "Basic Zm9yZ2Vk"},
        )
        print(f"POST /webhooks/8x8/ (a wrong Authorization)\n  -> {forged.status_code}")
        assert forged.status_code == 401

    # The sandbox's side: one receipt post each, answered 200; the feedback it received.
    for message_umid in (umid, lost_umid):
        attempts = [s for u, _, s in sandbox.state.dlr_attempts if u == message_umid]
        assert attempts == [200]
    assert [f["outcome"] for f in sandbox.state.messages[umid].feedback] == ["success"]
    assert [f["outcome"] for f in sandbox.state.messages[lost_umid].feedback] == ["failure"]
    print("app log:")
    for record in caplog.records:
        print(f"  {record.levelname} {record.name}: {record.getMessage()}")
    logged = caplog.text
    assert code not in logged
    for number in (PHONE, UNDELIVERED, REJECTED):
        assert number not in logged
        assert number.lstrip("+") not in logged
    assert "+65******67" in logged


@pytest.mark.parametrize("package", ["fastapi_otp", "aiohttp_otp"])
async def test_otp_example_names_every_missing_setting_at_startup(package: str) -> None:
    """Started without its configuration, the app lists what is missing and exits 2."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EIGHTXEIGHT", "OTP"))}
    environment["OTP_WEBHOOK_URL"] = "http://127.0.0.1:1/webhooks/8x8/"
    code, out, err = await run_example(["-m", f"examples.{package}"], environment)
    print(f"$ python -m examples.{package}   (exit {code})\n{err}")
    assert code == 2
    assert out == ""
    for name in (
        "EIGHTXEIGHT_API_KEY",
        "EIGHTXEIGHT_SUBACCOUNT_ID",
        "EIGHTXEIGHT_ACCOUNT_ID",
        "OTP_WEBHOOK_AUTHORIZATION",
    ):
        assert name in err
    assert "Traceback" not in err


async def run_example(
    args: list[str], environment: dict[str, str], timeout: float = LIMIT
) -> tuple[int, str, str]:
    """Run ``python args`` in the repository's root: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()  # ours, by its handle
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def summary(output: str) -> dict[str, int]:
    """The worker's count lines (``accepted   1,972``) as numbers."""
    return {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r"^(\w+)\s+([\d,]+)$", output, flags=re.MULTILINE)
    }


async def test_queue_worker_sends_2000_jobs_and_resumes_without_resending(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """The worker drains 2,000 generated jobs with send_many: 1,972 accepted, 20 rejected by
    8x8 (its test number), 8 invalid (never sent); run again with its job id, it sends nothing."""
    sandbox, _ = phone_sandbox
    environment = {**os.environ, **client_environment(sandbox)}
    journal = tmp_path / "worker.journal"
    command = [
        "examples/queue_worker.py",
        "--generate",
        "2000",
        "--journal",
        str(journal),
        "--job-id",
        "examples-2000",
    ]
    code, out, err = await run_example(command, environment)
    print(f"$ python {' '.join(command)}   (exit {code})\n{out}{err}")
    assert (code, err) == (0, "")
    expected = {
        "pending": 0,
        "in_flight": 0,
        "accepted": 1972,
        "rejected": 20,
        "invalid": 8,
        "unknown": 0,
        "total": 2000,
    }
    assert summary(out) == expected
    assert "job examples-2000" in out
    assert sandbox.state.requests["send_batch"] == 4  # 1,992 valid rows, 500 a request
    assert len(sandbox.state.messages) == 1992
    assert "delivery receipts" not in out  # no --listen: no receipts

    code, again, err = await run_example(command, environment)
    print(f"$ python {' '.join(command)}   (again, exit {code})\n{again}{err}")
    assert (code, err) == (0, "")
    assert summary(again) == expected
    assert "2,000 row(s) stood in the journal" in again
    assert sandbox.state.requests["send_batch"] == 4  # nothing sent twice
    for secret in ("+6591000", "6591000000", "15550100001", "Your parcel"):
        assert secret not in out


async def test_queue_worker_records_delivery_receipts_while_it_sends(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """With --listen, the sandbox's receipts reach the worker's receiver and the journal: every
    accepted row ends delivered or undelivered (its test number), none left awaiting, and each
    REJECTED row's receipt says rejected."""
    sandbox, _ = phone_sandbox
    environment = {
        **os.environ,
        **client_environment(sandbox),
        "WORKER_WEBHOOK_AUTHORIZATION": AUTHORIZATION,
    }
    command = [
        "examples/queue_worker.py",
        "--generate",
        "500",
        "--journal",
        str(tmp_path / "worker.journal"),
        "--listen",
        "127.0.0.1:0",
        "--receipts-wait",
        "60",
    ]
    code, out, err = await run_example(command, environment, timeout=2 * LIMIT)
    print(f"$ python {' '.join(command)}   (exit {code})\n{out}{err}")
    assert (code, err) == (0, "")
    counts = summary(out)
    assert (counts["accepted"], counts["rejected"], counts["invalid"]) == (493, 5, 2)
    assert "receiving delivery receipts at http://127.0.0.1:" in out
    deliveries = out.split("delivery receipts recorded in the journal:")[1]
    assert summary(deliveries) == {
        "delivered": 488,
        "undelivered": 5,
        "rejected": 5,  # 8x8 posts a "rejected" receipt for a message REJECTED at the send
        "awaiting": 0,
    }
    # Every row sent (493 accepted, 5 rejected) had its receipt taken once, at its last attempt.
    # Earlier attempts may have failed when the machine is busy (the sandbox's client gives up
    # after 5 s): the sandbox then retried, as 8x8 does, and the receiver dropped no receipt.
    attempts: dict[str, list[int | None]] = {}
    for umid, _, status in sandbox.state.dlr_attempts:
        attempts.setdefault(umid, []).append(status)
    assert len(attempts) == 498
    assert all(tried[-1] == 200 and tried.count(200) == 1 for tried in attempts.values())
    retried = sum(len(tried) - 1 for tried in attempts.values())
    print(f"(the sandbox posted {len(attempts)} receipts; {retried} attempts were retried)")


async def test_queue_worker_reads_a_csv(
    phone_sandbox: tuple[Sandbox, Handset], tmp_path: Path
) -> None:
    """From a CSV with its own texts: each row's text is the one sent; a bad row is INVALID."""
    sandbox, handset = phone_sandbox
    rows = [("+6591110001", "Parcel A is on its way"), ("+6591110002", ""), ("0000", "bad")]
    path = tmp_path / "jobs.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["destination", "text"])
        writer.writerows(rows)
    command = ["examples/queue_worker.py", "--csv", str(path), "--journal", str(tmp_path / "j")]
    code, out, err = await run_example(command, {**os.environ, **client_environment(sandbox)})
    print(f"$ python {' '.join(command)}   (exit {code})\n{out}{err}")
    assert (code, err) == (0, "")
    assert {k: v for k, v in summary(out).items() if v} == {
        "accepted": 2,
        "invalid": 1,
        "total": 3,
    }
    assert len(sandbox.state.messages) == 2
    assert handset.texts == {
        "+6591110001": ["Parcel A is on its way"],
        "+6591110002": ["Your parcel is on its way."],  # the worker's --text
    }
    assert "row 2: invalid" in out


async def test_queue_worker_names_what_is_missing(tmp_path: Path) -> None:
    """Without the client's variables, the worker lists them and exits 2, sending nothing."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EIGHTXEIGHT")}
    code, out, err = await run_example(
        ["examples/queue_worker.py", "--generate", "5", "--journal", str(tmp_path / "j")],
        environment,
    )
    print(f"$ python examples/queue_worker.py --generate 5   (exit {code})\n{err}")
    assert (code, out) == (2, "")
    assert "EIGHTXEIGHT_API_KEY" in err
    assert "EIGHTXEIGHT_SUBACCOUNT_ID" in err
    assert not (tmp_path / "j").exists()


BASE = {
    "EIGHTXEIGHT_API_KEY": "k",
    "EIGHTXEIGHT_SUBACCOUNT_ID": "s",
    "OTP_WEBHOOK_AUTHORIZATION": AUTHORIZATION,
}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        pytest.param({"OTP_DEMO_CODE": "123456"}, "OTP_DEMO_CODE is for", id="demo-code-for-8x8"),
        pytest.param(
            {"OTP_DEMO_CODE": "12345", "EIGHTXEIGHT_BASE_URL": "https://127.0.0.1:8443"},
            "6 digits",
            id="demo-code-short",
        ),
        pytest.param({"OTP_WEBHOOK_ALLOWED_IPS": "APAC, 10.0.0.300"}, "region", id="bad-ip"),
        pytest.param({"OTP_WEBHOOK_URL": "ftp://x/"}, "http(s) URL", id="bad-url"),
        pytest.param({"OTP_WEBHOOK_AUTHORIZATION": "Basic ü"}, "ASCII", id="non-ascii"),
        pytest.param({"OTP_PORT": "70000"}, "OTP_PORT", id="bad-port"),
    ],
)
def test_otp_settings_refuse_what_would_misbehave(extra: dict[str, str], problem: str) -> None:
    """A demo code outside the sandbox, a bad address, URL, Authorization or port is refused
    with a sentence naming the variable, never echoing the secret."""
    from examples.otp_core import ConfigError, OtpSettings, listen_address

    environ = {**BASE, **extra}

    def start() -> None:
        OtpSettings.from_env(environ)
        listen_address(environ)

    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        start()
    assert AUTHORIZATION not in str(caught.value)


def test_otp_settings_read_a_region_and_hide_secrets() -> None:
    """A region name means 8x8's published addresses; the repr shows no secret."""
    from eightxeight_async.webhooks import WEBHOOK_SOURCE_IPS
    from examples.otp_core import OtpSettings

    settings = OtpSettings.from_env(
        {
            **BASE,
            "OTP_WEBHOOK_ALLOWED_IPS": "eu",
            "OTP_DEMO_CODE": "123456",
            "EIGHTXEIGHT_BASE_URL": "https://localhost:8443",
        }
    )
    assert settings.allowed_ips == WEBHOOK_SOURCE_IPS["EU"]
    assert settings.demo_code == "123456"
    assert AUTHORIZATION not in repr(settings)
    assert "123456" not in repr(settings)
