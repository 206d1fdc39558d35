"""reconcile: the export window, matching by client_message_id, what it marks, and resending."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from eightxeight_async._errors import SendOutcomeUnknownError
from eightxeight_async._log_records import LogRecord
from eightxeight_async._models_exports import LogExportStatus
from eightxeight_async.bulk import Journal, JournalError, RowState, reconcile

from .bulk_support import FakeBatches, collect, rows, runner


class FakeExports:
    """A client's export methods over a fixed list of log records."""

    def __init__(self, records: list[LogRecord]) -> None:
        self.records = records
        self.exports: list[dict[str, Any]] = []

    async def export_logs(self, **kwargs: Any) -> LogExportStatus:
        self.exports.append(kwargs)
        return LogExportStatus(status="succeeded", links=("https://sms.8x8.com/d/1",))

    async def iter_log_records(self, source: object, **kwargs: Any) -> AsyncIterator[LogRecord]:
        for record in self.records:
            yield record


def record(cmid: str | None, status: str = "delivered", umid: str = "u") -> LogRecord:
    return LogRecord(umid=umid, client_message_id=cmid, status=status, error_message="Bad number")


async def unknown_job(path: Path, total: int = 30) -> None:
    """A job whose second chunk (rows 10-19) ended UNKNOWN."""
    send = FakeBatches({1: SendOutcomeUnknownError(client_batch_id="b")})
    await collect(runner(rows(total), send, journal=path, chunk_size=10, concurrency=1))


async def test_found_rows_are_resolved_and_the_rest_stay_unknown(tmp_path: Path) -> None:
    """Rows in the export become ACCEPTED (umid) or REJECTED (failed); the rest stay UNKNOWN."""
    path = tmp_path / "j.db"
    await unknown_job(path)
    exports = FakeExports(
        [
            record("job-3", umid="other-row-of-the-job"),  # not unknown: left as it was
            record("someone-else"),
            record(None),
            record("job-10", umid="u10"),
            record("job-11", status="failed", umid="u11"),
            record("job-12", status="queued", umid="u12"),
            record("job-12", status="queued", umid="u12-again"),  # a duplicate at 8x8
        ]
    )
    report = await reconcile(exports, path, "job")
    assert (report.checked, report.found, report.accepted, report.rejected) == (10, 3, 2, 1)
    assert (report.still_unknown, report.resent, report.duplicates) == (7, 0, 1)
    assert report.records_read == 7
    with Journal(path) as journal:
        stored = {r.row: r for r in journal.rows("job")}
        jobs = journal.jobs()
    assert (stored[10].state, stored[10].umid) == (RowState.ACCEPTED, "u10")
    assert (stored[11].state, stored[11].reason) == (RowState.REJECTED, "Bad number")
    assert (stored[12].state, stored[12].umid) == (RowState.ACCEPTED, "u12")
    assert {stored[row].state for row in range(13, 20)} == {RowState.UNKNOWN}
    assert stored[3].umid != "other-row-of-the-job"
    [export] = exports.exports
    assert jobs[0].first_request is not None
    assert jobs[0].last_request is not None
    assert export["subaccount_id"] == "acme_hq"
    assert export["start"] == jobs[0].first_request - timedelta(minutes=15)
    assert export["end"] == jobs[0].last_request + timedelta(minutes=15)
    assert report.start == export["start"]


async def test_resend_unknown_puts_unfound_rows_back_and_the_rerun_sends_only_them(
    tmp_path: Path,
) -> None:
    """Only with resend_unknown: rows not in the export go back to PENDING; a rerun sends them."""
    path = tmp_path / "j.db"
    await unknown_job(path)
    exports = FakeExports([record(f"job-{row}") for row in range(10, 15)])
    report = await reconcile(exports, path, "job", resend_unknown=True)
    assert (report.found, report.still_unknown, report.resent) == (5, 0, 5)
    again = FakeBatches()
    await collect(runner(rows(30), again, journal=path, chunk_size=10))
    assert sorted(again.sent_ids) == [f"job-{row}" for row in range(15, 20)]
    with Journal(path) as journal:
        assert journal.summary("job")[RowState.ACCEPTED] == 30


async def test_nothing_is_resent_by_default(tmp_path: Path) -> None:
    """Without resend_unknown, unfound rows stay UNKNOWN and a rerun does not send them."""
    path = tmp_path / "j.db"
    await unknown_job(path)
    report = await reconcile(FakeExports([]), path, "job")
    assert (report.found, report.still_unknown, report.resent) == (0, 10, 0)
    again = FakeBatches()
    await collect(runner(rows(30), again, journal=path, chunk_size=10))
    assert again.sent_ids == []


async def test_no_unknown_rows_needs_no_export(tmp_path: Path) -> None:
    """A job without UNKNOWN rows is reported at once, with no export started."""
    path = tmp_path / "j.db"
    await collect(runner(rows(5), FakeBatches(), journal=path))
    exports = FakeExports([])
    with Journal(path) as journal:
        report = await reconcile(exports, journal, "job")
    assert (report.checked, report.found, report.still_unknown) == (0, 0, 0)
    assert report.start is None
    assert exports.exports == []


async def test_rows_left_in_flight_are_reconciled_too(tmp_path: Path) -> None:
    """Rows a dead process left IN_FLIGHT are treated as UNKNOWN by reconcile."""
    path = tmp_path / "j.db"
    journal = Journal(path)
    handle = await journal.open_job("job", "acme_hq", b"s")
    await journal.before(handle.key, [(0, b"12345678", None), (1, b"12345678", None)], [])
    journal.close()
    report = await reconcile(FakeExports([record("job-1")]), path, "job")
    assert (report.checked, report.accepted, report.still_unknown) == (2, 1, 1)


async def test_bad_arguments_and_unknown_jobs(tmp_path: Path) -> None:
    """Bad arguments raise ValidationError; a job the journal lacks raises JournalError."""
    path = tmp_path / "j.db"
    exports: Any = FakeExports([])
    with pytest.raises(ValueError, match="resend_unknown"):
        await reconcile(exports, path, "job", resend_unknown="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding"):
        await reconcile(exports, path, "job", padding=timedelta(seconds=-1))
    with pytest.raises(JournalError, match="no job 'job'"):
        await reconcile(exports, path, "job")


async def test_rows_sharing_an_id_stay_unknown_and_writes_are_batched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two unknown rows with one client_message_id cannot be told apart: both stay UNKNOWN."""
    monkeypatch.setattr("eightxeight_async.bulk._reconcile._WRITE_EVERY", 2)
    path = tmp_path / "j.db"
    source = rows(6)
    source[0]["client_message_id"] = source[1]["client_message_id"] = "same"
    send = FakeBatches({0: SendOutcomeUnknownError(client_batch_id="b")})
    await collect(runner(source, send, journal=path, chunk_size=6))
    found = [record("same"), *(record(f"job-{row}", umid=f"u{row}") for row in range(2, 6))]
    report = await reconcile(FakeExports(found), path, "job")
    assert (report.checked, report.accepted, report.still_unknown) == (6, 4, 2)
    with Journal(path) as journal:
        assert [r.row for r in journal.rows("job", states=[RowState.UNKNOWN])] == [0, 1]
