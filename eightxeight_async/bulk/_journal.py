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

One holder at a time: a ``Journal`` that runs jobs takes the exclusive lock of a small SQLite
file beside the journal (``<journal>-lock``; it stays on disk, empty) and keeps it until it
closes, so a second process (or a second ``Journal`` on the same file) gets
:class:`JournalBusyError` instead of two runners sending the same rows. The lock goes with the
process, however it ends.

Delivery receipts: every row also holds its delivery state (``dstate``, a small code), the
receipt's error code and time, written by :meth:`Journal.record_receipts` (or the handler of
:meth:`Journal.receipt_handler`). Receipts may come from the process that runs the job (the same
``Journal``: its writes queue on the journal's thread with the runner's), or from another process
while a runner holds the journal: that one opens ``Journal(path, receipts_only=True)``, which takes
no holder lock. The journal file itself is shared the ordinary WAL way: every write is one short
transaction (``BEGIN IMMEDIATE``; a 10,000-row chunk holds it for tens of milliseconds), and a
writer finding the file busy waits up to :data:`BUSY_TIMEOUT` seconds, so the two processes take
turns; readers never block. (Until schema 2, the journal's own connection held SQLite's exclusive
lock for its whole life, which shut every other process out, receipts included.) Why a lock file
and not a lock on the journal: the holder lock must outlast every transaction, while the journal
must be writable between them; SQLite's own locking of the lock file works wherever SQLite does
(POSIX, Windows). The lock file is never deleted: removing it while another process opens it
would let two holders in. Sharing the WAL between processes needs SQLite's shared-memory file
(``<journal>-shm``), so the journal must be on a local disk, not a network share.

Versions: an older eightxeight-async refuses a schema-2 journal (so it never runs beside this
one's lock protocol), and this one refuses a journal an older one holds (SQLite's exclusive lock:
:class:`JournalBusyError`).

Schema 2 added the delivery columns and an index of the caller's own ``client_message_id``s; a
schema-1 journal gains them when it is opened (``ALTER TABLE``, in the opening transaction). An
index of umids, needed only for a receipt that carries no ``clientMessageId``, is created the
first time one arrives: it costs about 13 ms per 10,000-row chunk, paid only by those who need it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .._errors import ValidationError
from .._models import MessageState
from .._webhook_models import DeliveryReceipt, WebhookEvent
from ._results import (
    BulkResult,
    DeliverySummary,
    InputChangedError,
    JobInfo,
    JournalBusyError,
    JournalError,
    RowState,
)

__all__ = ["Journal", "JobHandle", "Outcome", "StoredRow", "row_id"]

_T = TypeVar("_T")

_SCHEMA_VERSION = "2"
#: Seconds a write waits for another process's transaction on the journal to end.
BUSY_TIMEOUT = 30.0
_OPEN_TIMEOUT = 2.0
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
    " dstate INTEGER,"
    " dcode INTEGER,"
    " dtime REAL,"
    " PRIMARY KEY (job, row)) WITHOUT ROWID",
)
#: Schema 1 to 2: the delivery columns (NULL: no receipt yet).
_MIGRATE_1 = (
    "ALTER TABLE rows ADD COLUMN dstate INTEGER",
    "ALTER TABLE rows ADD COLUMN dcode INTEGER",
    "ALTER TABLE rows ADD COLUMN dtime REAL",
)
# Partial: rows with the default id ("{job_id}-{row}", cmid NULL) cost it nothing.
_CMID_INDEX = "CREATE INDEX IF NOT EXISTS rows_cmid ON rows(cmid) WHERE cmid IS NOT NULL"
_UMID_INDEX = "CREATE INDEX IF NOT EXISTS rows_umid ON rows(umid) WHERE umid IS NOT NULL"

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

# Delivery states as stored, and their order: a state never replaces one of a higher rank
# (receipts arrive out of order: a late "sent" must not undo "delivered").
_DELIVERY_CODES: dict[str, int] = {
    MessageState.QUEUED: 1,
    MessageState.SENT: 2,
    MessageState.DELIVERED: 3,
    MessageState.UNDELIVERED: 4,
    MessageState.REJECTED: 5,
    MessageState.FAILED: 5,  # message details' word for "rejected"
    MessageState.READ: 6,
}
_DELIVERY_STATES = {
    1: MessageState.QUEUED,
    2: MessageState.SENT,
    3: MessageState.DELIVERED,
    4: MessageState.UNDELIVERED,
    5: MessageState.REJECTED,
    6: MessageState.READ,
}
_RANK = {1: 1, 2: 2, 3: 3, 4: 3, 5: 3, 6: 4}
_FINAL_RANK = 3
_DELIVERY_RULE = "delivery states (delivered, undelivered, rejected, read, queued, sent, none)"
D_REJECTED = 5
#: A row found PENDING or UNKNOWN (or IN_FLIGHT, then UNKNOWN) whose receipt said "rejected".
RECEIPT_REJECTED = "refused by 8x8 (its delivery receipt said rejected)"

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
            print(journal.summary("spring-sale"), journal.delivery_summary("spring-sale"))

    Args:
        path: The file; created with its folder's permissions when missing (never with
            ``receipts_only``).
        receipts_only: Open it only to record delivery receipts and read, alongside the process
            that runs its jobs (a web app receiving 8x8's webhooks while ``eightxeight bulk``
            sends): no holder lock is taken, and ``send_many`` and ``reconcile`` refuse it. The
            journal must exist already.

    Raises:
        JournalBusyError: Another ``Journal`` (in this process or another) that runs jobs holds
            it; with ``receipts_only``, only an older eightxeight-async holding it.
        JournalError: The file is not a bulk journal (or one written by a newer version); with
            ``receipts_only``, there is no file at ``path``.
    """

    def __init__(self, path: str | os.PathLike[str], *, receipts_only: bool = False) -> None:
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
            raise ValidationError("journal", "a path, or a Journal")
        if not isinstance(receipts_only, bool):
            raise ValidationError("receipts_only", "True or False")
        self.path = Path(path)
        self.receipts_only = receipts_only
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="eightxeight-journal"
        )
        self._closed = False
        self._connection: sqlite3.Connection | None = None
        self._lock: sqlite3.Connection | None = None
        self._keys: dict[str, int] = {}
        self._umid_index = False
        try:
            self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        mode = " receipts_only" if self.receipts_only else ""
        return f"<Journal path={str(self.path)!r}{mode}{' closed' if self._closed else ''}>"

    # --- plumbing ------------------------------------------------------------------------------

    def _busy(self) -> JournalBusyError:
        msg = (
            f"The journal {str(self.path)!r} is in use by another Journal (in another "
            "process, or open in this one); one at a time may run or reconcile its jobs."
        )
        return JournalBusyError(msg)

    def _take_lock(self) -> None:
        """Take the holder lock (``<journal>-lock``), or raise JournalBusyError."""
        lock_path = Path(f"{self.path}-lock")
        try:
            lock = sqlite3.connect(
                lock_path, isolation_level=None, check_same_thread=False, timeout=0.0
            )
        except sqlite3.Error as exc:
            msg = f"The journal's lock file {str(lock_path)!r} cannot be opened: {exc}."
            raise JournalError(msg) from None
        try:
            # EXCLUSIVE locking mode keeps the lock the transaction takes until the connection
            # closes (or the process ends): the lock file's only content is that lock.
            lock.execute("PRAGMA locking_mode=EXCLUSIVE")
            lock.execute("BEGIN EXCLUSIVE")
            lock.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            lock.close()
            if "locked" in str(exc):
                raise self._busy() from None
            msg = f"The journal's lock file {str(lock_path)!r} cannot be used: {exc}."
            raise JournalError(msg) from None
        except sqlite3.DatabaseError:
            lock.close()
            msg = f"The journal's lock file {str(lock_path)!r} is not SQLite's; remove it."
            raise JournalError(msg) from None
        self._lock = lock

    def _missing(self) -> JournalError:
        msg = (
            f"There is no journal at {str(self.path)!r}: receipts_only=True opens an existing "
            "journal and never creates one (receipts of a misspelt path would be recorded "
            "nowhere)."
        )
        return JournalError(msg)

    def _check_tables(self, connection: sqlite3.Connection) -> None:
        """Read the file (a file that is not SQLite fails here); receipts_only needs tables."""
        tables = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE name='meta'"
        ).fetchone()[0]
        if self.receipts_only and not tables:  # an empty file is not made a journal either
            msg = f"The file {str(self.path)!r} is not a bulk journal (no journal tables)."
            raise JournalError(msg)

    def _open(self) -> None:
        if self.receipts_only and not self.path.is_file():
            raise self._missing()
        try:
            # A short wait while opening: an older eightxeight-async holding the file keeps it
            # locked for its whole run, and the caller should hear so at once. receipts_only
            # opens read-write without create (mode=rw): a file removed since the check above
            # is not made anew.
            target: str | Path = self.path
            if self.receipts_only:
                target = f"{self.path.resolve().as_uri()}?mode=rw"
            connection = sqlite3.connect(
                target,
                isolation_level=None,
                check_same_thread=False,
                timeout=_OPEN_TIMEOUT,
                uri=self.receipts_only,
            )
        except sqlite3.Error as exc:
            if self.receipts_only and not self.path.is_file():
                raise self._missing() from None
            msg = f"The journal {str(self.path)!r} cannot be opened: {exc}."
            raise JournalError(msg) from None
        try:
            # Read first, so that a file that is not a journal is refused before a lock file
            # is made beside it.
            self._check_tables(connection)
            if not self.receipts_only:
                self._take_lock()
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous=FULL")
            found = self._prepare(connection)
            connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        except sqlite3.OperationalError as exc:
            connection.close()
            self._close_lock()
            if "locked" in str(exc):
                # An older eightxeight-async holds it with SQLite's own exclusive lock.
                raise self._busy() from None
            msg = f"The journal {str(self.path)!r} cannot be used: {exc}."
            raise JournalError(msg) from None
        except sqlite3.DatabaseError:
            connection.close()
            self._close_lock()
            msg = f"The file {str(self.path)!r} is not a bulk journal (not an SQLite database)."
            raise JournalError(msg) from None
        except BaseException:
            connection.close()
            self._close_lock()
            raise
        if found not in (None, "1", _SCHEMA_VERSION):
            connection.close()
            self._close_lock()
            msg = (
                f"The journal {str(self.path)!r} was written by another version of "
                f"eightxeight-async (schema {found!r}; this one reads {_SCHEMA_VERSION!r})."
            )
            raise JournalError(msg)
        if str(mode).lower() != "wal":
            connection.close()
            self._close_lock()
            msg = f"The journal {str(self.path)!r} cannot use SQLite's WAL mode here."
            raise JournalError(msg)
        self._connection = connection

    @staticmethod
    def _prepare(connection: sqlite3.Connection) -> str | None:
        """Create the tables, or bring a schema-1 file to schema 2; the schema found (or None)."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                connection.execute(statement)
            row = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            found: str | None = None if row is None else str(row[0])
            if found is None:
                connection.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            elif found == "1":
                for statement in _MIGRATE_1:
                    connection.execute(statement)
                connection.execute("UPDATE meta SET value=? WHERE key='schema'", (_SCHEMA_VERSION,))
            elif found != _SCHEMA_VERSION:
                connection.execute("ROLLBACK")
                return found
            connection.execute(_CMID_INDEX)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return found

    def _close_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _holder(self, what: str) -> None:
        if self.receipts_only:
            msg = (
                f"This Journal was opened with receipts_only=True: it cannot {what}. Open it "
                "without receipts_only (one process at a time) to run or reconcile its jobs."
            )
            raise JournalError(msg)

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
        try:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        finally:
            self._close_lock()

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

    def delivery_summary(self, job_id: str) -> DeliverySummary:
        """How many rows of the job each delivery state holds, from the receipts recorded.

        Raises:
            JournalError: The journal holds no such job.
        """
        return self._run(self._delivery_summary, job_id)

    def _delivery_summary(self, job_id: str) -> DeliverySummary:
        key = self._key(job_id)
        by_code: dict[int | None, int] = {}
        awaiting = 0
        for code, state, count in self._db.execute(
            "SELECT dstate, state, count(*) FROM rows WHERE job=? GROUP BY dstate, state", (key,)
        ):
            by_code[code] = by_code.get(code, 0) + count
            if state == _CODES[RowState.ACCEPTED] and _RANK.get(code, 0) < _FINAL_RANK:
                awaiting += count
        return DeliverySummary(
            delivered=by_code.get(3, 0) + by_code.get(6, 0),
            undelivered=by_code.get(4, 0),
            rejected=by_code.get(D_REJECTED, 0),
            awaiting=awaiting,
        )

    def rows(
        self,
        job_id: str,
        *,
        states: Iterable[RowState | str] | None = None,
        deliveries: Iterable[str] | None = None,
    ) -> Iterator[BulkResult]:
        """The job's recorded rows in row order, optionally only those in ``states``.

        Read in pages of 5,000 rows, so memory stays flat whatever the job's size.

        Args:
            job_id: The job.
            states: Only rows in these states (e.g. ``[RowState.UNKNOWN, RowState.REJECTED]``).
            deliveries: Only rows whose recorded delivery state is one of these (e.g.
                ``["undelivered", "rejected"]``); ``"none"`` names rows with no receipt yet.

        Raises:
            JournalError: The journal holds no such job.
            ValidationError: ``states`` or ``deliveries`` holds something that is not a state.
        """
        wanted: list[int] | None = None
        if states is not None:
            try:
                wanted = sorted({_CODES[RowState(s)] for s in states})
            except (ValueError, TypeError):
                raise ValidationError("states", "RowState values") from None
        delivered: list[int | None] | None = None
        if deliveries is not None:
            delivered = []
            for name in [deliveries] if isinstance(deliveries, str) else deliveries:
                if name == "none":
                    delivered.append(None)
                elif isinstance(name, str) and name in _DELIVERY_CODES:
                    delivered.append(_DELIVERY_CODES[name])
                else:
                    raise ValidationError("deliveries", _DELIVERY_RULE)
        key = self._run(self._key, job_id)
        after = -1
        while True:
            page = self._run(self._page, key, after, wanted, delivered)
            if not page:
                return
            for row, code, cmid, umid, reason, dstate, dcode, dtime in page:
                yield BulkResult(
                    row=row,
                    client_message_id=cmid if cmid is not None else row_id(job_id, row),
                    state=_STATES[code],
                    umid=unpack_umid(umid),
                    reason=reason,
                    resumed=True,
                    delivery=_DELIVERY_STATES.get(dstate),
                    delivery_error=dcode,
                    delivery_time=_stamp(dtime),
                )
            after = page[-1][0]

    def _page(
        self,
        key: int,
        after: int,
        wanted: list[int] | None,
        delivered: list[int | None] | None = None,
    ) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT row, state, cmid, umid, reason, dstate, dcode, dtime FROM rows "
            "WHERE job=? AND row>?"
        )
        params: list[Any] = [key, after]
        if wanted is not None:
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            params += wanted
        if delivered is not None:
            codes = sorted({c for c in delivered if c is not None})
            terms = [f"dstate IN ({','.join('?' * len(codes))})"] if codes else []
            params += codes
            if None in delivered:
                terms.append("dstate IS NULL")
            sql += f" AND ({' OR '.join(terms) or '0'})"
        sql += f" ORDER BY row LIMIT {_PAGE}"
        return self._db.execute(sql, params).fetchall()

    def _key(self, job_id: str) -> int:
        found = self._db.execute("SELECT id FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if found is None:
            msg = f"The journal holds no job {job_id!r}."
            raise JournalError(msg)
        key: int = found[0]
        return key

    # --- delivery receipts ---------------------------------------------------------------------

    async def record_receipts(self, receipts: Iterable[DeliveryReceipt] | DeliveryReceipt) -> int:
        """Record delivery receipts on the rows they are about; return how many rows matched.

        A receipt matches the row whose ``client_message_id`` it carries (``f"{job_id}-{row}"``,
        or the row's own id); a row already holding another umid is not it (an id used twice).
        A receipt without a ``clientMessageId`` is matched by umid. Receipts of other messages
        (the webhook gets the whole account's) match nothing and are dropped; nothing of a
        receipt but its state, error code and time is kept (no number, no text).

        Out-of-order receipts are safe: a state never replaces a later one (``queued`` <
        ``sent`` < ``delivered``, ``undelivered`` or ``rejected`` < ``read``; between two final
        states, the one 8x8 stamped later). A receipt proves 8x8 took the message: a row left
        UNKNOWN (or PENDING after ``reconcile``) becomes ACCEPTED with the receipt's umid (or
        REJECTED, for a ``rejected`` receipt), so that it is never sent again. A state this
        version does not know is skipped.

        All in one transaction, on the journal's thread; with ``receipts_only``, alongside the
        process that runs the job (see the module).

        Raises:
            ValidationError: ``receipts`` is not receipts (an iterable of
                :class:`~eightxeight_async.webhooks.DeliveryReceipt`, or one); nothing written.
        """
        try:
            batch = [receipts] if isinstance(receipts, DeliveryReceipt) else list(receipts)
        except TypeError:
            batch = [None]  # type: ignore[list-item]
        if not all(isinstance(r, DeliveryReceipt) for r in batch):
            raise ValidationError("receipts", "DeliveryReceipt objects")
        if not batch:
            return 0
        return await self._arun(self._record_receipts, batch, time.time())

    def receipt_handler(self) -> Callable[[WebhookEvent], Awaitable[None]]:
        """A handler for ``WebhookReceiver`` that records each delivery receipt in this journal.

        Other events are ignored. Receipts arriving together are written in one transaction
        (one per batch, not one per receipt); each call returns once its receipt is committed,
        so ``receiver.drain()`` waits for the writes. Example::

            receiver = WebhookReceiver(journal.receipt_handler(), authorization=SECRET)
        """
        return _ReceiptBatcher(self)

    def _record_receipts(self, receipts: list[DeliveryReceipt], now: float) -> int:
        db = self._db
        matched = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for receipt in receipts:
                code = _DELIVERY_CODES.get(str(receipt.state))
                if code is None:
                    continue
                stamp = receipt.status.timestamp
                when = now
                if stamp is not None:
                    if stamp.tzinfo is None:
                        stamp = stamp.replace(tzinfo=timezone.utc)
                    when = stamp.timestamp()
                for target in self._match(receipt):
                    matched += 1
                    self._apply(target, receipt, code, when)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return matched

    def _match(self, receipt: DeliveryReceipt) -> list[tuple[Any, ...]]:
        """The rows ``receipt`` is about: (job, row, state, umid, dstate, dtime) each."""
        db = self._db
        columns = "SELECT job, row, state, umid, dstate, dtime FROM rows"
        umid = pack_umid(receipt.umid)
        cmid = receipt.client_message_id
        if cmid is None:
            if not self._umid_index:
                db.execute(_UMID_INDEX)  # once per file (see the module)
                self._umid_index = True
            return db.execute(f"{columns} WHERE umid=?", (umid,)).fetchall()
        found = db.execute(f"{columns} WHERE cmid=?", (cmid,)).fetchall()
        job_id, dash, digits = cmid.rpartition("-")
        # "job-07" is no default id: a row's number is written without leading zeros.
        if dash and digits.isascii() and digits.isdigit() and digits == str(int(digits[:18])):
            key = self._find_key(job_id)
            if key is not None:
                found += db.execute(
                    f"{columns} WHERE job=? AND row=? AND cmid IS NULL", (key, int(digits))
                ).fetchall()
        same = [f for f in found if f[3] == umid]
        if same:
            return same
        # No umid yet: in flight (the receipt beat 8x8's answer), unknown, or accepted with
        # counts only. Only one such row may take it: two would be a guess.
        loose = [f for f in found if f[3] is None]
        return loose if len(loose) == 1 else []

    def _find_key(self, job_id: str) -> int | None:
        key = self._keys.get(job_id)
        if key is None:
            found = self._db.execute("SELECT id FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if found is None:
                return None  # not cached: the runner may create the job later
            key = self._keys[job_id] = int(found[0])
        return key

    def _apply(
        self, target: tuple[Any, ...], receipt: DeliveryReceipt, code: int, when: float
    ) -> None:
        key, row, state, _, dstate, dtime = target
        rank, held = _RANK[code], _RANK.get(dstate, 0)
        if rank < held or (rank == held and dtime is not None and when <= dtime):
            return  # late, or the same receipt again
        promoted = state in (UNKNOWN, PENDING)
        rejected = code == D_REJECTED
        if promoted:
            state = _CODES[RowState.REJECTED if rejected else RowState.ACCEPTED]
        self._db.execute(
            "UPDATE rows SET dstate=?, dcode=?, dtime=?, state=?, umid=coalesce(umid, ?),"
            " reason=CASE WHEN ? THEN ? ELSE reason END WHERE job=? AND row=?",
            (
                code,
                receipt.status.error_code,
                when,
                state,
                pack_umid(receipt.umid),
                promoted,
                RECEIPT_REJECTED if rejected else None,
                key,
                row,
            ),
        )

    # --- the runner's side ---------------------------------------------------------------------

    async def open_job(self, job_id: str, subaccount_id: str, setup: bytes) -> JobHandle:
        """Create the job, or open it again: rows left IN_FLIGHT become UNKNOWN.

        Raises:
            InputChangedError: The job exists with another template or kind of input.
        """
        return await self._arun(self._open_job, job_id, subaccount_id, setup)

    def _open_job(self, job_id: str, subaccount_id: str, setup: bytes) -> JobHandle:
        self._holder("run a job")
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
        # A row whose receipt came before the process died was taken by 8x8: the receipt says
        # so, where UNKNOWN would hold it back for reconcile.
        self._db.execute(
            "UPDATE rows SET state=CASE WHEN dstate=? THEN ? ELSE ? END,"
            " reason=CASE WHEN dstate=? THEN ? ELSE NULL END"
            " WHERE job=? AND state=? AND dstate IS NOT NULL",
            (
                D_REJECTED,
                _CODES[RowState.REJECTED],
                _CODES[RowState.ACCEPTED],
                D_REJECTED,
                RECEIPT_REJECTED,
                key,
                IN_FLIGHT,
            ),
        )
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
            # A receipt can beat the answer it belongs to (8x8 posts a "rejected" receipt at
            # once): then the row already holds its delivery state and its umid, and an answer
            # that could not be read (UNKNOWN, no umid) must not hide what the receipt proved.
            db.executemany(
                "UPDATE rows SET"
                " state=CASE WHEN ?1=?6 AND dstate IS NOT NULL"
                "  THEN (CASE WHEN dstate=?7 THEN ?8 ELSE ?9 END) ELSE ?1 END,"
                " reason=CASE WHEN ?1=?6 AND dstate IS NOT NULL"
                "  THEN (CASE WHEN dstate=?7 THEN ?10 ELSE NULL END) ELSE ?3 END,"
                " umid=coalesce(?2, umid)"
                " WHERE job=?4 AND row=?5",
                [
                    (
                        _CODES[state],
                        pack_umid(umid),
                        reason,
                        key,
                        row,
                        UNKNOWN,
                        D_REJECTED,
                        _CODES[RowState.REJECTED],
                        _CODES[RowState.ACCEPTED],
                        RECEIPT_REJECTED,
                    )
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
        self._holder("reconcile a job")
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


class _ReceiptBatcher:
    """``Journal.receipt_handler()``: receipts that arrive together, written in one transaction.

    While one batch is being written on the journal's thread, the next accumulates; each caller
    waits for the batch holding its receipt. Memory: the receipts between two commits.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._pending: list[DeliveryReceipt] = []
        self._done: asyncio.Future[int] | None = None
        self._writer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<receipt handler of {self._journal!r}>"

    async def __call__(self, event: WebhookEvent) -> None:
        if not isinstance(event, DeliveryReceipt):
            return
        loop = asyncio.get_running_loop()
        self._pending.append(event)
        if self._done is None:
            self._done = loop.create_future()
            # A waiter cancelled meanwhile must not leave "exception never retrieved" behind.
            self._done.add_done_callback(_retrieve)
        done = self._done
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._pending:
            batch, done = self._pending, self._done
            self._pending, self._done = [], None
            assert done is not None
            try:
                count = await self._journal.record_receipts(batch)
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 (each waiter gets it: the receiver logs it)
                done.set_exception(exc)
            else:
                done.set_result(count)


def _retrieve(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()
