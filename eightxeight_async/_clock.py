"""The SDK's one way to wait and to read the time, so that tests can make waits instant.

Two things live here:

- The no-backoff mode (:func:`testing_mode`, public as ``testing.retry_without_waiting``): every
  retry wait and rate-limit pause returns at once, and with ``skip_rate_limiter=True`` (the
  ``sms_mock`` fixture's) the client-side rate limiter's waits too; the waits are recorded, in
  order.
- Time that a test can move (:func:`now`, :func:`call_at`, :func:`call_later`,
  :func:`advance`): the event loop's clock plus an offset per loop that only
  ``SmsMock.advance`` changes. A ``DeliveryTracker`` reads its time and arms its timers here, so
  a test moves its timeouts and late-receipt polls with the mock's clock. In production the
  offset is 0 and nothing but a dict lookup of an empty dict is added.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "Timer",
    "advance",
    "call_at",
    "call_later",
    "limiter_waits",
    "now",
    "pauses_skipped",
    "skip_limiter_wait",
    "sleep",
    "testing_mode",
]


class _NoBackoff:
    """One no-backoff mode: the waits it skipped."""

    __slots__ = ("limiter", "retries", "skip_rate_limiter")

    def __init__(self, skip_rate_limiter: bool) -> None:
        self.retries: list[float] = []
        self.limiter: list[float] = []
        self.skip_rate_limiter = skip_rate_limiter


_mode: _NoBackoff | None = None


@contextmanager
def testing_mode(*, skip_rate_limiter: bool = False) -> Iterator[list[float]]:  # noqa: PT028 (not a test)
    """Skip every retry wait and rate-limit pause, recording the retry waits instead.

    Args:
        skip_rate_limiter: Skip the client-side rate limiter's waits too (its clock jumps over
            them, so tokens are still handed out in order and counted; :func:`limiter_waits`
            lists them). Only against a server that does not enforce 8x8's limits, such as
            ``SmsMock``: the sandbox and 8x8 answer a call past them with 429.

    Yields:
        The list that receives, in order, each wait the retry loop would have slept.
    """
    global _mode
    previous = _mode
    mode = _mode = _NoBackoff(skip_rate_limiter)
    try:
        yield mode.retries
    finally:
        _mode = previous


def pauses_skipped() -> bool:
    """Whether testing mode is on, so that rate-limit pauses must not hold anyone."""
    return _mode is not None


def retry_waits() -> list[float] | None:
    """The retry waits recorded by the no-backoff mode in effect; None when it is off."""
    return None if _mode is None else _mode.retries


def limiter_waits() -> list[float] | None:
    """The rate-limiter waits skipped by the no-backoff mode in effect; None when it is off."""
    return None if _mode is None else _mode.limiter


def skip_limiter_wait(seconds: float) -> bool:
    """In testing mode, record a rate-limiter wait and say that it must be skipped."""
    if _mode is None or not _mode.skip_rate_limiter:
        return False
    _mode.limiter.append(seconds)
    return True


async def sleep(seconds: float, *, record: bool = True) -> None:
    """Sleep, or in testing mode record the wait (when ``record``) and return at once."""
    if _mode is not None:
        if record:
            _mode.retries.append(seconds)
        await asyncio.sleep(0)  # still a checkpoint, so cancellation behaves as in production
        return
    await asyncio.sleep(seconds)


# --- time a test can move ---------------------------------------------------------------------

# Seconds each loop's time is ahead of its own clock (only tests move it), and the timers armed
# through call_at on each loop, so that advance() can bring them forward.
_offsets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = weakref.WeakKeyDictionary()
_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[Timer]] = (
    weakref.WeakKeyDictionary()
)


def _offset(loop: asyncio.AbstractEventLoop) -> float:
    if not _offsets:
        return 0.0
    try:
        return _offsets.get(loop, 0.0)
    except TypeError:  # a loop class that takes no weak reference: never advanced
        return 0.0


def now(loop: asyncio.AbstractEventLoop) -> float:
    """``loop``'s time, as far as the SDK's timeouts are concerned (see :func:`advance`)."""
    if _offsets:
        return loop.time() + _offset(loop)
    return loop.time()


class Timer:
    """A callback due at a time of :func:`now`; :func:`advance` brings it forward."""

    __slots__ = ("_args", "_callback", "_handle", "_loop", "_when")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
    ) -> None:
        self._loop = loop
        self._when = when
        self._callback = callback
        self._args = args
        self._handle = loop.call_at(when - _offset(loop), self._fire)
        try:
            timers = _timers.get(loop)
            if timers is None:
                timers = _timers[loop] = set()
        except TypeError:  # a loop class that takes no weak reference: a plain timer
            return
        timers.add(self)

    def _rearm(self) -> None:
        self._handle.cancel()
        self._handle = self._loop.call_at(self._when - _offset(self._loop), self._fire)

    def _fire(self) -> None:
        self._forget()
        self._callback(*self._args)

    def _forget(self) -> None:
        try:
            timers = _timers.get(self._loop)
        except TypeError:
            return
        if timers is not None:
            timers.discard(self)

    def cancel(self) -> None:
        """Do not run the callback."""
        self._handle.cancel()
        self._forget()


def call_at(
    loop: asyncio.AbstractEventLoop, when: float, callback: Callable[..., object], *args: Any
) -> Timer:
    """Run ``callback(*args)`` on ``loop`` once :func:`now` reaches ``when``."""
    return Timer(loop, when, callback, args)


def call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: Any
) -> Timer:
    """Run ``callback(*args)`` on ``loop`` ``delay`` seconds of :func:`now` from now."""
    return Timer(loop, now(loop) + delay, callback, args)


def advance(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Move ``loop``'s :func:`now` ``seconds`` forward; timers that fell due run soon, in order.

    Only tests call it (``SmsMock.advance``); call it on ``loop``'s thread.
    """
    _offsets[loop] = _offsets.get(loop, 0.0) + seconds
    for timer in list(_timers.get(loop, ())):
        timer._rearm()
