"""Delivery receipts in the bulk journal: matching, order, promotion, the handler, the schema."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from eightxeight_async._errors import SendOutcomeUnknownError, ValidationError
from eightxeight_async._models import MessageState, MessageStatus
from eightxeight_async.bulk import (
    DeliverySummary,
    Journal,
    JournalBusyError,
    JournalError,
    RowState,
    reconcile,
)
from eightxeight_async.webhooks import DeliveryReceipt, InboundMessage

from .bulk_support import FakeBatches, collect, eventually, number, rows, runner

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def receipt(
    umid: str | None,
    state: str,
    *,
    cmid: str | None = None,
    at: int = 0,
    error: int | None = None,
    destination: str = "+6591000001",
) -> DeliveryReceipt:
    """A receipt as parse_event gives it (``at``: seconds after T0)."""
    return DeliveryReceipt(
        umid=umid or "00000000-0000-4000-8000-000000000000",
        status=MessageStatus(
            state=state,
            error_code=error,
            error_message=None if error is None else "Invalid destination",
            timestamp=T0 + timedelta(seconds=at),
        ),
        client_message_id=cmid,
        destination=destination,
    )


async def sent_job(path: Path, count: int = 10, **kwargs: object) -> dict[int, str]:
    """Run job "job" over ``count`` rows; the umid of each accepted row."""
    results = await collect(runner(rows(count), FakeBatches(), journal=path, **kwargs))  # type: ignore[arg-type]
    return {r.row: r.umid for r in results if r.umid is not None}


def by_row(journal: Journal, job_id: str = "job") -> dict[int, object]:
    return {r.row: r for r in journal.rows(job_id)}


async def test_a_receipt_matches_its_row_by_default_id_own_id_or_umid(tmp_path: Path) -> None:
    """job-row ids, the caller's own ids and (without clientMessageId) umids all find the row."""
    path = tmp_path / "j.db"
    source = [{"destination": number(i), "text": "x"} for i in range(4)]
    source[2]["client_message_id"] = "order-77"
    results = await collect(runner(source, FakeBatches(), journal=path))
    umids = {r.row: r.umid for r in results}
    with Journal(path) as journal:
        matched = await journal.record_receipts(
            [
                receipt(umids[0], "delivered", cmid="job-0"),
                receipt(umids[2], "undelivered", cmid="order-77", error=15),
                receipt(umids[3], "delivered"),  # no clientMessageId: by umid
                # Receipts of other messages of the account: nothing matches.
                receipt(None, "delivered", cmid="job-9"),
                receipt(None, "delivered", cmid="someone-else"),
                receipt(None, "delivered"),
            ]
        )
        assert matched == 3
        found = {r.row: r for r in journal.rows("job")}
        assert found[0].delivery is MessageState.DELIVERED
        assert found[0].delivery_time == T0
        assert found[1].delivery is None
        assert found[2].delivery is MessageState.UNDELIVERED
        assert found[2].delivery_error == 15
        assert found[3].delivery is MessageState.DELIVERED


async def test_an_id_with_another_umid_is_another_message(tmp_path: Path) -> None:
    """A receipt naming a row's id with a different umid (an id reused) leaves the row alone."""
    path = tmp_path / "j.db"
    await sent_job(path, 3)
    with Journal(path) as journal:
        stranger = "11111111-2222-4333-8444-555555555555"
        assert await journal.record_receipts([receipt(stranger, "delivered", cmid="job-1")]) == 0
        # Not a default id either: a row number is never written with a leading zero.
        assert await journal.record_receipts([receipt(None, "delivered", cmid="job-01")]) == 0
        assert all(r.delivery is None for r in journal.rows("job"))


async def test_a_late_state_never_replaces_a_final_one(tmp_path: Path) -> None:
    """Out of order: sent after delivered is ignored; read after delivered wins; ties keep."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 3)
    with Journal(path) as journal:
        await journal.record_receipts(
            [
                receipt(umids[0], "delivered", cmid="job-0", at=5),
                receipt(umids[0], "sent", cmid="job-0", at=9),  # later stamp, lower state
                receipt(umids[0], "queued", cmid="job-0", at=1),
                receipt(umids[1], "sent", cmid="job-1", at=1),
                receipt(umids[1], "delivered", cmid="job-1", at=3),
                receipt(umids[1], "read", cmid="job-1", at=2),  # read outranks delivered
                receipt(umids[2], "undelivered", cmid="job-2", at=4, error=1),
                receipt(umids[2], "undelivered", cmid="job-2", at=4, error=99),  # again
            ]
        )
        # One receipt per batch: the same holds across transactions.
        await journal.record_receipts([receipt(umids[0], "sent", cmid="job-0", at=20)])
        found = {r.row: r for r in journal.rows("job")}
        assert (found[0].delivery, found[0].delivery_time) == (
            MessageState.DELIVERED,
            T0 + timedelta(seconds=5),
        )
        assert found[1].delivery is MessageState.READ
        assert (found[2].delivery, found[2].delivery_error) == (MessageState.UNDELIVERED, 1)


async def test_between_final_states_the_later_stamp_wins(tmp_path: Path) -> None:
    """Two final receipts for one message: the one 8x8 stamped later stands, in any order."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 2)
    with Journal(path) as journal:
        await journal.record_receipts([receipt(umids[0], "undelivered", cmid="job-0", at=9)])
        await journal.record_receipts([receipt(umids[0], "delivered", cmid="job-0", at=3)])
        await journal.record_receipts([receipt(umids[1], "undelivered", cmid="job-1", at=3)])
        await journal.record_receipts([receipt(umids[1], "delivered", cmid="job-1", at=9)])
        found = {r.row: r.delivery for r in journal.rows("job")}
        assert found == {0: MessageState.UNDELIVERED, 1: MessageState.DELIVERED}


async def test_an_unknown_row_with_a_receipt_is_accepted_and_never_resent(
    tmp_path: Path,
) -> None:
    """A receipt proves 8x8 took the message: UNKNOWN becomes ACCEPTED (rejected: REJECTED)."""
    path = tmp_path / "j.db"
    first = FakeBatches({0: SendOutcomeUnknownError(client_batch_id="b")})
    await collect(runner(rows(10), first, journal=path, chunk_size=5, concurrency=1))
    umid = "0b0e8f0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    with Journal(path) as journal:
        assert journal.summary("job")[RowState.UNKNOWN] == 5
        await journal.record_receipts(
            [
                receipt(umid, "delivered", cmid="job-1"),
                receipt(None, "rejected", cmid="job-2"),
            ]
        )
        found = {r.row: r for r in journal.rows("job")}
        assert (found[1].state, found[1].umid, found[1].reason) == (RowState.ACCEPTED, umid, None)
        assert found[2].state is RowState.REJECTED
        assert "rejected" in (found[2].reason or "")
        assert journal.summary("job")[RowState.UNKNOWN] == 3
    again = FakeBatches()
    await collect(runner(rows(10), again, journal=path, chunk_size=5))
    assert again.sent_ids == []


async def test_a_receipt_that_beats_the_answer_survives_an_unreadable_answer(
    tmp_path: Path,
) -> None:
    """A receipt recorded while the row is IN_FLIGHT; the request then ends UNKNOWN: ACCEPTED."""
    path = tmp_path / "j.db"
    send = FakeBatches({0: SendOutcomeUnknownError(client_batch_id="b")})
    send.gate = asyncio.Event()
    umid = "0b0e8f0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    with Journal(path) as journal:
        run = runner(rows(3), send, journal=journal, chunk_size=3)
        task = asyncio.create_task(collect(run))
        await eventually(lambda: bool(send.requests))
        assert await journal.record_receipts([receipt(umid, "delivered", cmid="job-1")]) == 1
        assert by_row(journal)[1].state is RowState.IN_FLIGHT  # type: ignore[attr-defined]
        send.gate.set()
        results = await task
        assert {r.row: r.state for r in results}[1] is RowState.UNKNOWN  # what the run saw
        found = {r.row: r for r in journal.rows("job")}
        assert (found[1].state, found[1].umid) == (RowState.ACCEPTED, umid)
        assert found[1].delivery is MessageState.DELIVERED
        assert found[0].state is RowState.UNKNOWN


async def test_a_receipt_during_a_running_job_in_the_same_process(tmp_path: Path) -> None:
    """The handler writes on the journal's thread between the runner's chunks; nothing is lost."""
    path = tmp_path / "j.db"
    send = FakeBatches()
    seen: dict[str, str] = {}
    with Journal(path) as journal:
        handler = journal.receipt_handler()

        async def post(event: DeliveryReceipt) -> None:
            await handler(event)

        pending: list[asyncio.Task[None]] = []
        async for result in runner(rows(200), send, journal=journal, chunk_size=10):
            assert result.umid is not None
            seen[result.client_message_id] = result.umid
            pending.append(
                asyncio.create_task(
                    post(receipt(result.umid, "delivered", cmid=result.client_message_id))
                )
            )
        await asyncio.gather(*pending)
        assert journal.delivery_summary("job") == DeliverySummary(
            delivered=200, undelivered=0, rejected=0, awaiting=0
        )


async def test_the_handler_batches_and_ignores_other_events(tmp_path: Path) -> None:
    """Receipts arriving together share transactions; an inbound SMS is ignored."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 100, chunk_size=100)
    with Journal(path) as journal:
        calls: list[int] = []
        original = journal._record_receipts

        def counting(batch: list[DeliveryReceipt], now: float) -> int:
            calls.append(len(batch))
            return original(batch, now)

        journal._record_receipts = counting  # type: ignore[method-assign, assignment]
        handler = journal.receipt_handler()
        await handler(InboundMessage(umid="x", body="hello"))
        assert calls == []
        await asyncio.gather(
            *(handler(receipt(umids[i], "delivered", cmid=f"job-{i}")) for i in range(100))
        )
        assert sum(calls) == 100
        assert len(calls) < 100
        assert journal.delivery_summary("job").delivered == 100


async def test_the_handler_raises_what_the_journal_raises(tmp_path: Path) -> None:
    """A closed journal: the receipt's caller (the receiver, which logs it) gets the error."""
    journal = Journal(tmp_path / "j.db")
    handler = journal.receipt_handler()
    journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        await handler(receipt(None, "delivered", cmid="job-0"))


async def test_delivery_summary_and_rows_by_delivery(tmp_path: Path) -> None:
    """Counts per delivery state; awaiting = accepted rows without a final receipt."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 6)
    with Journal(path) as journal:
        await journal.record_receipts(
            [
                receipt(umids[0], "delivered", cmid="job-0"),
                receipt(umids[1], "read", cmid="job-1"),
                receipt(umids[2], "undelivered", cmid="job-2"),
                receipt(umids[3], "rejected", cmid="job-3"),
                receipt(umids[4], "sent", cmid="job-4"),
            ]
        )
        assert journal.delivery_summary("job") == DeliverySummary(
            delivered=2, undelivered=1, rejected=1, awaiting=2
        )
        failed = [r.row for r in journal.rows("job", deliveries=["undelivered", "rejected"])]
        assert failed == [2, 3]
        assert [r.row for r in journal.rows("job", deliveries=["none"])] == [5]
        assert [r.row for r in journal.rows("job", states=["accepted"], deliveries="sent")] == [4]
        with pytest.raises(ValidationError, match="deliveries"):
            list(journal.rows("job", deliveries=["lost"]))
        with pytest.raises(JournalError, match="no job"):
            journal.delivery_summary("other")


async def test_record_receipts_refuses_what_is_not_a_receipt(tmp_path: Path) -> None:
    """Anything but DeliveryReceipt objects: ValidationError, nothing written."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 2)
    with Journal(path) as journal:
        good = receipt(umids[0], "delivered", cmid="job-0")
        with pytest.raises(ValidationError, match="receipts"):
            await journal.record_receipts([good, {"umid": umids[1]}])  # type: ignore[list-item]
        assert journal.delivery_summary("job").delivered == 0
        with pytest.raises(ValidationError, match="receipts"):
            await journal.record_receipts(5)  # type: ignore[arg-type]
        assert await journal.record_receipts([]) == 0
        assert await journal.record_receipts(receipt(umids[1], "sent", cmid="job-1")) == 1
        # An unknown state (8x8 may add one) is skipped, not an error.
        assert await journal.record_receipts([receipt(umids[0], "teleported", cmid="job-0")]) == 0


async def test_the_journal_keeps_no_number_and_no_text_of_a_receipt(tmp_path: Path) -> None:
    """Only the state, code and time are written: no destination, no error message."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 2)
    with Journal(path) as journal:
        await journal.record_receipts(
            [receipt(umids[0], "undelivered", cmid="job-0", error=15, destination="+6598765432")]
        )
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # noqa: ASYNC240
    assert b"98765432" not in raw
    assert b"Invalid destination" not in raw


# --- opening: the schema, the holder lock, receipts_only --------------------------------------

_SCHEMA_1 = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY, job_id TEXT NOT NULL UNIQUE,"
    " subaccount_id TEXT NOT NULL, created REAL NOT NULL, salt BLOB NOT NULL,"
    " setup BLOB NOT NULL, first_request REAL, last_request REAL)",
    "CREATE TABLE rows(job INTEGER NOT NULL, row INTEGER NOT NULL, state INTEGER NOT NULL,"
    " digest BLOB NOT NULL, cmid TEXT, umid BLOB, reason TEXT,"
    " PRIMARY KEY (job, row)) WITHOUT ROWID",
)


def write_schema_1(path: Path) -> None:
    """A journal as version 0.x (schema 1) left it: one job, three accepted rows, one own id."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in _SCHEMA_1:
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO jobs VALUES (1, 'old', 'acme_hq', 0, x'00', x'00', 1, 2)")
    for row, cmid in ((0, None), (1, None), (2, "mine")):
        umid = bytes.fromhex(f"{row:032x}")
        db.execute("INSERT INTO rows VALUES (1, ?, 2, x'01', ?, ?, NULL)", (row, cmid, umid))
    db.commit()
    db.close()


async def test_a_schema_1_journal_opens_and_gains_the_delivery_columns(tmp_path: Path) -> None:
    """The old file opens, its rows read as before, and receipts can be recorded on it."""
    path = tmp_path / "old.journal"
    write_schema_1(path)
    with Journal(path) as journal:
        before = list(journal.rows("old"))
        assert [(r.row, r.state, r.client_message_id) for r in before] == [
            (0, RowState.ACCEPTED, "old-0"),
            (1, RowState.ACCEPTED, "old-1"),
            (2, RowState.ACCEPTED, "mine"),
        ]
        assert all(r.delivery is None for r in before)
        umid = str(before[2].umid)
        assert await journal.record_receipts([receipt(umid, "delivered", cmid="mine")]) == 1
        assert journal.delivery_summary("old").delivered == 1
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
    columns = {row[1] for row in db.execute("PRAGMA table_info(rows)")}
    assert {"dstate", "dcode", "dtime"} <= columns
    db.close()
    with Journal(path) as journal:  # and again, now at schema 2
        assert journal.delivery_summary("old").delivered == 1


async def test_receipts_only_works_beside_the_holder_and_refuses_to_send(tmp_path: Path) -> None:
    """One holder; any number of receipts_only Journals beside it; they cannot run jobs."""
    path = tmp_path / "j.db"
    umids = await sent_job(path, 3)
    with Journal(path) as holder:
        with pytest.raises(JournalBusyError):
            Journal(path)
        with Journal(path, receipts_only=True) as side, Journal(path, receipts_only=True):
            assert "receipts_only" in repr(side)
            assert await side.record_receipts([receipt(umids[0], "delivered", cmid="job-0")])
            assert holder.delivery_summary("job").delivered == 1  # the holder sees it
            with pytest.raises(JournalError, match="receipts_only"):
                await collect(runner(rows(3), FakeBatches(), journal=side))
            with pytest.raises(JournalError, match="receipts_only"):
                await reconcile(object(), side, "job")  # type: ignore[arg-type]
        # The holder still writes after them.
        send = FakeBatches()
        await collect(runner(rows(5), send, journal=holder))
        assert send.sent_ids == ["job-3", "job-4"]
    with pytest.raises(ValidationError, match="receipts_only"):
        Journal(path, receipts_only="yes")  # type: ignore[arg-type]


def test_receipts_only_needs_the_journal_made_first(tmp_path: Path) -> None:
    """receipts_only never creates a journal (a misspelt path would record receipts nowhere):
    a receiver that starts before the first bulk run has the journal made with ``Journal(path)``.
    """
    path = tmp_path / "new.journal"
    with pytest.raises(JournalError, match="no journal at"):
        Journal(path, receipts_only=True)
    assert not path.exists()
    Journal(path).close()
    with Journal(path, receipts_only=True) as journal:
        assert journal.jobs() == []


def test_a_directory_gets_no_lock_file_beside_it(tmp_path: Path) -> None:
    """A path that is no journal is refused before the lock file would be created."""
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(JournalError):
        Journal(folder)
    assert not (tmp_path / "folder-lock").exists()


def test_a_journal_an_older_version_holds_is_busy(tmp_path: Path) -> None:
    """An older eightxeight-async holds its journal with SQLite's exclusive lock: busy, not hung.

    (The older version refuses a schema-2 file itself: test_a_journal_of_another_schema_is_refused
    is the same check from the other side.)
    """
    path = tmp_path / "old.journal"
    write_schema_1(path)
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA locking_mode=EXCLUSIVE")
    old.execute("BEGIN EXCLUSIVE")
    old.execute("COMMIT")
    try:
        with pytest.raises(JournalBusyError):
            Journal(path)
        with pytest.raises(JournalBusyError):
            Journal(path, receipts_only=True)
    finally:
        old.close()
    with Journal(path) as journal:  # once it is gone, the file opens (and is migrated)
        assert [job.job_id for job in journal.jobs()] == ["old"]


async def test_a_row_in_flight_at_a_crash_with_its_receipt_is_accepted(tmp_path: Path) -> None:
    """The process died mid-request after a receipt landed: that row is ACCEPTED, not UNKNOWN."""
    path = tmp_path / "j.db"
    umid = "0b0e8f0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    journal = Journal(path)
    handle = await journal.open_job("job", "acme_hq", b"setup")
    await journal.before(handle.key, [(0, b"d0", None), (1, b"d1", None), (2, b"d2", None)], [])
    await journal.record_receipts(
        [receipt(umid, "delivered", cmid="job-1"), receipt(None, "rejected", cmid="job-2")]
    )
    journal.close()  # as if killed: rows 0-2 stand IN_FLIGHT
    with Journal(path) as journal:
        again = await journal.open_job("job", "acme_hq", b"setup")
        assert again.recovered == 1
        found = {r.row: r for r in journal.rows("job")}
        assert found[0].state is RowState.UNKNOWN
        assert (found[1].state, found[1].umid, found[1].reason) == (RowState.ACCEPTED, umid, None)
        assert found[2].state is RowState.REJECTED
