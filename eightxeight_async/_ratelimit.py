"""Client-side rate limiting: the limiter protocol and the in-process limiter.

Buckets are keyed by subaccount and endpoint class (``"sends"`` or ``"details"``), because 8x8
counts its limits per subaccount: 1800 requests/s for sending, 1 request/s for message details.
The client takes one token per *attempt*, inside the retry loop, so retries are limited too.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

import attrs
from aiolimiter import AsyncLimiter

from ._clock import sleep

__all__ = ["InProcessRateLimiter", "RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter backend (in-process, or Redis for fleets)."""

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        """Wait until one request may go out on the bucket ``key``, then take its token.

        Args:
            key: The bucket, e.g. ``"acme_hq:details"``.
            rate: Tokens per second.
            burst: How many tokens the bucket holds.
        """

    async def pause(self, key: str, seconds: float) -> None:
        """Stop every request on ``key`` for ``seconds`` (after 8x8 answered 429)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (connections, timers)."""


@attrs.define
class _Bucket:
    limiter: AsyncLimiter
    loop: asyncio.AbstractEventLoop
    paused_until: float = 0.0


class InProcessRateLimiter:
    """Leaky buckets (aiolimiter) held in this process; the default backend.

    Limiters are created lazily inside the running event loop, on first use of each bucket: an
    ``AsyncLimiter`` binds to the loop it first runs in and must not be shared across loops.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, rate: float, burst: int) -> _Bucket:
        loop = asyncio.get_running_loop()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.loop is not loop:
            # AsyncLimiter(burst, burst / rate) leaks at `rate` per second and holds `burst`:
            # AsyncLimiter(1800, 1) would let 1800 requests out in the same millisecond.
            bucket = _Bucket(AsyncLimiter(burst, burst / rate), loop)
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        """Wait for a token on ``key``, then wait out any pause a 429 put on it."""
        bucket = self._bucket(key, rate, burst)
        await bucket.limiter.acquire()
        # Checked after the token is taken, so requests queued in the limiter when a 429 arrives
        # wait for the pause too.
        # Wait again only when a new 429 extended the pause meanwhile.
        waited_until = 0.0
        while bucket.paused_until > waited_until:
            waited_until = bucket.paused_until
            delay = waited_until - bucket.loop.time()
            if delay > 0:
                await sleep(delay, record=False)

    async def pause(self, key: str, seconds: float) -> None:
        """Pause ``key`` for ``seconds``; an earlier, longer pause is kept."""
        loop = asyncio.get_running_loop()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.loop is not loop:
            return
        bucket.paused_until = max(bucket.paused_until, loop.time() + seconds)

    async def aclose(self) -> None:
        """Forget every bucket."""
        self._buckets.clear()
