"""The bulk runner behind ``send_many``: chunks, bounded concurrency, the journal, the outcomes.

How a job runs
--------------
The input is pulled lazily, one row at a time, only when a chunk slot is free: at most
``concurrency`` chunks of at most ``chunk_size`` rows exist at once (being filled, in flight, or
waiting for the caller to take their results), so memory is bounded by ``concurrency *
chunk_size`` rows whatever the input's length. Each row is validated as ``send_batch`` would
(an invalid row becomes an INVALID result, is recorded, and is never sent), gets its
``client_message_id`` (the caller's, else ``f"{job_id}-{row}"``) and a salted hash of its
content. A chunk then:

1. on a resumed job, reads its rows' records and skips the final ones (ACCEPTED, REJECTED) and
   the UNKNOWN ones, yielding their stored state with ``resumed=True``. A valid row whose hash
   differs from its record raises :class:`InputChangedError` before anything of the chunk is
   sent (``scheduled`` and ``expiry`` are content too: give fixed times, not ``now() + ...``). An
   INVALID record is validated again: a row fixed in the input since is sent now; a PENDING row
   that no longer validates becomes INVALID.
2. commits its rows IN_FLIGHT (and new INVALID rows) in one transaction, then sends one batch
   request (``include_messages_in_response``, a fresh ``client_batch_id``),
3. commits every row's outcome in one transaction, then hands the results to the caller.

What each ending of a chunk's request means
-------------------------------------------
=============================================  ===========  ====================================
the request ended with                          its rows     the job
=============================================  ===========  ====================================
an answer (2xx)                                 ACCEPTED     goes on
                                                (umid) or
                                                REJECTED
                                                (8x8's
                                                reason), one
                                                by one
``SendOutcomeUnknownError`` (a timeout or       UNKNOWN      goes on (reconcile later)
disconnect after sending; aclose() mid-request)
a 2xx answer that could not be read             UNKNOWN      goes on (8x8 took the batch, but
(``ResponseValidationError``)                                which rows it queued is unknown)
HTTP 400 (other than code 1001) and other 4xx   REJECTED     goes on
not listed below: 8x8 refused the batch whole   (8x8's
(a rule the SDK does not check)                 sentence)
HTTP 401, 403, 404, 426, 400 with code 1001     PENDING      stops: the fault is the job's
(a key, subaccount or TLS problem), 429 or 500                (key, subaccount, limits, 8x8's
after the client's retries                                    health), not the rows'
HTTP 501-599 (may come from a proxy after       UNKNOWN      stops
8x8 got the request)
``APIConnectionError`` before sending, after    PENDING      stops
the client's retries; a closed client
any other exception while sending               UNKNOWN      stops, and it is raised
the task cancelled while sending                UNKNOWN      cancelled
the task cancelled before sending               PENDING      cancelled
the journal cannot be written after an answer   IN_FLIGHT:   stops, and it is raised
(a full disk)                                   UNKNOWN at
                                                the next run
=============================================  ===========  ====================================

"Stops" means: no further row is taken, the chunks in flight finish and their results are
yielded, then the iterator raises the error. Every row then stands in the journal; rerun to
resume. PENDING rows are sent by the rerun; UNKNOWN rows are not, until ``reconcile`` resolves
them (and, with ``resend_unknown=True``, puts the ones 8x8 never saw back to PENDING).

Why a worker thread for the journal: a chunk's transaction of 10,000 rows takes 16 to 36 ms
before the request (insert) and 26 to 38 ms after it (update), measured on this project's
2-core machine; run on the event loop, that would hold up every other chunk's I/O for as long,
twice per chunk. On the journal's own thread (sqlite3 releases the GIL while SQLite works) the
loop only waits for the result; the worst loop stall of a 50,000-row job was the same with and
without the journal (it comes from encoding and parsing 10,000-message batches, ~0.3 s each).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter, deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from types import TracebackType
from typing import Any

from .._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    UpgradeRequiredError,
    ValidationError,
)
from .._models import SmsResponse, SmsStatusCode
from .._models_batch import BatchRequest, BatchResponse, BatchTemplate, new_client_batch_id
from ._journal import JobHandle, Journal, Outcome, StoredRow
from ._results import BulkResult, InputChangedError, RowState
from ._rows import Prepared, prepare, setup_digest

__all__ = [
    "MAX_CHUNK",
    "BulkRun",
    "NotSentError",
    "SendBatch",
    "check_job_id",
    "new_job_id",
]

#: 8x8's limit of messages per batch request.
MAX_CHUNK = 10_000
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: Rows prepared between two yields to the event loop while a chunk fills.
_YIELD_EVERY = 256
_HELD_BACK = "its outcome is unknown; run reconcile before it can be sent again"
#: Recorded states a rerun never sends: final, or waiting for reconciliation.
_SETTLED = frozenset({RowState.ACCEPTED, RowState.REJECTED, RowState.UNKNOWN, RowState.IN_FLIGHT})

SendBatch = Callable[[BatchRequest], Awaitable[BatchResponse]]
"""Sends one batch request (the client's ``send_batch`` operation, or a test's fake)."""


class NotSentError(RuntimeError):
    """Raised by a :data:`SendBatch` that refused before sending anything (a closed client)."""


def check_job_id(value: object) -> str:
    """A job id as given, or ValidationError."""
    if not isinstance(value, str) or not _JOB_ID.fullmatch(value):
        raise ValidationError("job_id", "1 to 40 of A-Z a-z 0-9 _ -")
    return value


def new_job_id() -> str:
    """A fresh job id: the UTC time and 8 random hex digits, e.g. ``20261127T084500-1f2e3d4c``."""
    suffix = os.urandom(4).hex()
    while suffix.isdigit():
        # All decimal digits (2% of draws) would read as a phone number, masked wherever the
        # CLI shows the job's row ids ("...-12345678-5"): draw again.
        suffix = os.urandom(4).hex()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + suffix


#: What a SendOutcomeUnknownError says happened, without its advice for a single send.
_AMBIGUOUS = re.compile(r"accepted by 8x8: (?P<why>.+) after the request was sent\.")


def _row_reason(error: BaseException) -> str:
    """A failed request's reason, as each of its rows records it.

    An ambiguous send's advice ("check for client_batch_id=... before sending it again") is a
    single send's: a job's rows are looked up by ``reconcile``, which the reason says instead.
    """
    if isinstance(error, SendOutcomeUnknownError):
        found = _AMBIGUOUS.search(str(error))
        why = found["why"] if found else "the connection failed"
        return f"{why} after the batch request was sent; run reconcile to look its rows up"
    return str(error)


def _ending(error: BaseException) -> tuple[RowState, bool]:
    """The rows' state after a request ended with ``error``, and whether the job stops."""
    if isinstance(error, (SendOutcomeUnknownError, ResponseValidationError)):
        return RowState.UNKNOWN, False
    if isinstance(error, APIStatusError):
        job_level = isinstance(
            error,
            (
                RateLimitError,
                AuthenticationError,
                PermissionDeniedError,
                NotFoundError,
                UpgradeRequiredError,
            ),
        ) or (error.status_code == 400 and error.code == 1001)
        if job_level or error.status_code == 500:
            return RowState.PENDING, True
        if error.status_code > 500:
            return RowState.UNKNOWN, True
        return RowState.REJECTED, False
    if isinstance(error, (APIConnectionError, NotSentError)):
        # For a send, the client raises SendOutcomeUnknownError whenever the body may have left
        # (handled above); any other connection error is one that provably sent nothing.
        return RowState.PENDING, True
    return RowState.UNKNOWN, True


class _Chunk:
    """A chunk's prepared rows, and its results once done."""

    __slots__ = ("items", "results")

    def __init__(self, items: list[Prepared]) -> None:
        self.items = items
        self.results: list[BulkResult] = []


_END = object()


class BulkRun:
    """The results of a ``send_many`` job, as an async iterator of :class:`BulkResult`.

    Results come as each chunk completes: in input order within a chunk, not across chunks. On
    a resumed job, rows already final in the journal (and UNKNOWN ones, held back) are yielded
    with their stored state and ``resumed=True``; nothing is sent for them.

    Iterate it inside ``async with`` (or ``contextlib.aclosing``) so that leaving the loop early
    (``break``, an exception) stops the job at once: the requests in flight are abandoned and
    their rows recorded UNKNOWN. Without it, a ``break`` leaves the chunks in flight running
    until the iterator is garbage-collected (their outcomes are still recorded).
    :meth:`stop` stops the job gently instead: the requests in flight finish.

    Example::

        async with client.send_many(rows, job_id="sale", journal="sale.journal") as run:
            async for result in run:
                ...
    """

    def __init__(
        self,
        *,
        source: Iterable[Any] | AsyncIterable[Any],
        send: SendBatch,
        template: BatchTemplate | None,
        job_id: str,
        journal: Journal | str | os.PathLike[str] | None,
        chunk_size: int,
        concurrency: int,
        subaccount_id: str,
    ) -> None:
        self._source = source
        self._send = send
        self._template = template
        self._job_id = job_id
        self._journal_arg = journal
        self._journal: Journal | None = None
        self._chunk_size = chunk_size
        self._concurrency = concurrency
        self._subaccount_id = subaccount_id
        self._stopping = False
        self._failure: BaseException | None = None
        self._counts: Counter[RowState] = Counter()
        self._producer: asyncio.Task[None] | None = None
        self._pulling = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._iterator: AsyncIterator[BulkResult] | None = None
        self._handle: JobHandle | None = None
        # Chunks done (and _END), for the caller's loop; bounded by the slots, not by itself.
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def __repr__(self) -> str:
        return f"<BulkRun job_id={self._job_id!r}>"

    @property
    def job_id(self) -> str:
        """The job's id (generated when ``send_many`` was given none): rerun with it to resume."""
        return self._job_id

    @property
    def counts(self) -> dict[RowState, int]:
        """The results yielded so far, by state (every state present)."""
        return {state: self._counts[state] for state in RowState}

    @property
    def recovered(self) -> int:
        """Rows found IN_FLIGHT when the job was opened again (a crash), now UNKNOWN."""
        return 0 if self._handle is None else self._handle.recovered

    def stop(self) -> None:
        """Stop taking rows: the chunks in flight finish, their results come, then the loop ends.

        Rows not yet taken stay pending (not sent, not recorded); a rerun sends them. Safe to
        call from a signal handler on the event loop's thread (``loop.add_signal_handler``).
        """
        self._stopping = True
        if self._pulling and self._producer is not None:
            self._producer.cancel()  # waiting for a slot or for the source: nothing to finish

    # --- iteration -----------------------------------------------------------------------------

    def __aiter__(self) -> BulkRun:
        return self

    async def __anext__(self) -> BulkResult:
        if self._iterator is None:
            self._iterator = self._results()
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop the job now: requests in flight are abandoned and their rows recorded UNKNOWN."""
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> BulkRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _results(self) -> AsyncIterator[BulkResult]:
        owned = False
        if isinstance(self._journal_arg, Journal):
            self._journal = self._journal_arg
        elif self._journal_arg is not None:
            self._journal = await asyncio.to_thread(Journal, self._journal_arg)
            owned = True
        queue = self._queue
        slots = asyncio.Semaphore(self._concurrency)
        try:
            if self._journal is not None:
                self._handle = await self._journal.open_job(
                    self._job_id, self._subaccount_id, setup_digest(self._template)
                )
            else:
                self._handle = JobHandle(0, self._job_id, os.urandom(16), False, -1, 0)
            self._producer = asyncio.get_running_loop().create_task(self._produce(slots))
            while True:
                done = await queue.get()
                if done is _END:
                    break
                assert isinstance(done, _Chunk)
                for result in done.results:
                    self._counts[result.state] += 1
                    yield result
                slots.release()
            if self._failure is not None:
                raise self._failure
        finally:
            await self._shut_down()
            if owned and self._journal is not None:
                await asyncio.to_thread(self._journal.close)

    async def _shut_down(self) -> None:
        # Abandon whatever still runs; each chunk task records its own rows as it unwinds.
        waiting: list[asyncio.Task[None]] = list(self._tasks)
        if self._producer is not None:
            waiting.append(self._producer)
        for task in waiting:
            task.cancel()
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)

    def _fail(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
        self._stopping = True

    # --- the producer: pulls rows, fills chunks, starts them -----------------------------------

    async def _produce(self, slots: asyncio.Semaphore) -> None:
        try:
            await self._fill_chunks(slots)
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # the job was abandoned; _shut_down awaits the chunk tasks
        except Exception as exc:  # noqa: BLE001 (the caller's source raised: raised at the end)
            self._fail(exc)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queue.put_nowait(_END)

    async def _fill_chunks(self, slots: asyncio.Semaphore) -> None:
        assert self._handle is not None
        handle = self._handle
        template, job_id, salt = self._template, self._job_id, handle.salt
        size = self._chunk_size
        sync_rows: Iterator[Any] | None = None
        async_rows: AsyncIterator[Any] | None = None
        if isinstance(self._source, AsyncIterable):
            async_rows = self._source.__aiter__()
        else:
            sync_rows = iter(self._source)
        row = 0
        exhausted = False
        loop = asyncio.get_running_loop()
        while not exhausted and not self._stopping:
            self._pulling = True
            await slots.acquire()
            self._pulling = False
            if self._stopping:
                slots.release()
                return
            items: list[Prepared] = []
            while len(items) < size:
                try:
                    if async_rows is not None:
                        self._pulling = True  # stop() may cancel a wait on the source
                        item = await async_rows.__anext__()
                    else:
                        assert sync_rows is not None
                        item = next(sync_rows)
                except (StopIteration, StopAsyncIteration):
                    exhausted = True
                    break
                finally:
                    self._pulling = False
                items.append(prepare(row, item, job_id=job_id, template=template, salt=salt))
                row += 1
                if row % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let answers of chunks in flight be read meanwhile
                    if self._stopping:
                        slots.release()
                        return  # the partial chunk was never recorded: its rows stay pending
            if not items:
                slots.release()
                return
            task = loop.create_task(self._run_chunk(_Chunk(items)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- one chunk ---------------------------------------------------------------------------

    async def _run_chunk(self, chunk: _Chunk) -> None:
        try:
            await self._chunk(chunk)
        except Exception as exc:  # noqa: BLE001 (InputChangedError, a journal failure: raised at the end)
            self._fail(exc)
            chunk.results = []
        self._queue.put_nowait(chunk)

    async def _chunk(self, chunk: _Chunk) -> None:
        handle = self._handle
        journal = self._journal
        assert handle is not None
        items = chunk.items
        stored: dict[int, StoredRow] = {}
        if journal is not None and handle.resumed and items[0].row <= handle.last_row:
            stored = await journal.lookup(handle.key, items[0].row, items[-1].row)
        results: list[BulkResult | None] = [None] * len(items)
        sending: list[tuple[int, Prepared]] = []
        invalid: list[tuple[int, str]] = []
        for index, item in enumerate(items):
            record = stored.get(item.row)
            state = None if record is None else record.state
            if (
                item.message is not None
                and record is not None
                and state is not RowState.INVALID
                and record.digest != item.digest
            ):
                raise InputChangedError(handle.job_id, item.row)
            if state in _SETTLED:
                # Sent before: never again. A row that no longer validates (an expiry now past)
                # keeps its record; it cannot be sent anyway, so its hash need not match.
                assert record is not None
                results[index] = self._stored_result(item, record)
            elif item.message is None:
                assert item.reason is not None
                results[index] = BulkResult(
                    row=item.row,
                    client_message_id=item.client_message_id,
                    state=RowState.INVALID,
                    reason=item.reason,
                    destination=item.destination,
                    resumed=state is RowState.INVALID,
                )
                if state is not RowState.INVALID:
                    invalid.append((item.row, item.reason))
            else:
                sending.append((index, item))
        if journal is not None and (sending or invalid):
            try:
                await journal.before(
                    handle.key, [(p.row, p.digest, p.own_id) for _, p in sending], invalid
                )
            except asyncio.CancelledError:
                # Nothing was sent; the IN_FLIGHT record (if it landed) goes back to PENDING.
                self._record_now([(p.row, RowState.PENDING, None, None) for _, p in sending])
                raise
        if sending:
            for index, result in zip(
                (i for i, _ in sending),
                await self._send_rows([p for _, p in sending]),
                strict=True,
            ):
                results[index] = result
        chunk.results = [r for r in results if r is not None]

    def _stored_result(self, item: Prepared, record: StoredRow) -> BulkResult:
        state = RowState.UNKNOWN if record.state is RowState.IN_FLIGHT else record.state
        reason = record.reason
        if state is RowState.UNKNOWN:
            reason = f"{reason}; {_HELD_BACK}" if reason and _HELD_BACK not in reason else reason
            reason = reason or _HELD_BACK
        return BulkResult(
            row=item.row,
            client_message_id=item.client_message_id,
            state=state,
            umid=record.umid,
            reason=reason,
            destination=item.destination,
            resumed=True,
        )

    def _record_now(self, outcomes: list[Outcome]) -> None:
        """Record outcomes while the task unwinds from a cancellation (no await possible)."""
        if self._journal is not None and outcomes:
            assert self._handle is not None
            self._journal.after_now(self._handle.key, outcomes)

    async def _send_rows(self, rows: list[Prepared]) -> list[BulkResult]:
        messages = tuple(p.message for p in rows)
        request = BatchRequest(
            messages=messages,  # type: ignore[arg-type]
            template=self._template,
            client_batch_id=new_client_batch_id(),
            include_messages_in_response=True,
        )
        try:
            response = await self._send(request)
        except asyncio.CancelledError:
            reason = "the job was stopped while this row's batch request was in flight"
            self._record_now([(p.row, RowState.UNKNOWN, None, reason) for p in rows])
            raise
        except Exception as exc:  # noqa: BLE001 (every ending is recorded; _ending decides)
            state, stops = _ending(exc)
            if stops:
                self._fail(exc)
            reason = _row_reason(exc)
            outcomes: list[Outcome] = [(p.row, state, None, reason) for p in rows]
        else:
            outcomes = _outcomes(rows, response)
        if self._journal is not None:
            assert self._handle is not None
            await self._journal.after(self._handle.key, outcomes)
        return [
            BulkResult(
                row=p.row,
                client_message_id=p.client_message_id,
                state=state,
                umid=umid,
                reason=reason,
                destination=p.destination,
            )
            for p, (_, state, umid, reason) in zip(rows, outcomes, strict=True)
        ]


def _outcomes(rows: list[Prepared], response: BatchResponse) -> list[Outcome]:
    """Each row's outcome from 8x8's answer, matched by ``client_message_id``."""
    answers: Sequence[SmsResponse | None] = response.messages
    if not answers:
        if response.rejected_count == 0 and response.accepted_count == len(rows):
            return [(p.row, RowState.ACCEPTED, None, None) for p in rows]
        reason = "8x8 answered with counts only, not which rows it queued; run reconcile"
        return [(p.row, RowState.UNKNOWN, None, reason) for p in rows]
    if len(answers) != len(rows) or any(
        a is None or a.client_message_id != p.client_message_id
        for a, p in zip(answers, rows, strict=True)
    ):
        answers = _matched(rows, response.messages)
    return [_outcome(p, a) for p, a in zip(rows, answers, strict=True)]


def _matched(rows: list[Prepared], answers: tuple[SmsResponse, ...]) -> list[SmsResponse | None]:
    """The answers in the rows' order, matched by id (8x8 answered in another order)."""
    by_id: dict[str, deque[SmsResponse]] = {}
    for answer in answers:
        if answer.client_message_id is not None:
            by_id.setdefault(answer.client_message_id, deque()).append(answer)
    found: list[SmsResponse | None] = []
    for p in rows:
        same = by_id.get(p.client_message_id)
        found.append(same.popleft() if same else None)
    return found


def _outcome(p: Prepared, answer: SmsResponse | None) -> Outcome:
    if answer is None:
        return (p.row, RowState.UNKNOWN, None, "missing from 8x8's answer; run reconcile")
    code = answer.status.code
    if code == SmsStatusCode.QUEUED:
        return (p.row, RowState.ACCEPTED, answer.umid, None)
    if code == SmsStatusCode.REJECTED:
        return (p.row, RowState.REJECTED, answer.umid, answer.status.description)
    return (p.row, RowState.UNKNOWN, answer.umid, f"8x8 answered with status {str(code)[:40]!r}")
