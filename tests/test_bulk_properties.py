"""Property: whatever the chunk outcomes and their interleaving, the journal stays consistent.

Every row yielded once with the state the journal holds, nothing left IN_FLIGHT, rows never taken
absent from the journal; and a rerun sends exactly the rows never sent, never one twice.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from eightxeight_async._errors import (
    APIConnectionError,
    ResponseValidationError,
    SendOutcomeUnknownError,
)
from eightxeight_async.bulk import Journal, RowState

from .bulk_support import FakeBatches, collect, collect_until_error, rows, runner, status_error
from .isolated_loop import run_isolated

OUTCOMES = {
    "ok": None,
    "unknown": lambda: SendOutcomeUnknownError(client_batch_id="b"),
    "garbled": lambda: ResponseValidationError("bad", path="$"),
    "refused-400": lambda: status_error(400, 1002),
    "refused-conn": lambda: APIConnectionError("refused"),  # stops the job
    "gateway-502": lambda: status_error(502),  # stops the job
}


class ShuffledBatches(FakeBatches):
    """Requests end in an order hypothesis picks: each waits for a number of loop turns."""

    def __init__(self, plan: dict[int, BaseException], delays: list[int]) -> None:
        super().__init__(plan)
        self.delays = delays

    async def __call__(self, request):  # type: ignore[no-untyped-def]
        index = len(self.requests)
        for _ in range(self.delays[index % len(self.delays)]):
            await asyncio.sleep(0)
        return await super().__call__(request)


async def scenario(
    directory: Path,
    total: int,
    bad: set[int],
    chunk_size: int,
    concurrency: int,
    kinds: list[str],
    delays: list[int],
) -> None:
    path = directory / "j.db"
    plan: dict[int, BaseException] = {}
    for index, kind in enumerate(kinds):
        make = OUTCOMES[kind]
        if make is not None:
            plan[index] = make()
    send = ShuffledBatches(plan, delays)
    send.rejected = {f"job-{row}" for row in range(0, total, 7)}
    source = rows(total, bad=bad)
    run = runner(source, send, journal=path, chunk_size=chunk_size, concurrency=concurrency)
    yielded, raised = await collect_until_error(run)
    assert raised is None or raised in plan.values()
    first_sent = send.sent_ids
    assert len(first_sent) == len(set(first_sent))
    by_row = {r.row: r for r in yielded}
    assert len(by_row) == len(yielded)  # each row at most once
    with Journal(path) as journal:
        stored = {r.row: r for r in journal.rows("job")}
    assert RowState.IN_FLIGHT not in {r.state for r in stored.values()}
    assert set(stored) == set(by_row)  # a row never yielded was never recorded
    for row, result in by_row.items():
        assert stored[row].state is result.state
        assert stored[row].umid == result.umid
        if result.state is RowState.INVALID:
            assert row in bad
    # The rerun, with every request answered: only rows PENDING or never taken are sent.
    owed = {f"job-{row}" for row in range(total) if row not in bad} - {
        r.client_message_id for r in stored.values() if r.state is not RowState.PENDING
    }
    again = FakeBatches()
    results = await collect(
        runner(source, again, journal=path, chunk_size=chunk_size, concurrency=concurrency)
    )
    assert sorted(again.sent_ids) == sorted(owed)
    assert not set(again.sent_ids) & set(first_sent) - {
        r.client_message_id for r in stored.values() if r.state is RowState.PENDING
    }
    assert sorted(r.row for r in results) == list(range(total))
    with Journal(path) as journal:
        summary = journal.summary("job")
    assert summary[RowState.PENDING] == summary[RowState.IN_FLIGHT] == 0
    assert sum(summary.values()) == total


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 60),
    bad=st.sets(st.integers(0, 59), max_size=6),
    chunk_size=st.integers(1, 12),
    concurrency=st.integers(1, 4),
    kinds=st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=1, max_size=12),
    delays=st.lists(st.integers(0, 5), min_size=1, max_size=8),
)
def test_any_interleaving_of_chunk_outcomes_leaves_the_journal_consistent(
    total: int,
    bad: set[int],
    chunk_size: int,
    concurrency: int,
    kinds: list[str],
    delays: list[int],
) -> None:
    """Whatever each request ends with, and in whatever order, journal and results agree."""
    with tempfile.TemporaryDirectory() as directory:
        # In a thread of its own: asyncio.run() here would drop pytest-asyncio's loop unclosed.
        run_isolated(scenario(Path(directory), total, bad, chunk_size, concurrency, kinds, delays))
