"""Fixtures that start the sandbox on a free port over TLS 1.3, and stop it after each test.

Every answer any sandbox gives during an integration test is held against 8x8's OpenAPI file
(``openapi_check``): a test whose sandbox answered outside the file fails at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.sandbox._app import build_app

from .openapi_check import answer_problems


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an integration test, marked or not: five files once forgot
    ``pytestmark`` and ran in every unit run (one of them for 90 s)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


class _SendProxy:
    """Wraps uvicorn's ``send``, keeping the ``transport`` the sandbox's drop fault reaches for."""

    def __init__(self, send: Any, seen: Callable[[int, dict[str, str], bytes], None]) -> None:
        self._send = send
        self._seen = seen
        self.transport = getattr(getattr(send, "__self__", None), "transport", None)
        self._status = 0
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
            self._headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self._seen(self._status, self._headers, b"".join(self._chunks))
        await self._send(message)


class ConformanceRecorder:
    """An ASGI wrapper that checks every answer of the app against 8x8's OpenAPI file."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers = 0
        self.problems: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")

        def seen(status: int, headers: dict[str, str], body: bytes) -> None:
            self.answers += 1
            self.problems += answer_problems(scope["method"], raw_path, status, headers, body)

        await self.app(scope, receive, _SendProxy(send, seen).send)


@pytest.fixture(autouse=True)
def openapi_conformance(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ConformanceRecorder]]:
    """Check every answer of every sandbox the test starts; fail the test on any mismatch."""
    recorders: list[ConformanceRecorder] = []

    def recording_build_app(state: Any) -> Any:
        recorders.append(ConformanceRecorder(build_app(state)))
        return recorders[-1]

    monkeypatch.setattr("eightxeight_async.sandbox._server.build_app", recording_build_app)
    yield recorders
    found = [problem for recorder in recorders for problem in recorder.problems]
    if found:
        pytest.fail("The sandbox answered outside 8x8's OpenAPI file:\n" + "\n".join(found[:20]))


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A running sandbox with fast message lifecycles."""
    async with Sandbox(sent_after=0.1, delivered_after=0.2, dlr_retry_scale=0.001) as server:
        server.faults.slow_seconds = 1.0
        yield server


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> TransportTypes:
    """Every integration test runs on both transports."""
    value: TransportTypes = request.param
    return value


@pytest.fixture
async def client(sandbox: Sandbox, transport: TransportTypes) -> AsyncIterator[AsyncSmsClient]:
    """A client for the sandbox; send limits lifted, details at 8x8's 1 request/s."""
    limits = RateLimits(send_per_second=1e6, send_burst=10**6)
    async with AsyncSmsClient(
        **sandbox.client_kwargs(), rate_limits=limits, transport=transport
    ) as sms:
        yield sms


async def eventually(check: Callable[[], bool], *, limit: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail after ``limit`` seconds (a guard, not a measurement)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_http(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app over plain HTTP on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
