"""One benchmark run: one client kind, one concurrency, in its own process; prints JSON.

Usage: python benchmarks/client.py KIND CONCURRENCY REQUESTS BASE_URL CA_PATH
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

SUBACCOUNT = "bench_hq"
PATH = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
BODY = {"destination": "+6591234567", "text": "Your code is 123456", "clientMessageId": "b1"}
HEADERS = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}


def tls13(ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


async def make_sender(
    kind: str, base: str, ca: str
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    """Return (one request, close) for a client kind."""
    url = base + PATH
    payload = json.dumps(BODY).encode()
    if kind in ("httpx", "httpx-sdk-pool", "httpx-aiohttp"):
        from eightxeight_async._config import DEFAULT_LIMITS

        if kind == "httpx":
            client = httpx.AsyncClient(verify=tls13(ca))
        elif kind == "httpx-sdk-pool":
            client = httpx.AsyncClient(verify=tls13(ca), limits=DEFAULT_LIMITS)
        else:
            from httpx_aiohttp import AiohttpTransport

            client = httpx.AsyncClient(
                transport=AiohttpTransport(verify=tls13(ca), limits=DEFAULT_LIMITS)
            )

        async def send() -> Any:
            response = await client.post(url, content=payload, headers=HEADERS)
            response.raise_for_status()
            return response.json()

        return send, client.aclose
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls13(ca), limit=100))

        async def send_aiohttp() -> Any:
            async with session.post(url, data=payload, headers=HEADERS) as response:
                response.raise_for_status()
                return await response.json()

        return send_aiohttp, session.close
    if kind in ("sdk", "sdk-aiohttp"):
        from eightxeight_async import AsyncSmsClient, RateLimits

        # BENCH_MAX_CONNECTIONS overrides the SDK's pool size (its default otherwise).
        pool_size: dict[str, Any] = {}
        if "BENCH_MAX_CONNECTIONS" in os.environ:
            pool_size["max_connections"] = int(os.environ["BENCH_MAX_CONNECTIONS"])

        sms = AsyncSmsClient(
            api_key="bench-key",
            subaccount_id=SUBACCOUNT,
            base_url=base,
            verify=ca,
            # The limiter still runs on every request; only its ceiling is lifted.
            rate_limits=RateLimits.unlimited(),
            transport="aiohttp" if kind == "sdk-aiohttp" else "httpx",
            **pool_size,
        )

        async def send_sdk() -> Any:
            return await sms.send_sms(
                destination="+6591234567", text="Your code is 123456", client_message_id="b1"
            )

        return send_sdk, sms.aclose
    raise SystemExit(f"unknown kind {kind}")


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values: right for a small --requests too."""
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


async def main(kind: str, concurrency: int, total: int, base: str, ca: str) -> dict[str, Any]:
    send, close = await make_sender(kind, base, ca)
    latencies: list[float] = []
    remaining = 0

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - started)

    # Warm-up: open the connections and fill caches before anything is measured.
    remaining = max(200, concurrency * 4)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    remaining = total
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    await close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    latencies.sort()
    return {
        "kind": kind,
        "concurrency": concurrency,
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_us_per_req": cpu / len(latencies) * 1e6,
        "peak_rss_mb": usage1.ru_maxrss / 1024,
    }


if __name__ == "__main__":
    kind, concurrency, total, base, ca = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(kind, int(concurrency), int(total), base, ca))))
