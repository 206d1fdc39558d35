"""The journal of bulk jobs: every row's state in SQLite (standard library, WAL).

One file holds any number of jobs. A row is written when its chunk is about to be sent (state
``IN_FLIGHT``, with a salted 8-byte hash of its content, or ``INVALID`` with the rule it broke)
and again when the request ends (``ACCEPTED`` with the umid, ``REJECTED`` with 8x8's reason,
``UNKNOWN`` or back to ``PENDING``): one transaction per chunk before the request and one after,
so journaling costs two commits per up to 10,000 rows. Rows never reached have no record: they
are pending by absence. No message text and no phone number is stored; a row's own
``client_message_id`` is stored only when the caller gave one.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. WAL alone already survives a killed
process (a committed transaction is in the WAL file); FULL also fsyncs each commit, so that a
power cut cannot lose the ``IN_FLIGHT`` record of a request that went out (its row would then
look never sent, and be sent twice). At two commits per chunk the fsyncs cost next to nothing.

Threads: SQLite calls block, so every call runs on the journal's own single worker thread (one
connection, used by that thread only, in submission order); the event loop only waits for the
result. A chunk's transaction of 10,000 rows takes tens of milliseconds, far too long to hold the
loop (see the module ``_job`` for the figures). The synchronous public methods (:meth:`summary`,
:meth:`rows`, :meth:`jobs`) run there too and block their caller until done.

One holder at a time: the connection takes SQLite's exclusive lock (``locking_mode=EXCLUSIVE``)
when the journal opens, so a second process (or a second ``Journal`` on the same file) gets
:class:`JournalError` instead of two runners sending the same rows. The lock goes with the
process, however it ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .._errors import ValidationError
from ._results import (
    BulkResult,
    InputChangedError,
    JobInfo,
    JournalBusyError,
    JournalError,
    RowState,
)

__all__ = ["Journal", "JobHandle", "Outcome", "StoredRow", "row_id"]

_T = TypeVar("_T")

_SCHEMA_VERSION = "1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs("
    " id INTEGER PRIMARY KEY,"
    " job_id TEXT NOT NULL UNIQUE,"
    " subaccount_id TEXT NOT NULL,"
    " created REAL NOT NULL,"
    " salt BLOB NOT NULL,"
    " setup BLOB NOT NULL,"
    " first_request REAL,"
    " last_request REAL)",
    # WITHOUT ROWID: the (job, row) key is the table, so a row costs its columns and little else.
    "CREATE TABLE IF NOT EXISTS rows("
    " job INTEGER NOT NULL,"
    " row INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " digest BLOB NOT NULL,"
    " cmid TEXT,"
    " umid BLOB,"
    " reason TEXT,"
    " PRIMARY KEY (job, row)) WITHOUT ROWID",
)

# States as stored: small integers (one byte in SQLite's record format).
_CODES: dict[RowState, int] = {
    RowState.PENDING: 0,
    RowState.IN_FLIGHT: 1,
    RowState.ACCEPTED: 2,
    RowState.REJECTED: 3,
    RowState.INVALID: 4,
    RowState.UNKNOWN: 5,
}
#: One row's outcome as the runner records it: (row, state, umid, reason).
Outcome = tuple[int, RowState, str | None, str | None]
_STATES = {code: state for state, code in _CODES.items()}
IN_FLIGHT = _CODES[RowState.IN_FLIGHT]
UNKNOWN = _CODES[RowState.UNKNOWN]
PENDING = _CODES[RowState.PENDING]

#: The reason an interrupted request's rows get when the job is opened again.
DIED_IN_FLIGHT = "the process stopped while its batch request was in flight; run reconcile"
_PAGE = 5000


def row_id(job_id: str, row: int) -> str:
    """The ``client_message_id`` a row gets when the caller gave none."""
    return f"{job_id}-{row}"


def pack_umid(umid: str | None) -> bytes | str | None:
    """A umid as stored: its 16 bytes when it is a lower-case UUID (8x8's form), else the text."""
    if umid is None:
        return None
    # Cheaper than uuid.UUID() (a 10,000-row chunk pays it 10,000 times), and lossless: only
    # the canonical lower-case form is packed, which unpack_umid gives back exactly.
    if len(umid) == 36 and umid[8] == umid[13] == umid[18] == umid[23] == "-":
        digits = umid.replace("-", "")
        if digits.isalnum() and (digits.islower() or digits.isdigit()):
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    return umid


def unpack_umid(value: bytes | str | None) -> str | None:
    """The umid of a stored value."""
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
    return value


def _stamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


class StoredRow(NamedTuple):
    """A row as the journal holds it (the runner's view)."""

    state: RowState
    digest: bytes
    cmid: str | None
    umid: str | None
    reason: str | None


class JobHandle(NamedTuple):
    """An opened job: its key in the file, its hash salt, and what the file knew of it."""

    key: int
    job_id: str
    salt: bytes
    resumed: bool
    """The job was in the journal before this run."""
    last_row: int
    """The highest row the journal holds for it (-1: none)."""
    recovered: int
    """Rows found IN_FLIGHT at opening (the process died mid-request), now UNKNOWN."""


class Journal:
    """A SQLite file holding the state of every row of bulk jobs, for resuming after a crash.

    Give it to ``send_many(journal=...)`` (or give the path, and ``send_many`` opens and closes
    it); rerunning the same ``job_id`` with the same input resumes the job. Read it with
    :meth:`summary`, :meth:`rows` and :meth:`jobs`; resolve its unknown rows with
    :func:`~eightxeight_async.bulk.reconcile`.

    Example::

        with Journal("campaign.journal") as journal:
            print(journal.summary("spring-sale"))

    Args:
        path: The file; created with its folder's permissions when missing.

    Raises:
        JournalError: Another process holds the journal, or the file is not a bulk journal (or
            one written by a newer version).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
            raise ValidationError("journal", "a path, or a Journal")
        self.path = Path(path)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="eightxeight-journal"
        )
        self._closed = False
        self._connection: sqlite3.Connection | None = None
        try:
            self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        return f"<Journal path={str(self.path)!r}{' closed' if self._closed else ''}>"

    # --- plumbing ------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0.0
            )
        except sqlite3.Error as exc:
            msg = f"The journal {str(self.path)!r} cannot be opened: {exc}."
            raise JournalError(msg) from None
        try:
            connection.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous=FULL")
            # Take the exclusive lock now: a second process fails here, not mid-job.
            connection.execute("BEGIN EXCLUSIVE")
            for statement in _SCHEMA:
                connection.execute(statement)
            found = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                connection.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            connection.close()
            if "locked" in str(exc):
                msg = (
                    f"The journal {str(self.path)!r} is in use by another Journal (in another "
                    "process, or open in this one); one at a time may run or reconcile its jobs."
                )
                raise JournalBusyError(msg) from None
            msg = f"The journal {str(self.path)!r} cannot be used: {exc}."
            raise JournalError(msg) from None
        except sqlite3.DatabaseError:
            connection.close()
            msg = f"The file {str(self.path)!r} is not a bulk journal (not an SQLite database)."
            raise JournalError(msg) from None
        except BaseException:
            connection.close()
            raise
        if found is not None and found[0] != _SCHEMA_VERSION:
            connection.close()
            msg = (
                f"The journal {str(self.path)!r} was written by another version of "
                f"eightxeight-async (schema {found[0]!r}; this one reads {_SCHEMA_VERSION!r})."
            )
            raise JournalError(msg)
        if str(mode).lower() != "wal":
            connection.close()
            msg = f"The journal {str(self.path)!r} cannot use SQLite's WAL mode here."
            raise JournalError(msg)
        self._connection = connection

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            msg = "This Journal was closed."
            raise RuntimeError(msg)
        return self._connection

    def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn`` on the journal's thread and wait for it (synchronous callers)."""
        if self._closed:
            msg = "This Journal was closed."
            raise RuntimeError(msg)
        return self._executor.submit(fn, *args).result()

    async def _arun(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn`` on the journal's thread without blocking the event loop."""
        if self._closed:
            msg = "This Journal was closed."
            raise RuntimeError(msg)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Close the file (after any write in progress); calling it again does nothing."""
        if self._closed:
            return
        try:
            self._executor.submit(self._close_connection).result()
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- public reads --------------------------------------------------------------------------

    def jobs(self) -> list[JobInfo]:
        """The jobs this journal holds, oldest first."""
        return self._run(self._jobs)

    def _jobs(self) -> list[JobInfo]:
        found = self._db.execute(
            "SELECT job_id, subaccount_id, created, first_request, last_request FROM jobs "
            "ORDER BY id"
        ).fetchall()
        return [
            JobInfo(
                job_id=job_id,
                subaccount_id=subaccount,
                created_at=datetime.fromtimestamp(created, tz=timezone.utc),
                first_request=_stamp(first),
                last_request=_stamp(last),
            )
            for job_id, subaccount, created, first, last in found
        ]

    def summary(self, job_id: str) -> dict[RowState, int]:
        """How many rows of the job are in each state (every state present, 0 included).

        Rows never reached (input not read yet) have no record and are not counted.

        Raises:
            JournalError: The journal holds no such job.
        """
        return self._run(self._summary, job_id)

    def _summary(self, job_id: str) -> dict[RowState, int]:
        key = self._key(job_id)
        counts = dict.fromkeys(RowState, 0)
        for code, count in self._db.execute(
            "SELECT state, count(*) FROM rows WHERE job=? GROUP BY state", (key,)
        ):
            counts[_STATES[code]] = count
        return counts

    def rows(
        self, job_id: str, *, states: Iterable[RowState | str] | None = None
    ) -> Iterator[BulkResult]:
        """The job's recorded rows in row order, optionally only those in ``states``.

        Read in pages of 5,000 rows, so memory stays flat whatever the job's size.

        Args:
            job_id: The job.
            states: Only rows in these states (e.g. ``[RowState.UNKNOWN, RowState.REJECTED]``).

        Raises:
            JournalError: The journal holds no such job.
            ValidationError: ``states`` holds something that is not a state.
        """
        wanted: list[int] | None = None
        if states is not None:
            try:
                wanted = sorted({_CODES[RowState(s)] for s in states})
            except (ValueError, TypeError):
                raise ValidationError("states", "RowState values") from None
        key = self._run(self._key, job_id)
        after = -1
        while True:
            page = self._run(self._page, key, after, wanted)
            if not page:
                return
            for row, code, cmid, umid, reason in page:
                yield BulkResult(
                    row=row,
                    client_message_id=cmid if cmid is not None else row_id(job_id, row),
                    state=_STATES[code],
                    umid=unpack_umid(umid),
                    reason=reason,
                    resumed=True,
                )
            after = page[-1][0]

    def _page(self, key: int, after: int, wanted: list[int] | None) -> list[tuple[Any, ...]]:
        sql = "SELECT row, state, cmid, umid, reason FROM rows WHERE job=? AND row>?"
        params: list[Any] = [key, after]
        if wanted is not None:
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            params += wanted
        sql += f" ORDER BY row LIMIT {_PAGE}"
        return self._db.execute(sql, params).fetchall()

    def _key(self, job_id: str) -> int:
        found = self._db.execute("SELECT id FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if found is None:
            msg = f"The journal holds no job {job_id!r}."
            raise JournalError(msg)
        key: int = found[0]
        return key

    # --- the runner's side ---------------------------------------------------------------------

    async def open_job(self, job_id: str, subaccount_id: str, setup: bytes) -> JobHandle:
        """Create the job, or open it again: rows left IN_FLIGHT become UNKNOWN.

        Raises:
            InputChangedError: The job exists with another template or kind of input.
        """
        return await self._arun(self._open_job, job_id, subaccount_id, setup)

    def _open_job(self, job_id: str, subaccount_id: str, setup: bytes) -> JobHandle:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            found = db.execute(
                "SELECT id, salt, setup FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if found is None:
                salt = os.urandom(16)
                cursor = db.execute(
                    "INSERT INTO jobs(job_id, subaccount_id, created, salt, setup) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (job_id, subaccount_id, time.time(), salt, setup),
                )
                assert cursor.lastrowid is not None
                db.execute("COMMIT")
                return JobHandle(cursor.lastrowid, job_id, salt, False, -1, 0)
            key, salt, stored_setup = found
            changed = stored_setup != setup
            recovered = 0 if changed else self._recover(key)
            last = db.execute("SELECT max(row) FROM rows WHERE job=?", (key,)).fetchone()[0]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if changed:
            raise InputChangedError(job_id, None)
        return JobHandle(key, job_id, salt, True, -1 if last is None else last, recovered)

    def _recover(self, key: int) -> int:
        return self._db.execute(
            "UPDATE rows SET state=?, reason=? WHERE job=? AND state=?",
            (UNKNOWN, DIED_IN_FLIGHT, key, IN_FLIGHT),
        ).rowcount

    async def recover(self, key: int) -> int:
        """Mark the job's rows left IN_FLIGHT (by a process that died) UNKNOWN; count them."""
        return await self._arun(self._recover, key)

    async def lookup(self, key: int, first: int, last: int) -> dict[int, StoredRow]:
        """The stored rows of a job from ``first`` to ``last`` (inclusive)."""
        return await self._arun(self._lookup, key, first, last)

    def _lookup(self, key: int, first: int, last: int) -> dict[int, StoredRow]:
        return {
            row: StoredRow(_STATES[code], digest, cmid, unpack_umid(umid), reason)
            for row, code, digest, cmid, umid, reason in self._db.execute(
                "SELECT row, state, digest, cmid, umid, reason FROM rows "
                "WHERE job=? AND row BETWEEN ? AND ?",
                (key, first, last),
            )
        }

    async def before(
        self,
        key: int,
        sending: Sequence[tuple[int, bytes, str | None]],
        invalid: Sequence[tuple[int, str]],
    ) -> None:
        """Record a chunk before its request: rows to send IN_FLIGHT, invalid rows INVALID."""
        await self._arun(self._before, key, sending, invalid, time.time())

    def _before(
        self,
        key: int,
        sending: Sequence[tuple[int, bytes, str | None]],
        invalid: Sequence[tuple[int, str]],
        now: float,
    ) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO rows(job, row, state, digest, cmid) VALUES (?, ?, ?, ?, ?)",
                [(key, row, IN_FLIGHT, digest, cmid) for row, digest, cmid in sending],
            )
            db.executemany(
                "INSERT OR REPLACE INTO rows(job, row, state, digest, reason) "
                "VALUES (?, ?, ?, x'', ?)",
                [(key, row, _CODES[RowState.INVALID], reason) for row, reason in invalid],
            )
            if sending:
                db.execute(
                    "UPDATE jobs SET first_request=coalesce(first_request, ?), "
                    "last_request=max(coalesce(last_request, 0), ?) WHERE id=?",
                    (now, now, key),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def after(self, key: int, outcomes: Sequence[Outcome]) -> None:
        """Record a chunk's outcome: ``(row, state, umid, reason)`` each, in one transaction."""
        await self._arun(self._after, key, outcomes, time.time())

    def after_now(self, key: int, outcomes: Sequence[Outcome]) -> None:
        """:meth:`after`, waiting on the calling thread: for a task being cancelled."""
        self._run(self._after, key, outcomes, time.time())

    async def record(self, key: int, outcomes: Sequence[Outcome]) -> None:
        """Record outcomes learnt without a request (reconciliation): request times unchanged."""
        await self._arun(self._after, key, outcomes, None)

    def _after(self, key: int, outcomes: Sequence[Outcome], now: float | None) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE rows SET state=?, umid=?, reason=? WHERE job=? AND row=?",
                [
                    (_CODES[state], pack_umid(umid), reason, key, row)
                    for row, state, umid, reason in outcomes
                ],
            )
            if now is not None:
                db.execute(
                    "UPDATE jobs SET last_request=max(coalesce(last_request, 0), ?) WHERE id=?",
                    (now, key),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # --- reconciliation's side -----------------------------------------------------------------

    async def job(self, job_id: str) -> tuple[int, JobInfo]:
        """The job's key and description.

        Raises:
            JournalError: No such job.
        """
        return await self._arun(self._job, job_id)

    def _job(self, job_id: str) -> tuple[int, JobInfo]:
        key = self._key(job_id)
        info = next(j for j in self._jobs() if j.job_id == job_id)
        return key, info

    async def unknown_rows(self, key: int, job_id: str) -> tuple[dict[str, int], int]:
        """The job's UNKNOWN rows by ``client_message_id``, and how many rows share an id.

        Rows sharing an id cannot be told apart in 8x8's log: they are left out of the dict.
        """
        return await self._arun(self._unknown_rows, key, job_id)

    def _unknown_rows(self, key: int, job_id: str) -> tuple[dict[str, int], int]:
        found: dict[str, int] = {}
        shared: set[str] = set()
        total = 0
        for row, cmid in self._db.execute(
            "SELECT row, cmid FROM rows WHERE job=? AND state=?", (key, UNKNOWN)
        ):
            total += 1
            name = cmid if cmid is not None else row_id(job_id, row)
            if name in found:
                shared.add(name)
            found[name] = row
        for name in shared:
            del found[name]
        return found, total - len(found)

    async def release(self, key: int, rows: Sequence[int], reason: str) -> None:
        """Put UNKNOWN rows back to PENDING (reconciliation proved them absent at 8x8)."""
        await self._arun(self._release, key, rows, reason)

    def _release(self, key: int, rows: Sequence[int], reason: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE rows SET state=?, reason=? WHERE job=? AND row=? AND state=?",
                [(PENDING, reason, key, row, UNKNOWN) for row in rows],
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
