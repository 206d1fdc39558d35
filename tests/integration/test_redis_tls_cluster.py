"""RedisRateLimiter over TLS (``rediss://``) and on a real three-master Redis Cluster."""

from __future__ import annotations

import logging
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async._redis import RedisRateLimiter, close_redis

from ..redis_support import REDIS_CLI, RedisServer, record_limiter_waits, running_redis, tls_files

pytest.importorskip("redis", reason="the [redis] extra is not installed")
pytestmark = pytest.mark.integration

KEY = "acme_hq:details"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_limiter_waits(monkeypatch)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RedisServer, Path]]:
    cert_path, key_path, ca_path = tls_files(tmp_path)
    with running_redis(tls=(cert_path, key_path, ca_path), password="pw-secret") as server:
        yield server, ca_path


async def test_rediss_with_a_private_ca(
    tls_server: tuple[RedisServer, Path], waits: list[float]
) -> None:
    """rediss:// with the server's CA: buckets shared over TLS."""
    server, ca_path = tls_server
    assert server.url.startswith("rediss://")
    first = RedisRateLimiter.from_url(server.url, ssl_ca_certs=str(ca_path), on_failure="raise")
    second = RedisRateLimiter.from_url(server.url, ssl_ca_certs=str(ca_path), on_failure="raise")
    try:
        await first.acquire(KEY, rate=0.01, burst=1)
        await second.acquire(KEY, rate=0.01, burst=1)
    finally:
        await first.aclose()
        await second.aclose()
    assert len(waits) == 1
    assert 99 < waits[0] <= 100.001
    assert "pw-secret" not in repr(first)
    assert repr(first).startswith("<RedisRateLimiter rediss://:***@127.0.0.1:")


async def test_rediss_checks_the_certificate(
    tls_server: tuple[RedisServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Without the CA the certificate is refused: the fallback, with one warning saying so."""
    server, _ = tls_server
    caplog.set_level(logging.WARNING, logger="eightxeight_async.redis")
    limiter = RedisRateLimiter.from_url(server.url, timeout=5)
    try:
        await limiter.acquire(KEY, rate=1.0, burst=1)
        assert limiter.fallback_active
    finally:
        await limiter.aclose()
    [warning] = caplog.records
    assert "certificate" in warning.getMessage().lower()
    assert "pw-secret" not in warning.getMessage()


# --- Redis Cluster -------------------------------------------------------------------------------


def _cluster_ports(count: int) -> list[int]:
    """Ports whose cluster-bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 29999)
        if port in ports:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        ports.append(port)
    return ports


@pytest.fixture
def cluster() -> Iterator[list[RedisServer]]:
    """Three masters, slots spread by ``redis-cli --cluster create``."""
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    servers: list[RedisServer] = []
    try:
        for port in _cluster_ports(3):
            server = RedisServer(
                extra=("--cluster-enabled", "yes", "--cluster-node-timeout", "5000")
            )
            server.port = port
            server.extra += ("--cluster-config-file", str(server.dir / "nodes.conf"))
            servers.append(server.start())
        nodes = [f"127.0.0.1:{s.port}" for s in servers]
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *nodes, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for server in servers:  # every node agrees the cluster is up (waited for, not timed)
            for _ in range(300):
                info = subprocess.run(
                    [REDIS_CLI, "-p", str(server.port), "cluster", "info"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=True,
                ).stdout
                if "cluster_state:ok" in info:
                    break
                subprocess.run(["sleep", "0.1"], check=True)
            else:
                pytest.fail(f"the cluster did not come up: {info}")
        yield servers
    finally:
        for server in servers:
            server.cleanup()


async def test_a_real_cluster(cluster: list[RedisServer], waits: list[float]) -> None:
    """Buckets on every master; the script loaded on each by its first NOSCRIPT; pauses hold."""
    from redis.asyncio import RedisCluster

    url = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=true"
    first = RedisRateLimiter.from_url(url, on_failure="raise", timeout=5)
    second = RedisRateLimiter.from_url(url, on_failure="raise", timeout=5)
    owners = [f"sub_{n:03d}" for n in range(30)]
    try:
        for owner in owners:
            await first.acquire(f"{owner}:details", rate=0.01, burst=1)
            await second.acquire(f"{owner}:details", rate=0.01, burst=1)
        assert len(waits) == len(owners)
        assert all(99 < w <= 100.001 for w in waits)
        await first.pause("sub_000:sends", 50.0)
        await second.acquire("sub_000:sends", rate=1.0, burst=1)
        assert 49 < waits[-1] <= 50.001
    finally:
        await first.aclose()
        await second.aclose()
    client = RedisCluster.from_url(f"redis://127.0.0.1:{cluster[0].port}/0")
    try:
        await client.initialize()
        holding = 0
        for node in client.get_primaries():
            keys = await client.execute_command("KEYS", "eightxeight:rl:*", target_nodes=node)
            holding += bool(keys)
        assert holding == 3  # the buckets spread over the three masters
    finally:
        await close_redis(client)
