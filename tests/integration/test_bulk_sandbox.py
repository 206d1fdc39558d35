"""send_many and reconcile against the sandbox, on both transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async._http import TransportTypes
from eightxeight_async.bulk import Journal, RowState, reconcile
from eightxeight_async.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
async def bulk_client(sandbox: Sandbox, transport: TransportTypes) -> AsyncIterator[AsyncSmsClient]:
    """A client for the sandbox on each transport, send limits lifted."""
    limits = RateLimits(send_per_second=1e6, send_burst=10**6)
    async with AsyncSmsClient(
        **sandbox.client_kwargs(), rate_limits=limits, transport=transport
    ) as client:
        yield client


async def test_a_dropped_batch_is_unknown_until_reconciled(
    sandbox: Sandbox, bulk_client: AsyncSmsClient, tmp_path: Path
) -> None:
    """A dropped batch is UNKNOWN, held back on rerun, resent only after reconcile says so."""
    sandbox.state.export_queued_for = sandbox.state.export_running_for = 0.0
    path = tmp_path / "j.db"
    source = [
        {"destination": "+15550100003" if row == 4 else f"+6591{row:06d}", "text": f"r{row}"}
        for row in range(30)
    ]
    sandbox.faults.inject("drop", 1, endpoint="send_batch")
    results = [
        r
        async for r in bulk_client.send_many(
            source, job_id="drop", journal=path, chunk_size=10, concurrency=1
        )
    ]
    states = {r.row: r.state for r in results}
    assert {states[row] for row in range(10)} == {RowState.UNKNOWN}
    assert {states[row] for row in range(10, 30)} == {RowState.ACCEPTED}
    assert sandbox.state.requests["send_batch"] == 3  # the dropped batch was not replayed

    rerun = [r async for r in bulk_client.send_many(source, job_id="drop", journal=path)]
    assert sandbox.state.requests["send_batch"] == 3
    assert all(r.resumed for r in rerun)

    # The sandbox's drop fault closes the connection before handling the batch: 8x8 never had it.
    report = await reconcile(bulk_client, path, "drop", poll_interval=0.05)
    assert (report.checked, report.found, report.still_unknown, report.resent) == (10, 0, 10, 0)
    report = await reconcile(bulk_client, path, "drop", resend_unknown=True, poll_interval=0.05)
    assert (report.checked, report.found, report.still_unknown, report.resent) == (10, 0, 0, 10)

    resent = [r async for r in bulk_client.send_many(source, job_id="drop", journal=path)]
    assert sandbox.state.requests["send_batch"] == 4
    assert sorted(r.row for r in resent if not r.resumed) == list(range(10))
    with Journal(path) as journal:
        stored = {r.row: r for r in journal.rows("drop")}
        assert journal.summary("drop")[RowState.ACCEPTED] == 29
    assert stored[4].state is RowState.REJECTED  # the sandbox's REJECTED test number
    assert stored[4].reason is not None
    umids = {m.client_message_id: m.umid for m in sandbox.state.messages.values()}
    assert all(stored[row].umid == umids[f"drop-{row}"] for row in range(30))
    assert len(umids) == 30  # each row once
