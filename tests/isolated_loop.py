"""Run a coroutine with asyncio.run() in a thread of its own, from a synchronous test.

asyncio.run() in the test's own thread ends with set_event_loop(None), dropping the loop
pytest-asyncio keeps there; on the lowest pytest-asyncio we allow nothing else refers to it, so
it is collected unclosed and its self-pipe surfaces as a ResourceWarning in a later test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


def run_isolated(coro: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run(coro) in a worker thread; its result or exception comes back here."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
