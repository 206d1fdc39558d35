"""A bulk job in its own process, for the SIGKILL test: send_many + Journal against the sandbox.

Usage: ``python bulk_crash_driver.py SETTINGS_JSON``. The settings name the sandbox
(``client``: the client's keyword arguments), the ``journal``, the ``job_id``, ``rows``,
``chunk_size``, ``concurrency``, and at most one place to stop and wait to be killed:

- ``pause_after``: after taking that many results, write the file ``signal`` and wait forever
  (with ``concurrency=1`` no other chunk is in flight: a kill between chunks);
- ``hold_request``: when that batch request (1-based, of this run) is about to leave, after its
  rows were committed IN_FLIGHT, write ``signal`` and wait forever (a kill before the bytes left);
- none: run to the end, and print the counts as one JSON line.

The rows are the same on every run: row ``i`` goes to ``+6591`` and 6 digits of ``i``; every
50th row (from row 7) has an invalid destination and is never sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async.bulk import Journal


def crash_rows(total: int) -> Iterator[dict[str, Any]]:
    """The job's input, generated lazily, identical on every run."""
    for row in range(total):
        destination = "12" if row % 50 == 7 else f"+6591{row:06d}"
        yield {"destination": destination, "text": f"Row {row} of the crash test"}


async def wait_to_be_killed(signal: str) -> None:
    Path(signal).write_text("waiting")  # noqa: ASYNC240 (the test waits for this file)
    await asyncio.Event().wait()


class DriverClient(AsyncSmsClient):
    """The client, able to hold one batch request just before it leaves."""

    hold_request = 0
    signal = ""
    batches = 0

    async def _call(self, op: Any, **kwargs: Any) -> Any:
        if op.name == "send_batch":
            self.batches += 1
            if self.batches == self.hold_request:
                await wait_to_be_killed(self.signal)
        return await super()._call(op, **kwargs)


async def main(settings: dict[str, Any]) -> None:
    limits = RateLimits(send_per_second=1e6, send_burst=10**6)
    client = DriverClient(**settings["client"], rate_limits=limits, timeout=60)
    async with client:
        client.hold_request = settings.get("hold_request", 0)
        client.signal = settings.get("signal", "")
        pause_after = settings.get("pause_after", 0)
        with Journal(settings["journal"]) as journal:
            run = client.send_many(
                crash_rows(settings["rows"]),
                job_id=settings["job_id"],
                journal=journal,
                chunk_size=settings["chunk_size"],
                concurrency=settings["concurrency"],
            )
            taken = 0
            async for _ in run:
                taken += 1
                if taken == pause_after:
                    await wait_to_be_killed(settings["signal"])
            counts = {state.value: count for state, count in run.counts.items()}
            print(json.dumps({"recovered": run.recovered, "counts": counts}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
