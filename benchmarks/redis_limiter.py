"""Acquire cost: the in-process limiter against RedisRateLimiter, and a raw PING in the same run.

    python benchmarks/redis_limiter.py [--url redis://host:6379/0] [--n 5000] [--json]

Without ``--url`` it starts its own ``redis-server`` on a free 127.0.0.1 port (no persistence)
and stops it at the end. Limits are set so high that no acquire waits: what is measured is the
cost of taking a token. Reported per limiter: microseconds per acquire one at a time (median and
mean), Redis commands per acquire (from ``INFO commandstats``: round trips), and acquires per
second per core: concurrent acquires (64 tasks) divided by this process's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from eightxeight_async import InProcessRateLimiter
from eightxeight_async._redis import RedisRateLimiter, close_redis

RATE = 1e9
BURST = 10**9
TASKS = 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def one_at_a_time(op: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    for _ in range(min(n // 10, 500)):  # warm up: connections, the script cache
        await op()
    samples = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        await op()
        samples.append((clock() - start) * 1e6)
    return samples


async def concurrent(op: Callable[[], Awaitable[Any]], n: int) -> dict[str, float]:
    per_task = max(1, n // TASKS)

    async def task() -> None:
        for _ in range(per_task):
            await op()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task() for _ in range(TASKS)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_task * TASKS
    return {"per_core_per_s": done / cpu, "wall_per_s": done / wall}


async def script_calls(client: Any) -> int:
    """EVALSHA and EVAL calls so far: one each is one round trip (the commands the script runs
    inside Redis, TIME HMGET HSET PEXPIRE, are counted by commandstats too, but are not trips)."""
    stats = await client.info("commandstats")
    return sum(int(stats.get(k, {}).get("calls", 0)) for k in ("cmdstat_evalsha", "cmdstat_eval"))


async def server_cpu(client: Any) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(url: str, n: int) -> dict[str, Any]:
    client = aioredis.from_url(url)
    results: dict[str, Any] = {}
    ping = await one_at_a_time(client.ping, n)
    results["redis PING"] = {
        "us_median": statistics.median(ping),
        "us_mean": statistics.fmean(ping),
        "round_trips": 1.0,
        **await concurrent(client.ping, n * 4),
    }
    local = InProcessRateLimiter()

    async def local_acquire() -> None:
        await local.acquire("bench:sends", rate=RATE, burst=BURST)

    times = await one_at_a_time(local_acquire, n * 10)
    results["in-process acquire"] = {
        "us_median": statistics.median(times),
        "us_mean": statistics.fmean(times),
        "round_trips": 0.0,
        **await concurrent(local_acquire, n * 40),
    }
    limiter = RedisRateLimiter.from_url(url, prefix="bench:")

    async def redis_acquire() -> None:
        await limiter.acquire("bench:sends", rate=RATE, burst=BURST)

    await redis_acquire()
    before = await script_calls(client)
    times = await one_at_a_time(redis_acquire, n)
    after = await script_calls(client)
    cpu = await server_cpu(client)
    loaded = await concurrent(redis_acquire, n * 4)
    cpu = await server_cpu(client) - cpu
    results["RedisRateLimiter acquire"] = {
        "us_median": statistics.median(times),
        "us_mean": statistics.fmean(times),
        # the warm-up calls of one_at_a_time count too
        "round_trips": (after - before) / (n + min(n // 10, 500)),
        **loaded,
        "redis_server_per_core_per_s": (TASKS * max(1, n * 4 // TASKS)) / cpu if cpu else None,
    }
    assert not limiter.fallback_active, "Redis failed during the run"
    await limiter.aclose()
    await close_redis(client)
    return results


def start_server() -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        msg = "redis-server is not installed; pass --url"
        raise SystemExit(msg)
    port = free_port()
    folder = tempfile.mkdtemp(prefix="eightxeight-bench-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0", folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="an existing Redis (default: start one)")
    parser.add_argument("--n", type=int, default=5000, help="acquires one at a time")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    process = folder = None
    url = args.url
    if url is None:
        process, url, folder = start_server()
    try:
        results = asyncio.run(measure(url, args.n))
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
        return
    print(
        f"{'':28} {'µs median':>10} {'µs mean':>9} {'trips':>6} {'/s per core':>12} {'/s wall':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:28} {r['us_median']:10.1f} {r['us_mean']:9.1f} {r['round_trips']:6.2f} "
            f"{r['per_core_per_s']:12,.0f} {r['wall_per_s']:10,.0f}"
        )
    served = results["RedisRateLimiter acquire"]["redis_server_per_core_per_s"]
    if served:
        print(f"redis-server: {served:,.0f} acquires per CPU second of its own")


if __name__ == "__main__":
    main()
