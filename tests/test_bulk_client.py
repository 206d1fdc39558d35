"""send_many on the client: its arguments, and whole jobs over an in-memory fake of 8x8."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from eightxeight_async import APIConnectionError, AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async.bulk import Journal, RowState

from .bulk_support import collect_until_error, number, rows

BASE = "https://sms.8x8.com"
BATCH_PATH = "/api/v1/subaccounts/acme_hq/messages/batch"


class FakeEightByEight:
    """8x8's batch endpoint in memory: queues every message, or fails as told."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail: dict[int, Exception | int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == BATCH_PATH
        index = len(self.bodies)
        body = json.loads(request.content)
        self.bodies.append(body)
        failure = self.fail.get(index)
        if isinstance(failure, Exception):
            raise failure
        if isinstance(failure, int):
            return httpx.Response(failure, json={"code": 1002, "message": "Invalid MSISDN"})
        answers = [
            {
                "umid": str(uuid.uuid4()),
                "destination": m["destination"],
                "encoding": "GSM7",
                "status": {"code": "QUEUED", "description": "queued"},
                "clientMessageId": m["clientMessageId"],
            }
            for m in body["messages"]
        ]
        return httpx.Response(
            200,
            json={
                "batchId": str(uuid.uuid4()),
                "clientBatchId": body["clientBatchId"],
                "acceptedCount": len(answers),
                "rejectedCount": 0,
                "messages": answers,
            },
        )


def client_over(fake: FakeEightByEight, **kwargs: Any) -> AsyncSmsClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return AsyncSmsClient(
        api_key="k",
        subaccount_id="acme_hq",
        http_client=http,
        rate_limits=RateLimits(send_per_second=1e6, send_burst=10**6),
        **kwargs,
    )


async def test_send_many_sends_batches_through_the_client(tmp_path: Path) -> None:
    """The requests carry the messages, their ids and the template; results carry 8x8's umids."""
    fake = FakeEightByEight()
    client = client_over(fake)
    async with client:
        run = client.send_many(
            [number(row) for row in range(5)],
            template={"text": "Sale", "source": "Acme"},
            job_id="sale",
            journal=tmp_path / "j.db",
            chunk_size=2,
        )
        assert run.job_id == "sale"
        results = [r async for r in run]
    assert [len(b["messages"]) for b in fake.bodies] == [2, 2, 1]
    first = fake.bodies[0]
    assert first["template"] == {"text": "Sale", "source": "Acme"}
    assert first["includeMessagesInResponse"] is True
    assert [m["clientMessageId"] for m in first["messages"]] == ["sale-0", "sale-1"]
    assert "text" not in first["messages"][0]
    assert {r.state for r in results} == {RowState.ACCEPTED}
    with Journal(tmp_path / "j.db") as journal:
        assert journal.summary("sale")[RowState.ACCEPTED] == 5
        stored = {r.row: r.umid for r in journal.rows("sale")}
    assert stored == {r.row: r.umid for r in results}


async def test_a_timeout_after_sending_leaves_the_chunk_unknown() -> None:
    """A read timeout on a batch is SendOutcomeUnknownError in the client: UNKNOWN rows, job on."""
    fake = FakeEightByEight()
    fake.fail[0] = httpx.ReadTimeout("slow")
    client = client_over(fake)
    async with client:
        results = [r async for r in client.send_many(rows(4), job_id="j", chunk_size=2)]
    states = {r.row: r.state for r in results}
    assert [states[row] for row in range(4)] == [RowState.UNKNOWN] * 2 + [RowState.ACCEPTED] * 2
    assert len(fake.bodies) == 2  # never replayed


async def test_a_connection_refused_puts_rows_back_and_stops() -> None:
    """A connection that never opened sent nothing: rows PENDING, the job stops with the error."""
    fake = FakeEightByEight()
    fake.fail[1] = httpx.ConnectError("refused")
    client = client_over(fake, retry=RetryPolicy.never())
    async with client:
        run = client.send_many(rows(6), job_id="j", chunk_size=2, concurrency=1)
        seen, raised = await collect_until_error(run)
    assert isinstance(raised, APIConnectionError)
    assert [r.state for r in seen] == [RowState.ACCEPTED] * 2 + [RowState.PENDING] * 2
    assert len(fake.bodies) == 2


async def test_a_400_for_the_whole_batch_rejects_its_rows() -> None:
    """8x8 refusing a batch whole (HTTP 400) makes its rows REJECTED with the sentence; job on."""
    fake = FakeEightByEight()
    fake.fail[0] = 400
    client = client_over(fake)
    async with client:
        results = [r async for r in client.send_many(rows(3), job_id="j", chunk_size=2)]
    rejected = [r for r in results if r.state is RowState.REJECTED]
    assert [r.row for r in rejected] == [0, 1]
    assert rejected[0].reason is not None
    assert "HTTP 400, code 1002" in rejected[0].reason


async def test_a_client_closed_mid_job_sends_nothing_more() -> None:
    """Closing the client while rows remain: the next chunk is PENDING, the job stops."""
    fake = FakeEightByEight()
    client = client_over(fake)
    async with client:
        run = client.send_many(rows(6), job_id="j", chunk_size=2, concurrency=1)
        first = await run.__anext__()
        await client.aclose()
        rest, raised = await collect_until_error(run)
    assert isinstance(raised, RuntimeError)
    assert "nothing was sent" in str(raised)
    assert first.state is RowState.ACCEPTED
    assert {r.state for r in rest} <= {RowState.ACCEPTED, RowState.PENDING}
    assert RowState.PENDING in {r.state for r in rest}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"messages": "+6591234567"}, "messages", id="a-string"),
        pytest.param({"messages": {"destination": "x"}}, "messages", id="a-mapping"),
        pytest.param({"messages": 5}, "messages", id="not-iterable"),
        pytest.param({"job_id": "has space"}, "job_id", id="job-id"),
        pytest.param({"chunk_size": 0}, "chunk_size", id="chunk-0"),
        pytest.param({"chunk_size": 10_001}, "chunk_size", id="chunk-over"),
        pytest.param({"chunk_size": True}, "chunk_size", id="chunk-bool"),
        pytest.param({"concurrency": 0}, "concurrency", id="concurrency-0"),
        pytest.param({"concurrency": 257}, "concurrency", id="concurrency-over"),
        pytest.param({"journal": 5}, "journal", id="journal"),
        pytest.param({"template": {"text": ""}}, "template.text", id="template"),
        pytest.param({"timeout": -1}, "timeout", id="timeout"),
        pytest.param({"subaccount_id": "x"}, "subaccount_id", id="subaccount"),
    ],
)
async def test_bad_arguments_are_refused_before_any_io(kwargs: dict[str, Any], field: str) -> None:
    """Each bad argument raises ValidationError naming it, at the call, with nothing sent."""
    fake = FakeEightByEight()
    arguments: dict[str, Any] = {"messages": rows(1), **kwargs}
    client = client_over(fake)
    async with client:
        with pytest.raises(ValueError, match=f"Invalid {field}:") as raised:
            client.send_many(arguments.pop("messages"), **arguments)
    assert raised.value.__context__ is None or field == "template.text"
    assert fake.bodies == []


async def test_send_many_on_a_closed_client_raises_at_once() -> None:
    """A closed client refuses send_many at the call."""
    client = client_over(FakeEightByEight())
    async with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.send_many(rows(1))


async def test_a_generated_job_id_is_readable_and_used() -> None:
    """Without job_id, one is generated, readable on the run, and prefixes every id."""
    fake = FakeEightByEight()
    client = client_over(fake)
    async with client:
        run = client.send_many(rows(2))
        results = [r async for r in run]
    assert all(r.client_message_id == f"{run.job_id}-{r.row}" for r in results)
    assert repr(run) == f"<BulkRun job_id={run.job_id!r}>"
