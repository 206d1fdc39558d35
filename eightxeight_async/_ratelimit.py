"""Client-side rate limiting: the buckets, what a 429 does, the limiter protocol and backend.

This is the only module that knows buckets. Each operation names its :class:`Bucket` in
``_operations``; :func:`bucket_for` turns that and the call's subaccount (or account) into the
bucket's key and its rate and burst from :class:`RateLimits`:

- ``SENDS``: ``"{subaccount}:sends"``, ``send_per_second`` / ``send_burst``. 8x8 counts 1800
  requests/s per subaccount; every subaccount operation but ``get_message`` draws from it.
- ``DETAILS``: ``"{subaccount}:details"``, ``details_per_second`` / ``details_burst``: 8x8 allows
  ``get_message`` 1 request/s per subaccount.
- ``ACCOUNT``: ``"{account id}:account"``, ``account_per_second`` / ``account_burst``, for the
  account operations (prices, balance, webhooks), which 8x8 limits per account.

The client takes one token per *attempt*, inside the retry loop, so retries are limited too. A
429 with ``Retry-After`` pauses the whole bucket (:func:`on_rate_limited`), capped at
``RetryPolicy.max_retry_after``: every call queued on it waits, not only the one that met it.
"""

from __future__ import annotations

import asyncio
import enum
import math
from typing import Protocol, runtime_checkable

import attrs

from ._clock import now as clock_now
from ._clock import pauses_skipped, skip_limiter_wait
from ._config import RateLimits, RetryPolicy
from ._errors import RateLimitError, ValidationError

__all__ = [
    "Bucket",
    "BucketPlan",
    "InProcessRateLimiter",
    "RateLimiter",
    "bucket_for",
    "on_rate_limited",
]


class Bucket(enum.Enum):
    """Which of 8x8's rate limits an operation counts against (see the module's docstring)."""

    SENDS = "sends"
    """Per subaccount: sending, feedback, cancels, exports; 1800 requests/s by default."""
    DETAILS = "details"
    """Per subaccount: ``get_message``, 1 request/s."""
    ACCOUNT = "account"
    """Per account: prices, balance and webhooks."""


@attrs.frozen
class BucketPlan:
    """One call's bucket: its key and limits, worked out once per call."""

    key: str
    """The limiter's key, e.g. ``"acme_hq:details"``."""
    rate: float
    """Tokens per second."""
    burst: int
    """Tokens the bucket holds."""


def bucket_for(bucket: Bucket, owner: str, limits: RateLimits) -> BucketPlan:
    """The key, rate and burst of ``bucket`` for one subaccount or account.

    Args:
        bucket: The operation's bucket.
        owner: The subaccount id (``SENDS``, ``DETAILS``) or account id (``ACCOUNT``); neither
            can hold a ``:`` (their rules forbid it), so keys never collide.
        limits: The client's limits.
    """
    if bucket is Bucket.DETAILS:
        rate, burst = limits.details_per_second, limits.details_burst
    elif bucket is Bucket.ACCOUNT:
        rate, burst = limits.account_per_second, limits.account_burst
    else:
        rate, burst = limits.send_per_second, limits.send_burst
    return BucketPlan(f"{owner}:{bucket.value}", rate, burst)


async def on_rate_limited(
    limiter: RateLimiter, plan: BucketPlan, error: RateLimitError, policy: RetryPolicy
) -> float:
    """What a 429 does to its bucket: pause it for ``Retry-After``, capped by the policy.

    Without ``Retry-After`` nothing is paused; the retry's own backoff spaces the next attempt.

    Returns:
        The seconds the bucket was paused for (0 for none), for tracing.
    """
    if not error.retry_after:
        return 0.0
    seconds = min(error.retry_after, policy.max_retry_after)
    await limiter.pause(plan.key, seconds)
    return seconds


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter backend (in-process, or Redis for fleets).

    The client awaits :meth:`acquire` before every attempt of every request (retries included),
    calls :meth:`pause` when 8x8 answers 429 with ``Retry-After``, and awaits :meth:`aclose` when
    it closes a limiter it created itself (a limiter passed in is left to its owner).
    """

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


class _Bucket:
    """One bucket, as GCRA (the "virtual scheduling" form of a token bucket).

    ``tat`` is the theoretical arrival time: the bucket is full (empty of debt) once the clock
    passes it. A caller's slot is ``max(now, tat - tolerance)``; each slot pushes ``tat`` on by
    one interval. Slots are handed out in arrival order at once, so waiting costs one timer per
    caller and no bookkeeping when the bucket has room.
    """

    __slots__ = (
        "burst",
        "interval",
        "issued",
        "paused_until",
        "rate",
        "shifted",
        "tat",
        "tolerance",
        "waiters",
    )

    def __init__(self, now: float) -> None:
        self.rate = 0.0  # set by the first acquire (a bucket made by pause() has none yet)
        self.burst = 0
        self.interval = 0.0
        self.tolerance = 0.0
        self.tat = now
        self.paused_until = 0.0
        # The total that pauses have moved every outstanding slot by: a caller compares it with
        # the value it saw when it took its slot, and moves its own slot by the difference.
        self.shifted = 0.0
        self.waiters = 0
        self.issued = 0  # slots handed out, to tell whether a cancelled one was the last

    def idle(self, now: float) -> bool:
        """Whether the bucket is back to the state a new one would have (safe to forget)."""
        return self.waiters == 0 and self.tat <= now and self.paused_until <= now

    def configure(self, rate: float, burst: int, now: float) -> None:
        """Set the bucket's limits (refusing ones that cannot work)."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
            raise ValidationError("rate", "a finite number of requests per second above 0")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValidationError("burst", "an integer of at least 1")
        self.rate = rate
        self.burst = burst
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        if self.paused_until > now:
            # Made by pause() before any acquire: resume at the steady rate, as pause() does.
            self.tat = max(self.tat, self.paused_until + self.tolerance)


#: Buckets are swept for idle ones when the dict grows past this (and past twice the live count)...
SWEEP_THRESHOLD = 256
#: ...and at most this often (seconds) while the limiter is in use, so that a burst of one-off
#: subaccounts is forgotten once it has passed.
SWEEP_INTERVAL = 1.0


class InProcessRateLimiter:
    """Token buckets held in this process; the default backend.

    Callers leave in arrival order, one interval (``1 / rate``) apart once the burst is used. A
    :meth:`pause` moves every waiting caller back by the pause, and the bucket resumes at its
    steady rate, without a burst: callers queued behind a 429 leave one interval apart, rather
    than together. Idle buckets are forgotten, so one client serving many subaccounts holds state
    only for those that are busy.

    The limiter follows the event loop it is used in: used from another loop, it starts afresh.

    In the no-backoff mode (``eightxeight_async.testing``) a caller that would wait does not:
    the limiter's own clock jumps to its slot, so the tokens are still handed out in order and
    counted as if the time had passed, and the skipped wait is recorded.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_sweep = SWEEP_THRESHOLD
        self._sweep_at = 0.0
        # Seconds this limiter's clock is ahead of the SDK's (_clock.now, which a test's
        # SmsMock.advance moves): the waits the no-backoff mode skipped. It only grows.
        self._skew = 0.0

    def _clock(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Times of one loop mean nothing on another (each may have its own clock).
            self._buckets.clear()
            self._sweep_at = 0.0
            self._skew = 0.0
            self._loop = loop
        return loop

    def _sweep(self, now: float) -> None:
        buckets = self._buckets
        for key in [k for k, b in buckets.items() if b.idle(now)]:
            del buckets[key]
        # Amortised O(1) per new bucket: the next sweep waits for as many new buckets as live.
        self._next_sweep = max(SWEEP_THRESHOLD, 2 * len(buckets))
        self._sweep_at = now + SWEEP_INTERVAL

    def _new_bucket(self, key: str, now: float) -> _Bucket:
        if len(self._buckets) >= self._next_sweep:
            self._sweep(now)
        bucket = _Bucket(now)
        self._buckets[key] = bucket
        return bucket

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        """Wait for a slot on ``key`` (after any pause a 429 put on it), then take it.

        Raises:
            ValidationError: When ``rate`` is not a finite number above 0, or ``burst`` not an
                integer of at least 1.
        """
        loop = self._clock()
        now = clock_now(loop) + self._skew
        if now >= self._sweep_at:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._new_bucket(key, now)
            bucket.configure(rate, burst, now)
        elif bucket.rate != rate or bucket.burst != burst:
            bucket.configure(rate, burst, now)
        slot = max(now, bucket.paused_until, bucket.tat - bucket.tolerance)
        bucket.tat = max(bucket.tat, slot) + bucket.interval
        bucket.issued += 1
        if slot <= now:
            return
        if skip_limiter_wait(slot - now):
            # The no-backoff mode: the limiter's time jumps to the slot; the sleep below is then
            # a bare checkpoint, as cancellable as a real wait.
            self._skew += slot - now
        ticket = bucket.issued
        seen = first_seen = bucket.shifted
        bucket.waiters += 1
        try:
            while True:
                await asyncio.sleep(slot - clock_now(loop) - self._skew)
                moved = bucket.shifted - seen
                if moved <= 0:
                    return
                # A pause began after this slot was given: wait it out, keeping the place.
                slot += moved
                seen += moved
        except BaseException:
            # Hand the slot back when no caller was given one after it and no pause moved it.
            if bucket.issued == ticket and bucket.shifted == first_seen:
                bucket.tat -= bucket.interval
            raise
        finally:
            bucket.waiters -= 1

    async def pause(self, key: str, seconds: float) -> None:
        """Pause ``key`` for ``seconds``; an earlier, longer pause is kept."""
        if not seconds > 0 or pauses_skipped():  # NaN included
            return
        loop = self._clock()
        now = clock_now(loop) + self._skew
        until = now + seconds
        bucket = self._buckets.get(key)
        if bucket is None:
            # The bucket may have been forgotten while the request was in flight; the pause
            # must hold all the same. Its rate is set by the next acquire.
            bucket = self._new_bucket(key, now)
        start = max(now, bucket.paused_until)
        if until <= start:
            return
        moved = until - start
        bucket.paused_until = until
        bucket.shifted += moved
        # Every slot already given moves back by the pause, and the bucket resumes full (no
        # burst): the caller that follows the pause waits one interval more for the next one.
        bucket.tat = max(bucket.tat + moved, until + bucket.tolerance)

    async def aclose(self) -> None:
        """Forget every bucket."""
        self._buckets.clear()
        self._next_sweep = SWEEP_THRESHOLD
        self._sweep_at = 0.0
