"""The sandbox's clock: real time plus an offset that tests move forward, and work due at a time.

Everything in the sandbox that waits (a scheduled message, a delivery receipt, a log export job)
waits on this clock, so ``POST /_sandbox/clock {"advance": 3600}`` (or ``Sandbox.advance``) makes
an hour pass at once: what fell due runs immediately, in due order, and the rest keeps waiting.
Time only moves forward: at most :data:`MAX_ADVANCE` seconds a step and :data:`MAX_OFFSET` in all,
so that every date the sandbox shows stays far from ``datetime``'s year 9999.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["ADVANCE_RULE", "MAX_ADVANCE", "MAX_OFFSET", "SandboxClock"]

#: The most one advance moves the clock: 366 days.
MAX_ADVANCE = 366 * 86_400.0
#: The most the clock can be ahead of the host's in all: 100 such years.
MAX_OFFSET = 100 * MAX_ADVANCE
ADVANCE_RULE = (
    f"a number of seconds from 0 to {MAX_ADVANCE:.0f} (366 days), and at most"
    f" {MAX_OFFSET:.0f} (100 years) ahead of real time in all"
)

_logger = logging.getLogger("eightxeight_async.sandbox")


class SandboxClock:
    """The sandbox's time: the host's clocks plus :attr:`offset` seconds.

    ``mono()`` is the time lifecycles are measured in, ``now()`` the UTC time the sandbox shows
    (``createdAt``, ``scheduled`` checks, export ranges). :meth:`call_at` runs a callback once
    ``mono()`` reaches a time, on the running event loop.

    A ``manual`` clock (``eightxeight_async.testing``'s mock) stands still: only :meth:`advance`
    moves :meth:`mono`, and work is run when it falls due by an advance (or at once when it is
    due already), never by a timer of the host's time.
    """

    def __init__(self, *, manual: bool = False) -> None:
        self.offset = 0.0
        """Seconds the sandbox is ahead of the host's clocks."""
        self._frozen = time.monotonic() if manual else None
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<SandboxClock offset={self.offset:g}s due={len(self._heap)}>"

    def mono(self) -> float:
        """The sandbox's monotonic time, in seconds."""
        base = time.monotonic() if self._frozen is None else self._frozen
        return base + self.offset

    def now(self) -> datetime:
        """The sandbox's current UTC time."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)

    def times(self) -> tuple[datetime, datetime]:
        """``(sandbox time, real time)`` of one instant, in UTC.

        Clients stamp ``scheduled`` and ``expiry`` with their own (real) clock, which an
        :meth:`advance` does not move: those are read against the real time.
        """
        real = datetime.now(timezone.utc)
        return real + timedelta(seconds=self.offset), real

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward and run, in order, whatever fell due.

        Raises:
            ValueError: ``seconds`` is not a number of :data:`ADVANCE_RULE`.
        """
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= MAX_ADVANCE  # False for NaN
            or self.offset + seconds > MAX_OFFSET
        ):
            raise ValueError(ADVANCE_RULE)
        self.offset += seconds
        if self._heap:
            self._fire()

    def call_at(self, due: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once :meth:`mono` reaches ``due`` (at once if it already has).

        Needs a running event loop; the callback runs on it and must not block.
        """
        order = next(self._order)
        heapq.heappush(self._heap, (due, order, callback))
        if self._timer is None or self._heap[0][1] == order:  # nothing armed, or a new first
            self._arm()

    async def sleep_until(self, due: float) -> None:
        """Wait until :meth:`mono` reaches ``due``; an :meth:`advance` past it ends the wait."""
        if due <= self.mono():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not waiter.done():  # a cancelled wait leaves its entry behind, harmlessly
                waiter.set_result(None)

        self.call_at(due, wake)
        await waiter

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of sandbox time."""
        await self.sleep_until(self.mono() + seconds)

    def close(self) -> None:
        """Forget everything still due (the sandbox is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            delay = max(0.0, self._heap[0][0] - self.mono())
            if delay > 0 and self._frozen is not None:
                return  # a manual clock's time moves only with advance(), which fires it
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        current = self.mono()
        while self._heap and self._heap[0][0] <= current:
            _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:  # one broken job must not stop the others
                _logger.exception("A scheduled sandbox job failed")
        self._arm()
