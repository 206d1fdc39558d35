"""The process that holds a journal while another records receipts in it (the two-process test).

Usage: ``python -m tests.bulk_receipts_driver JOURNAL ROWS FOLDER``. It opens JOURNAL as its
holder, writes ``FOLDER/ready``, waits for ``FOLDER/go``, runs job ``job`` over ROWS rows through a
fake batch endpoint (chunks of 10, two in flight), each request waiting until every row accepted so
far has its receipt (so that the two processes' writes interleave, whatever the machine's speed),
then prints the delivery summary as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from eightxeight_async._models_batch import BatchRequest, BatchResponse
from eightxeight_async.bulk import Journal

from .bulk_support import FakeBatches, collect, rows, runner

#: A guard against a hung test, not a measurement.
LIMIT = 60.0


async def wait_for(check: object) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not check():  # type: ignore[operator]
        if loop.time() > deadline:
            sys.exit("gave up waiting")
        await asyncio.sleep(0.01)


async def main(path: str, count: int, folder: Path) -> None:
    with Journal(path) as journal:
        (folder / "ready").write_text("holding")
        await wait_for((folder / "go").exists)
        fake = FakeBatches()

        async def send(request: BatchRequest) -> BatchResponse:
            await wait_for(lambda: journal.delivery_summary("job").awaiting == 0)
            return await fake(request)

        results = await collect(runner(rows(count), send, journal=journal, chunk_size=10))
        await wait_for(lambda: journal.delivery_summary("job").awaiting == 0)
        summary = journal.delivery_summary("job")
        states = {r.row: str(r.delivery) for r in journal.rows("job")}
        print(
            json.dumps(
                {
                    "results": len(results),
                    "delivered": summary.delivered,
                    "undelivered": summary.undelivered,
                    "states": states,
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
