"""The bulk runner: chunking, concurrency, lazy input, invalid rows, how each ending is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from eightxeight_async._errors import (
    APIConnectionError,
    ResponseValidationError,
    SendOutcomeUnknownError,
)
from eightxeight_async._models import SmsStatus
from eightxeight_async._models_batch import BatchMessage, BatchResponse, BatchTemplate
from eightxeight_async.bulk import InvalidRow, Journal, RowState
from eightxeight_async.bulk._job import NotSentError, check_job_id, new_job_id

from .bulk_support import (
    FakeBatches,
    accept_all,
    collect,
    collect_until_error,
    eventually,
    number,
    rows,
    runner,
    status_error,
)


async def test_chunks_of_at_most_chunk_size_with_derived_ids() -> None:
    """25 rows in chunks of 10 make 3 requests (10, 10, 5); ids are f"{job_id}-{row}"."""
    send = FakeBatches()
    results = await collect(runner(rows(25), send, job_id="spring", chunk_size=10))
    assert [len(r.messages or ()) for r in send.requests] == [10, 10, 5]
    assert sorted(send.sent_ids) == sorted(f"spring-{row}" for row in range(25))
    assert sorted(r.row for r in results) == list(range(25))
    assert {r.state for r in results} == {RowState.ACCEPTED}
    assert all(r.umid for r in results)
    assert all(r.client_message_id == f"spring-{r.row}" for r in results)
    assert all(request.include_messages_in_response for request in send.requests)
    assert len({request.client_batch_id for request in send.requests}) == 3


async def test_results_come_in_order_within_a_chunk() -> None:
    """Within one chunk, results follow the input order."""
    send = FakeBatches()
    results = await collect(runner(rows(30), send, chunk_size=10, concurrency=3))
    for start in range(0, 30, 10):
        chunk = [r.row for r in results if start <= r.row < start + 10]
        assert chunk == sorted(chunk)


async def test_callers_own_client_message_id_is_kept() -> None:
    """A row's own client_message_id is sent and reported as given."""
    send = FakeBatches()
    source: list[Any] = [
        {"destination": number(0), "text": "a", "client_message_id": "order-17"},
        BatchMessage(destination=number(1), text="b", client_message_id="order-18"),
        BatchMessage(destination=number(2), text="c"),
    ]
    results = await collect(runner(source, send, job_id="j"))
    assert [r.client_message_id for r in sorted(results, key=lambda r: r.row)] == [
        "order-17",
        "order-18",
        "j-2",
    ]
    assert send.sent_ids == ["order-17", "order-18", "j-2"]


async def test_destinations_take_the_template_text() -> None:
    """Plain numbers take the template's text; without one they are invalid."""
    send = FakeBatches()
    template = BatchTemplate(text="Sale today", source="Acme")
    results = await collect(runner([number(0), number(1)], send, template=template))
    assert {r.state for r in results} == {RowState.ACCEPTED}
    assert send.requests[0].template == template
    no_text = await collect(runner([number(0)], FakeBatches()))
    assert no_text[0].state is RowState.INVALID
    assert no_text[0].reason == "Invalid text: must be given, or template.text for every message."


async def test_invalid_rows_are_reported_and_never_sent() -> None:
    """Bad rows become INVALID results naming field and rule; the rest are sent; the job goes on."""
    send = FakeBatches()
    source: list[Any] = [
        *rows(3),
        {"destination": number(3)},  # no text, no template text
        {"destination": number(4), "text": "x", "colour": "red"},  # not a field
        12345,  # not a row at all
        InvalidRow("line 8: not valid UTF-8"),  # the reader's own refusal
        {"destination": "12", "text": "x"},
    ]
    results = {r.row: r for r in await collect(runner(source, send, chunk_size=4))}
    assert [results[row].state for row in range(3)] == [RowState.ACCEPTED] * 3
    invalid = {row: results[row].reason for row in range(3, 8)}
    assert {results[row].state for row in invalid} == {RowState.INVALID}
    assert invalid[3] == "Invalid text: must be given, or template.text for every message."
    assert invalid[4] is not None
    assert invalid[4].startswith("Invalid colour: must be a field")
    assert invalid[5] is not None
    assert invalid[5].startswith("Invalid message: must be a BatchMessage")
    assert invalid[6] == "line 8: not valid UTF-8"
    assert invalid[7] is not None
    assert invalid[7].startswith("Invalid destination: must be a phone")
    assert send.sent_ids == ["job-0", "job-1", "job-2"]
    assert results[7].destination == "**"  # masked even when short


async def test_async_iterables_are_pulled_lazily() -> None:
    """An async generator works as input, and is read only as chunk slots free up."""
    pulled = 0

    async def source() -> AsyncIterator[dict[str, Any]]:
        nonlocal pulled
        for item in rows(50):
            pulled += 1
            yield item

    send = FakeBatches()
    run = runner(source(), send, chunk_size=5, concurrency=2)
    first = await run.__anext__()
    assert first.state is RowState.ACCEPTED
    assert pulled <= 2 * 5 + 5  # at most the slots' rows, plus the chunk being refilled
    rest = [result async for result in run]
    assert len(rest) + 1 == 50 == pulled


class CountingRows:
    """An iterator that notes, at each row it hands out, how far ahead of the consumer it is."""

    def __init__(self, total: int) -> None:
        self.items = iter(rows(total))
        self.pulled = 0
        self.consumed = 0
        self.most_ahead = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        item = next(self.items)
        self.pulled += 1
        self.most_ahead = max(self.most_ahead, self.pulled - self.consumed)
        return item


@pytest.mark.parametrize(("chunk_size", "concurrency"), [(7, 1), (10, 3), (1, 4), (64, 2)])
async def test_rows_held_never_exceed_concurrency_times_chunk_size(
    chunk_size: int, concurrency: int
) -> None:
    """However slowly the caller reads, the runner holds at most concurrency * chunk_size rows."""
    source = CountingRows(500)
    run = runner(source, FakeBatches(), chunk_size=chunk_size, concurrency=concurrency)
    async for _ in run:
        source.consumed += 1
        await asyncio.sleep(0)  # a slow consumer: the producer gets every chance to run ahead
    assert source.consumed == 500
    assert source.most_ahead <= chunk_size * concurrency


async def test_concurrency_bounds_requests_in_flight() -> None:
    """No more than ``concurrency`` batch requests are ever in flight."""
    send = FakeBatches()
    send.gate = asyncio.Event()
    run = runner(rows(100), send, chunk_size=10, concurrency=3)
    task = asyncio.ensure_future(collect(run))
    await eventually(lambda: send.in_flight == 3)
    send.gate.set()
    assert len(await task) == 100
    assert send.most_in_flight == 3


async def test_rows_rejected_by_8x8_are_rejected_results() -> None:
    """A message 8x8 refuses in its 200 answer is REJECTED with 8x8's description."""
    send = FakeBatches()
    send.rejected = {"job-1"}
    results = {r.row: r for r in await collect(runner(rows(3), send))}
    assert results[1].state is RowState.REJECTED
    assert results[1].reason == "Text value is missing"
    assert results[0].state is results[2].state is RowState.ACCEPTED


# --- how each ending of a chunk's request is recorded ------------------------------------------


def endings() -> list[Any]:
    return [
        pytest.param(
            SendOutcomeUnknownError(client_batch_id="b"), RowState.UNKNOWN, False, id="unknown"
        ),
        pytest.param(
            ResponseValidationError("bad", path="$.messages"), RowState.UNKNOWN, False, id="garbled"
        ),
        pytest.param(status_error(400, 1002), RowState.REJECTED, False, id="400"),
        pytest.param(status_error(422), RowState.REJECTED, False, id="422"),
        pytest.param(status_error(400, 1001), RowState.PENDING, True, id="400-1001-subaccount"),
        pytest.param(status_error(401, 1200), RowState.PENDING, True, id="401"),
        pytest.param(status_error(403), RowState.PENDING, True, id="403"),
        pytest.param(status_error(404, 1300), RowState.PENDING, True, id="404"),
        pytest.param(status_error(426, 1014), RowState.PENDING, True, id="426"),
        pytest.param(status_error(429, 429), RowState.PENDING, True, id="429"),
        pytest.param(status_error(500, 2000), RowState.PENDING, True, id="500"),
        pytest.param(status_error(502), RowState.UNKNOWN, True, id="502"),
        pytest.param(APIConnectionError("refused"), RowState.PENDING, True, id="refused"),
        pytest.param(NotSentError("closed"), RowState.PENDING, True, id="closed-client"),
        pytest.param(KeyError("bug"), RowState.UNKNOWN, True, id="unexpected"),
    ]


@pytest.mark.parametrize(("error", "state", "stops"), endings())
async def test_each_ending_of_a_request_is_recorded(
    error: Exception, state: RowState, stops: bool, tmp_path: Path
) -> None:
    """The second chunk's ending sets its rows' state; a job-level failure stops and is raised."""
    send = FakeBatches({1: error})
    path = tmp_path / "j.db"
    run = runner(rows(40), send, journal=path, chunk_size=10, concurrency=1)
    results, raised = await collect_until_error(run)
    if stops:
        assert raised is error
        assert len(send.requests) == 2  # no chunk started after the failure
    else:
        assert raised is None
        assert len(send.requests) == 4
    second = [r for r in results if 10 <= r.row < 20]
    assert [r.state for r in second] == [state] * 10
    if isinstance(error, SendOutcomeUnknownError):
        # A single send's advice (check for client_batch_id=...) is not a job's: reconcile.
        assert all(
            r.reason == "the connection failed after the batch request was sent; run reconcile "
            "to look its rows up"
            for r in second
        )
    else:
        assert all(r.reason == str(error) for r in second)
    with Journal(path) as journal:
        stored = {r.row: r.state for r in journal.rows("job")}
    assert all(stored[row] is state for row in range(10, 20))
    assert all(stored[row] is RowState.ACCEPTED for row in range(10))
    assert RowState.IN_FLIGHT not in stored.values()


async def test_a_failing_source_stops_the_job_after_the_chunks_in_flight(tmp_path: Path) -> None:
    """The source's own exception ends the iteration, after the rows already taken were sent."""

    def source() -> Iterator[dict[str, Any]]:
        yield from rows(15)
        raise OSError("disk gone")

    send = FakeBatches()
    run = runner(source(), send, journal=tmp_path / "j.db", chunk_size=10)
    results, raised = await collect_until_error(run)
    assert isinstance(raised, OSError)
    assert sorted(r.row for r in results) == list(range(10))  # the partial chunk was never sent
    with Journal(tmp_path / "j.db") as journal:
        assert journal.summary("job")[RowState.ACCEPTED] == 10
        assert journal.summary("job")[RowState.IN_FLIGHT] == 0


async def test_stop_lets_chunks_in_flight_finish(tmp_path: Path) -> None:
    """stop() takes no more rows; the requests in flight end and their results come."""
    send = FakeBatches()
    send.gate = asyncio.Event()
    run = runner(rows(100), send, journal=tmp_path / "j.db", chunk_size=10, concurrency=2)
    task = asyncio.ensure_future(collect(run))
    await eventually(lambda: send.in_flight == 2)
    run.stop()
    send.gate.set()
    results = await task
    assert len(send.requests) == 2
    assert sorted(r.row for r in results) == list(range(20))
    assert {r.state for r in results} == {RowState.ACCEPTED}


async def test_stop_interrupts_a_wait_on_the_source() -> None:
    """stop() ends a run whose async source is waiting for its next row."""
    arrived = asyncio.Event()

    async def source() -> AsyncIterator[dict[str, Any]]:
        yield rows(1)[0]
        arrived.set()
        await asyncio.Event().wait()  # a source that never yields again
        yield rows(2)[1]  # pragma: no cover

    run = runner(source(), FakeBatches(), chunk_size=2)
    task = asyncio.ensure_future(collect(run))
    await arrived.wait()
    run.stop()
    assert await asyncio.wait_for(task, 10) == []  # the first row's chunk was never filled


async def test_leaving_the_loop_marks_requests_in_flight_unknown(tmp_path: Path) -> None:
    """aclose() mid-request abandons it: its rows are UNKNOWN in the journal, never IN_FLIGHT."""
    send = FakeBatches()
    send.gate = asyncio.Event()
    run = runner(rows(30), send, journal=tmp_path / "j.db", chunk_size=10, concurrency=2)
    task = asyncio.ensure_future(run.__anext__())
    await eventually(lambda: send.in_flight == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await run.aclose()
    with Journal(tmp_path / "j.db") as journal:
        summary = journal.summary("job")
    assert summary[RowState.UNKNOWN] == 20
    assert summary[RowState.IN_FLIGHT] == 0


def test_job_ids() -> None:
    """Generated ids meet the job-id rule; bad ones are refused with the rule."""
    assert check_job_id(new_job_id())
    assert check_job_id("a" * 40)
    for bad in ("", "a" * 41, "a b", "ä", "x/y", None, 5):
        with pytest.raises(ValueError, match=r"job_id: must be 1 to 40 of A-Z a-z 0-9 _ -"):
            check_job_id(bad)


async def test_answers_are_matched_by_client_message_id() -> None:
    """Answers in another order, one missing, an unknown code: each row gets its own outcome."""

    async def shuffled(request: Any) -> Any:
        answer = accept_all(request)
        messages = list(reversed(answer.messages))
        del messages[0]  # the last row's answer goes missing
        strange = attrs.evolve(messages[0], status=SmsStatus(code="HELD"))
        return attrs.evolve(answer, messages=(strange, *messages[1:]))

    results = {r.row: r for r in await collect(runner(rows(4), shuffled, chunk_size=4))}
    assert results[3].state is RowState.UNKNOWN
    assert "missing" in (results[3].reason or "")
    assert results[2].state is RowState.UNKNOWN
    assert "'HELD'" in (results[2].reason or "")
    assert results[0].state is results[1].state is RowState.ACCEPTED
    assert results[0].umid != results[1].umid


@pytest.mark.parametrize(
    ("accepted", "rejected", "state"),
    [(3, 0, RowState.ACCEPTED), (2, 1, RowState.UNKNOWN)],
    ids=["all-accepted", "some-rejected"],
)
async def test_an_answer_with_counts_only(accepted: int, rejected: int, state: RowState) -> None:
    """Counts without messages: all accepted is ACCEPTED (no umid); otherwise UNKNOWN."""

    async def counts_only(request: Any) -> BatchResponse:
        return BatchResponse(batch_id="b", accepted_count=accepted, rejected_count=rejected)

    results = await collect(runner(rows(3), counts_only, chunk_size=3))
    assert {r.state for r in results} == {state}
    assert {r.umid for r in results} == {None}


async def test_breaking_out_inside_async_with_abandons_the_job(tmp_path: Path) -> None:
    """A break inside ``async with run`` stops the job: requests in flight are recorded UNKNOWN."""
    send = FakeBatches()
    path = tmp_path / "j.db"
    release = asyncio.Event()

    async def slow_after_first(request: Any) -> Any:
        if send.requests:
            send.requests.append(request)
            await release.wait()  # pragma: no cover - abandoned before it ends
        return await send(request)

    async with runner(rows(30), slow_after_first, journal=path, chunk_size=10) as run:
        async for result in run:
            assert result.row == 0
            await eventually(lambda: len(send.requests) == 2)
            break
    with Journal(path) as journal:
        summary = journal.summary("job")
    assert summary[RowState.ACCEPTED] == 10
    assert summary[RowState.UNKNOWN] == 10  # the second chunk, abandoned mid-request
    assert summary[RowState.IN_FLIGHT] == 0


async def test_a_journal_that_cannot_be_written_stops_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed outcome write stops the job and is raised; the rows are UNKNOWN at the next run."""
    import sqlite3

    path = tmp_path / "j.db"
    original = Journal._after
    calls = 0

    def failing_after(self: Journal, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise sqlite3.OperationalError("database or disk is full")
        original(self, *args)

    monkeypatch.setattr(Journal, "_after", failing_after)
    run = runner(rows(40), FakeBatches(), journal=path, chunk_size=10, concurrency=1)
    results, raised = await collect_until_error(run)
    assert isinstance(raised, sqlite3.OperationalError)
    assert sorted(r.row for r in results) == list(range(10))
    monkeypatch.undo()
    again = FakeBatches()
    rerun = runner(rows(40), again, journal=path, chunk_size=10, concurrency=1)
    states = {r.row: r.state for r in await collect(rerun)}
    assert rerun.recovered == 10
    assert {states[row] for row in range(10, 20)} == {RowState.UNKNOWN}
    assert sorted(again.sent_ids) == [f"job-{row}" for row in range(20, 40)]


async def test_a_journal_object_is_used_and_left_open(tmp_path: Path) -> None:
    """A Journal given as an object records the job and stays open; counts follow the results."""
    with Journal(tmp_path / "j.db") as journal:
        send = FakeBatches()
        send.rejected = {"job-1"}
        run = runner(rows(3, bad=[2]), send, journal=journal)
        await collect(run)
        assert journal.summary("job")[RowState.ACCEPTED] == 1
        assert run.counts[RowState.ACCEPTED] == run.counts[RowState.REJECTED] == 1
        assert run.counts[RowState.INVALID] == 1
        assert sum(run.counts.values()) == 3
        assert repr(journal).startswith("<Journal path=")
    assert repr(journal).endswith(" closed>")


async def test_cancelled_before_the_request_left_puts_rows_back_to_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while its IN_FLIGHT record is written, a chunk was never sent: PENDING."""
    path = tmp_path / "j.db"
    written = asyncio.Event()
    original = Journal.before

    async def before_then_hang(self: Journal, *args: Any) -> None:
        await original(self, *args)
        written.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(Journal, "before", before_then_hang)
    send = FakeBatches()
    run = runner(rows(5), send, journal=path, chunk_size=5)
    task = asyncio.ensure_future(run.__anext__())
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await run.aclose()
    monkeypatch.undo()
    assert send.requests == []
    with Journal(path) as journal:
        assert journal.summary("job")[RowState.PENDING] == 5


async def test_expiry_before_scheduled_once_merged_with_the_template_is_invalid() -> None:
    """A row whose expiry falls before the template's scheduled time is INVALID, never sent."""
    from datetime import datetime, timedelta, timezone

    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    template = BatchTemplate(scheduled=soon + timedelta(hours=1))
    source = [{"destination": number(0), "text": "x", "expiry": soon}]
    send = FakeBatches()
    [result] = await collect(runner(source, send, template=template))
    assert result.state is RowState.INVALID
    assert (
        result.reason == "Invalid expiry: must be later than scheduled (the template's or its own)."
    )
    assert send.requests == []
