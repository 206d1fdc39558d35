"""The bulk journal: resuming, crash recovery, a changed input, one process per file, content."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eightxeight_async._errors import APIConnectionError, SendOutcomeUnknownError
from eightxeight_async._models_batch import BatchTemplate
from eightxeight_async.bulk import (
    InputChangedError,
    InvalidRow,
    Journal,
    JournalError,
    RowState,
)
from eightxeight_async.bulk._rows import row_digest

from .bulk_support import FakeBatches, collect, number, rows, runner


async def test_rerun_sends_only_what_was_never_sent(tmp_path: Path) -> None:
    """A rerun skips ACCEPTED, REJECTED and INVALID rows, holds UNKNOWN ones, sends PENDING ones."""
    path = tmp_path / "j.db"
    first = FakeBatches({1: SendOutcomeUnknownError(client_batch_id="b")})
    first.rejected = {"job-3"}
    source = rows(30, bad=[5])
    await collect(runner(source, first, journal=path, chunk_size=10, concurrency=1))
    assert len(first.sent_ids) == 29

    again = FakeBatches()
    results = {r.row: r for r in await collect(runner(source, again, journal=path, chunk_size=10))}
    assert again.sent_ids == []  # nothing was pending: every row was tried once
    assert len(results) == 30
    assert all(r.resumed for r in results.values())
    assert results[3].state is RowState.REJECTED
    assert results[3].reason == "Text value is missing"
    assert results[5].state is RowState.INVALID
    assert results[0].umid is not None
    assert results[0].state is RowState.ACCEPTED
    assert {results[row].state for row in range(10, 20)} == {RowState.UNKNOWN}
    assert results[10].reason is not None
    assert "run reconcile" in results[10].reason
    assert results[0].destination == "+65******00"  # masked, from the input read again


async def test_rerun_resumes_where_a_stopped_job_left_off(tmp_path: Path) -> None:
    """Rows never taken, and rows refused before sending (PENDING), are sent by the rerun."""
    path = tmp_path / "j.db"
    first = FakeBatches({2: SendOutcomeUnknownError(client_batch_id="b")})
    first.plan[1] = APIConnectionError("refused")
    run = runner(rows(50), first, journal=path, chunk_size=10, concurrency=1)
    with pytest.raises(APIConnectionError, match="refused"):
        await collect(run)
    with Journal(path) as journal:
        assert journal.summary("job")[RowState.PENDING] == 10
    again = FakeBatches()
    results = await collect(runner(rows(50), again, journal=path, chunk_size=10, concurrency=1))
    assert sorted(again.sent_ids) == sorted(f"job-{row}" for row in range(10, 50))
    assert sum(1 for r in results if not r.resumed) == 40
    with Journal(path) as journal:
        summary = journal.summary("job")
    assert summary[RowState.ACCEPTED] == 50


async def test_rows_in_flight_at_a_crash_become_unknown(tmp_path: Path) -> None:
    """Rows recorded IN_FLIGHT and never finished (a killed process) are UNKNOWN when reopened."""
    path = tmp_path / "j.db"
    journal = Journal(path)
    handle = await journal.open_job("job", "acme_hq", b"setup")
    await journal.before(handle.key, [(0, b"12345678", None), (1, b"12345678", "own-1")], [])
    journal.close()  # as if the process died here: the outcome was never written

    with Journal(path) as journal:
        assert journal.summary("job")[RowState.IN_FLIGHT] == 2
        reopened = await journal.open_job("job", "acme_hq", b"setup")
        assert reopened.recovered == 2
        assert reopened.resumed
        assert reopened.last_row == 1
        stored = list(journal.rows("job"))
    assert [(r.row, r.client_message_id, r.state) for r in stored] == [
        (0, "job-0", RowState.UNKNOWN),
        (1, "own-1", RowState.UNKNOWN),
    ]
    assert stored[0].reason is not None
    assert "in flight" in stored[0].reason


async def test_a_changed_row_stops_the_rerun_before_sending(tmp_path: Path) -> None:
    """A row that differs from its record raises InputChangedError; its chunk sends nothing."""
    path = tmp_path / "j.db"
    first = FakeBatches({1: SendOutcomeUnknownError(client_batch_id="b")})
    await collect(runner(rows(30), first, journal=path, chunk_size=10, concurrency=1))
    changed = rows(30)
    changed[14]["text"] = "a different text"
    again = FakeBatches()
    with pytest.raises(InputChangedError) as raised:
        await collect(runner(changed, again, journal=path, chunk_size=10, concurrency=1))
    assert raised.value.row == 14
    assert raised.value.job_id == "job"
    assert "row 14" in str(raised.value)
    assert "different" not in str(raised.value)
    assert again.sent_ids == []


async def test_a_shifted_input_is_caught(tmp_path: Path) -> None:
    """A row inserted at the top shifts every row: the first recorded one already differs."""
    path = tmp_path / "j.db"
    await collect(runner(rows(20), FakeBatches(), journal=path, chunk_size=10))
    shifted = [{"destination": number(99), "text": "new"}, *rows(20)]
    again = FakeBatches()
    with pytest.raises(InputChangedError) as raised:
        await collect(runner(shifted, again, journal=path, chunk_size=10, concurrency=1))
    assert raised.value.row == 0
    assert again.sent_ids == []


async def test_a_changed_template_is_refused(tmp_path: Path) -> None:
    """The template is part of the job: another one raises InputChangedError with no row."""
    path = tmp_path / "j.db"
    numbers = [number(row) for row in range(3)]
    await collect(runner(numbers, FakeBatches(), journal=path, template=BatchTemplate(text="A")))
    with pytest.raises(InputChangedError) as raised:
        await collect(
            runner(numbers, FakeBatches(), journal=path, template=BatchTemplate(text="B"))
        )
    assert raised.value.row is None


async def test_a_fixed_invalid_row_is_sent_by_the_rerun(tmp_path: Path) -> None:
    """An INVALID row that validates on the rerun (the file was fixed) is sent then, once."""
    path = tmp_path / "j.db"
    source: list[object] = [*rows(3), InvalidRow("line 4: malformed")]
    first = FakeBatches()
    await collect(runner(source, first, journal=path))
    fixed = FakeBatches()
    results = await collect(runner([*rows(3), rows(4)[3]], fixed, journal=path))
    assert fixed.sent_ids == ["job-3"]
    assert {r.row: r.state for r in results}[3] is RowState.ACCEPTED
    still = FakeBatches()
    again = await collect(runner([*rows(3), rows(4)[3]], still, journal=path))
    assert still.sent_ids == []
    assert all(r.resumed for r in again)


async def test_one_process_per_journal(tmp_path: Path) -> None:
    """A journal open in one place cannot be opened again until it is closed."""
    path = tmp_path / "j.db"
    with Journal(path), pytest.raises(JournalError, match="in use by another Journal"):
        Journal(path)
    Journal(path).close()


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    """Opening a file that is not SQLite, or a folder, raises JournalError naming it."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just text that is long enough to have a header " * 10)
    with pytest.raises(JournalError, match="not a bulk journal"):
        Journal(path)
    with pytest.raises(JournalError):
        Journal(tmp_path)
    with pytest.raises(ValueError, match="journal"):
        Journal(5)  # type: ignore[arg-type]


def test_a_journal_of_another_schema_is_refused(tmp_path: Path) -> None:
    """A journal written by a newer version is refused, not misread."""
    path = tmp_path / "j.db"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.close()
    with pytest.raises(JournalError, match="schema '99'"):
        Journal(path)


async def test_summary_rows_and_jobs(tmp_path: Path) -> None:
    """summary() counts every state, rows() filters by state in row order, jobs() lists jobs."""
    path = tmp_path / "j.db"
    send = FakeBatches({1: SendOutcomeUnknownError(client_batch_id="b")})
    await collect(runner(rows(25, bad=[2]), send, journal=path, chunk_size=10, concurrency=1))
    with Journal(path) as journal:
        summary = journal.summary("job")
        assert set(summary) == set(RowState)
        assert summary[RowState.ACCEPTED] == 14
        assert summary[RowState.INVALID] == 1
        assert summary[RowState.UNKNOWN] == 10
        unknown = [r.row for r in journal.rows("job", states=[RowState.UNKNOWN])]
        assert unknown == list(range(10, 20))
        assert [r.row for r in journal.rows("job", states=["invalid"])] == [2]
        assert [r.row for r in journal.rows("job")] == list(range(25))
        [job] = journal.jobs()
        assert job.job_id == "job"
        assert job.subaccount_id == "acme_hq"
        assert job.first_request is not None
        assert job.last_request is not None
        assert job.first_request <= job.last_request
        with pytest.raises(JournalError, match="no job 'other'"):
            journal.summary("other")
        with pytest.raises(ValueError, match="states"):
            list(journal.rows("job", states=["nonsense"]))
    with pytest.raises(RuntimeError, match="closed"):
        journal.summary("job")
    journal.close()  # again: nothing happens


async def test_the_journal_keeps_no_text_and_no_number(tmp_path: Path) -> None:
    """Neither message text nor any digit run of a number is in the file."""
    path = tmp_path / "j.db"
    source = [{"destination": number(row), "text": f"secret text {row}"} for row in range(20)]
    await collect(runner(source, FakeBatches(), journal=path))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # noqa: ASYNC240 (and the WAL)
    assert b"secret" not in raw
    assert b"6591000" not in raw


def test_row_digest_is_salted() -> None:
    """The same row hashes differently under two jobs' salts, and the same under one."""
    from eightxeight_async._models_batch import BatchMessage

    message = BatchMessage(destination=number(1), text="x", client_message_id="a")
    assert row_digest(message, b"1" * 16) == row_digest(message, b"1" * 16)
    assert row_digest(message, b"1" * 16) != row_digest(message, b"2" * 16)
    assert len(row_digest(message, b"1" * 16)) == 8


async def test_a_sent_row_that_no_longer_validates_keeps_its_record(tmp_path: Path) -> None:
    """An ACCEPTED row invalid on the rerun (its expiry passed) is yielded as recorded, not sent."""
    path = tmp_path / "j.db"
    await collect(runner(rows(3), FakeBatches(), journal=path))
    now_invalid: list[object] = [*rows(2), InvalidRow("expiry: must be in the future")]
    again = FakeBatches()
    results = {r.row: r for r in await collect(runner(now_invalid, again, journal=path))}
    assert again.sent_ids == []
    assert results[2].state is RowState.ACCEPTED
    assert results[2].resumed


async def test_a_pending_row_that_no_longer_validates_becomes_invalid(tmp_path: Path) -> None:
    """A row put back to PENDING that fails validation on the rerun is INVALID, never sent."""
    path = tmp_path / "j.db"
    first = FakeBatches({0: APIConnectionError("refused")})
    with pytest.raises(APIConnectionError):
        await collect(runner(rows(2), first, journal=path))
    again = FakeBatches()
    results = await collect(runner([rows(1)[0], InvalidRow("line 2: bad")], again, journal=path))
    assert again.sent_ids == ["job-0"]
    assert {r.row: r.state for r in results} == {0: RowState.ACCEPTED, 1: RowState.INVALID}
    with Journal(path) as journal:
        assert journal.summary("job")[RowState.INVALID] == 1


def test_journal_errors_pickle_and_name_no_content() -> None:
    """InputChangedError and JournalError survive pickling, with their facts."""
    import pickle

    changed = pickle.loads(pickle.dumps(InputChangedError("job", 14)))
    assert (changed.job_id, changed.row) == ("job", 14)
    assert str(changed) == str(InputChangedError("job", 14))
    assert isinstance(changed, JournalError)
    held = pickle.loads(pickle.dumps(JournalError("The journal 'x' is in use.")))
    assert str(held) == "The journal 'x' is in use."
