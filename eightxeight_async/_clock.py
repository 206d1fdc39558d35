"""The SDK's one way to wait, so that tests can make every backoff and pause instant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["pauses_skipped", "sleep", "testing_mode"]

_recorded: list[float] | None = None


@contextmanager
def testing_mode() -> Iterator[list[float]]:
    """Skip every retry wait and rate-limit pause, recording the retry waits instead.

    Yields:
        The list that receives, in order, each wait the retry loop would have slept.
    """
    global _recorded
    previous = _recorded
    waits: list[float] = []
    _recorded = waits
    try:
        yield waits
    finally:
        _recorded = previous


def pauses_skipped() -> bool:
    """Whether testing mode is on, so that rate-limit pauses must not hold anyone."""
    return _recorded is not None


async def sleep(seconds: float, *, record: bool = True) -> None:
    """Sleep, or in testing mode record the wait (when ``record``) and return at once."""
    if _recorded is not None:
        if record:
            _recorded.append(seconds)
        await asyncio.sleep(0)  # still a checkpoint, so cancellation behaves as in production
        return
    await asyncio.sleep(seconds)
