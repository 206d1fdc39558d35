"""SIGKILL a bulk job at several points, rerun and reconcile it, count from the sandbox's record.

The sandbox runs in this test's process; the bulk job runs in a child process
(``bulk_crash_driver.py``: send_many + Journal) that the test kills with SIGKILL:

1. between chunks (the driver stops after taking the results of two chunks, one chunk at a time);
2. with two batch requests on the wire: the sandbox's ``slow`` fault holds their answers, and the
   kill lands once the sandbox has stored both batches (8x8 took them, the client never heard);
3. with a request about to leave: its rows are committed IN_FLIGHT, the bytes never left.

Then a run to the end (UNKNOWN rows held back), ``reconcile(resend_unknown=True)`` (the rows of 2.
are found at 8x8 and ACCEPTED, those of 3. are not and go back to PENDING), a last run that sends
those, and a final check from ``sandbox.state.messages``: every valid row accepted exactly once,
none lost, no invalid row sent. Every wait is on a file or on the sandbox's state, bounded.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eightxeight_async import AsyncSmsClient
from eightxeight_async.bulk import Journal, RowState, reconcile
from eightxeight_async.sandbox import Sandbox

from .conftest import eventually

pytestmark = pytest.mark.integration

DRIVER = Path(__file__).with_name("bulk_crash_driver.py")
ROWS = 2000
CHUNK = 100
JOB = "crash-test"
INVALID = {row for row in range(ROWS) if row % 50 == 7}
VALID = ROWS - len(INVALID)


def valid_in(chunks: list[int]) -> int:
    """Valid rows in the given 0-based chunks."""
    return sum(1 for c in chunks for row in range(c * CHUNK, (c + 1) * CHUNK) if row not in INVALID)


class Driver:
    """Runs the driver script in a child process with settings, as many times as the test needs."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.base = {
            "client": dict(sandbox.client_kwargs()),
            "journal": str(tmp_path / "crash.journal"),
            "job_id": JOB,
            "rows": ROWS,
            "chunk_size": CHUNK,
        }
        self.runs = 0

    async def start(self, **settings: Any) -> tuple[asyncio.subprocess.Process, Path, Path]:
        self.runs += 1
        signal_file = self.tmp_path / f"signal-{self.runs}"
        output = self.tmp_path / f"out-{self.runs}"
        with output.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(DRIVER),
                json.dumps({**self.base, **settings, "signal": str(signal_file)}),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        return process, signal_file, output

    async def kill_when(
        self, process: asyncio.subprocess.Process, ready: Any, output: Path
    ) -> None:
        """SIGKILL the child once ``ready()`` holds; fail if it ends first."""
        await eventually(lambda: ready() or process.returncode is not None, limit=120)
        assert process.returncode is None, output.read_text()  # noqa: ASYNC240 (a failure)
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 60) == -signal.SIGKILL

    async def run_to_end(self, **settings: Any) -> dict[str, Any]:
        process, _, output = await self.start(**settings)
        code = await asyncio.wait_for(process.wait(), 180)
        assert code == 0, output.read_text()
        last_line = output.read_text().strip().splitlines()[-1]
        result: dict[str, Any] = json.loads(last_line)
        return result


def job_messages(sandbox: Sandbox) -> Counter[str]:
    """The sandbox's own record: how many messages it accepted per client_message_id of the job."""
    return Counter(
        m.client_message_id
        for m in sandbox.state.messages.values()
        if m.client_message_id is not None and m.client_message_id.startswith(f"{JOB}-")
    )


async def test_sigkill_rerun_and_reconcile_send_every_valid_row_exactly_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Three kills, a rerun, reconcile, a rerun: every valid row accepted once, none lost."""
    sandbox.state.export_queued_for = sandbox.state.export_running_for = 0.0
    driver = Driver(sandbox, tmp_path)
    journal_path = tmp_path / "crash.journal"

    # 1. Between chunks: one chunk at a time, stopped after chunks 0 and 1 were yielded.
    process, signal_file, output = await driver.start(concurrency=1, pause_after=2 * CHUNK)
    await driver.kill_when(process, signal_file.exists, output)
    assert len(sandbox.state.batches) == 2
    assert sum(job_messages(sandbox).values()) == valid_in([0, 1])

    # 2. Mid-request: chunks 2 and 3 reach the sandbox, whose answers are held back.
    sandbox.faults.slow_seconds = 600.0
    sandbox.faults.inject("slow", 2, endpoint="send_batch")
    process, _, output = await driver.start(concurrency=2)
    await driver.kill_when(process, lambda: len(sandbox.state.batches) == 4, output)
    assert sandbox.faults.queued() == []
    assert sum(job_messages(sandbox).values()) == valid_in([0, 1, 2, 3])

    # 3. Before the bytes leave: chunk 4 goes through, chunk 5 is held after its IN_FLIGHT commit.
    process, signal_file, output = await driver.start(concurrency=1, hold_request=2)
    await driver.kill_when(process, signal_file.exists, output)
    assert len(sandbox.state.batches) == 5
    with Journal(journal_path) as journal:
        before = journal.summary(JOB)
    assert before[RowState.IN_FLIGHT] == valid_in([5])  # the kill left chunk 5 in flight
    assert before[RowState.UNKNOWN] == valid_in([2, 3])  # run 3 found chunks 2, 3 in flight

    # A run to the end: unknown rows are held back, everything never sent is sent.
    ended = await driver.run_to_end(concurrency=3)
    assert ended["recovered"] == valid_in([5])
    assert ended["counts"]["unknown"] == valid_in([2, 3, 5])
    with Journal(journal_path) as journal:
        unknown_before = journal.summary(JOB)[RowState.UNKNOWN]
    assert unknown_before == valid_in([2, 3, 5])
    assert sum(job_messages(sandbox).values()) == VALID - valid_in([5])

    # Reconcile: chunks 2 and 3 are found at 8x8; chunk 5 is not, and goes back to pending.
    async with AsyncSmsClient(**sandbox.client_kwargs()) as client:
        report = await reconcile(client, journal_path, JOB, resend_unknown=True, poll_interval=0.05)
        assert report.checked == unknown_before
        assert report.found == report.accepted == valid_in([2, 3])
        assert report.resent == valid_in([5])
        assert report.still_unknown == report.duplicates == 0

        final = await driver.run_to_end(concurrency=2)
        assert final["counts"]["accepted"] == VALID  # resumed rows and the resent ones
        again = await reconcile(client, journal_path, JOB, poll_interval=0.05)
        assert again.checked == again.still_unknown == 0

    with Journal(journal_path) as journal:
        summary = journal.summary(JOB)
        accepted = {r.client_message_id: r.umid for r in journal.rows(JOB, states=["accepted"])}
    assert summary[RowState.ACCEPTED] == VALID
    assert summary[RowState.INVALID] == len(INVALID)
    assert summary[RowState.UNKNOWN] == summary[RowState.PENDING] == 0

    # The sandbox's own record: each valid row exactly once, no invalid row, nothing else.
    seen = job_messages(sandbox)
    expected = {f"{JOB}-{row}" for row in range(ROWS) if row not in INVALID}
    duplicates = sorted(cmid for cmid, count in seen.items() if count > 1)
    lost = sorted(expected - set(seen))
    assert duplicates == []
    assert lost == []
    assert set(seen) == expected
    umids = {m.client_message_id: m.umid for m in sandbox.state.messages.values()}
    assert all(accepted[cmid] == umids[cmid] for cmid in expected)
    print(
        f"crash test: rows={ROWS} valid={VALID} kills=3 runs={driver.runs} "
        f"duplicates={len(duplicates)} lost={len(lost)} unknown_before={unknown_before} "
        f"found={report.found} resent={report.resent} unknown_after={again.still_unknown}"
    )
