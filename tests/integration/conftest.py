"""Fixtures that start the sandbox on a free port over TLS 1.3, and stop it after each test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Sandbox


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
