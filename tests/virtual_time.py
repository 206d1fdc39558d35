"""A tiny virtual-time event loop, so that rate-limit tests never wait on the wall clock.

Whenever the loop would block on its selector with a timeout, the clock jumps forward by that
timeout instead. Each reading of the clock also advances it by a nanosecond, as a real clock
would: code that waits again when a float rounding leaves it a hair short of its deadline would
otherwise wait for ever on a frozen clock. Compare times from this loop with a tolerance of about
a millisecond, never exactly.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


class _JumpingSelector:
    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._inner = selectors.DefaultSelector()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._inner.select(None)
        self._loop.now += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps over idle waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        super().__init__(selector=_JumpingSelector(self))  # type: ignore[arg-type]

    def time(self) -> float:
        self.now += 1e-9
        return self.now


def run_virtual(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main()`` to completion on a fresh virtual-time loop, then close the loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
