"""Real ``redis-server`` processes for the Redis limiter's tests, on free 127.0.0.1 ports.

Each server runs with no persistence (``--save '' --appendonly no``) in a temporary folder, and
is stopped by its PID. Without a ``redis-server`` on the PATH the tests that need one are
skipped, unless ``EIGHTXEIGHT_REQUIRE_REDIS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def need_redis() -> str:
    """The redis-server binary; skip (or fail in CI) when there is none."""
    if REDIS_SERVER is None:
        if os.environ.get("EIGHTXEIGHT_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    return REDIS_SERVER


def tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A trustme CA and a certificate for 127.0.0.1: ``(cert, key, ca)`` files in ``folder``."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = folder / "redis-cert.pem", folder / "redis-key.pem", folder / "redis-ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(paths[0]))
    cert.private_key_pem.write_to_path(str(paths[1]))
    ca.cert_pem.write_to_path(str(paths[2]))
    return paths


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server that a test starts, stops and starts again on the same port.

    Args:
        tls: ``(cert, key, ca)`` file paths: listen with TLS only (``rediss://``).
        password: Require this password (``--requirepass``).
        extra: More command-line arguments (cluster mode, ...).
    """

    def __init__(
        self,
        *,
        tls: tuple[Path, Path, Path] | None = None,
        password: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.binary = need_redis()
        self.port = free_port()
        self.tls = tls
        self.password = password
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix="eightxeight-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL a client connects with (the password in it, when there is one)."""
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it accepts connections (at most 10 s)."""
        args = [self.binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        if self.tls:
            cert, key, ca = self.tls
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
            args += ["--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        args += list(self.extra)
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                msg = f"redis-server exited with {self.process.returncode}: {log}"
                raise RuntimeError(msg)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)
                continue
            return self
        self.stop()
        msg = "redis-server did not listen within 10 s"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the server (SIGTERM to its PID, then SIGKILL) and wait for it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def cleanup(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running_redis(
    *,
    tls: tuple[Path, Path, Path] | None = None,
    password: str | None = None,
) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped and its folder removed on the way out."""
    server = RedisServer(tls=tls, password=password).start()
    try:
        yield server
    finally:
        server.cleanup()


def record_limiter_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep of the Redis limiter, recorded (and yielded to the loop) instead of slept."""
    from eightxeight_async import _redis

    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(_redis, "_sleep", record)
    return recorded


def hold_first_limiter_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[float], list[asyncio.Event], asyncio.Event]:
    """Record the Redis limiter's sleeps; hold the first one until the test wakes it.

    Returns ``(asleep, slept, woken)``: every sleep's length, an event set when the first and
    the second sleep begin, and the event that ends the first sleep.
    """
    from eightxeight_async import _redis

    woken = asyncio.Event()
    asleep: list[float] = []
    slept = [asyncio.Event(), asyncio.Event()]

    async def sleep(seconds: float) -> None:
        asleep.append(seconds)
        if len(asleep) <= len(slept):
            slept[len(asleep) - 1].set()
        if len(asleep) == 1:
            await woken.wait()

    monkeypatch.setattr(_redis, "_sleep", sleep)
    return asleep, slept, woken
