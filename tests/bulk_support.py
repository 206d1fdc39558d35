"""Shared pieces of the bulk tests: a fake batch endpoint, status errors, rows, a runner."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import Any

import httpx

from eightxeight_async._errors import ErrorBody, error_from_response
from eightxeight_async._models import Encoding, SmsResponse, SmsStatus, SmsStatusCode
from eightxeight_async._models_batch import BatchRequest, BatchResponse, BatchTemplate
from eightxeight_async.bulk import BulkResult, BulkRun, Journal

SUBACCOUNT = "acme_hq"


def number(row: int) -> str:
    """A valid destination per row (no sandbox test number among them)."""
    return f"+6591{row:06d}"


def rows(count: int, *, bad: Iterable[int] = ()) -> list[dict[str, Any]]:
    """``count`` message mappings; the rows in ``bad`` have an invalid destination."""
    broken = set(bad)
    return [
        {"destination": "12" if row in broken else number(row), "text": f"row {row}"}
        for row in range(count)
    ]


def status_error(status: int, code: int | None = None, message: str = "refused") -> Exception:
    """The SDK's error for an HTTP error answer."""
    response = httpx.Response(status, request=httpx.Request("POST", "https://sms.8x8.com/x"))
    return error_from_response(response, ErrorBody(code=code, message=message), retry_after=None)


def accept_all(request: BatchRequest, *, rejected: Iterable[str] = ()) -> BatchResponse:
    """8x8's answer queuing every message of ``request`` but those named in ``rejected``."""
    refused = set(rejected)
    assert request.messages is not None
    answers = tuple(
        SmsResponse(
            umid=str(uuid.uuid4()),
            destination=m.destination,
            encoding=Encoding.GSM7,
            status=SmsStatus(code=SmsStatusCode.REJECTED, description="Text value is missing")
            if m.client_message_id in refused
            else SmsStatus(code=SmsStatusCode.QUEUED, description="queued"),
            client_message_id=m.client_message_id,
        )
        for m in request.messages
    )
    return BatchResponse(
        batch_id=str(uuid.uuid4()),
        accepted_count=len(answers) - len(refused),
        rejected_count=len(refused),
        client_batch_id=request.client_batch_id,
        messages=answers,
    )


class FakeBatches:
    """A batch endpoint: answers every request, or raises what ``plan`` holds for its index.

    ``gate``, when set, is awaited by every request (to hold requests in flight).
    """

    def __init__(self, plan: dict[int, BaseException] | None = None) -> None:
        self.plan = plan or {}
        self.requests: list[BatchRequest] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate: asyncio.Event | None = None
        self.rejected: set[str] = set()

    @property
    def sent_ids(self) -> list[str]:
        """Every client_message_id sent, in order, repeats included."""
        return [m.client_message_id or "" for r in self.requests for m in r.messages or ()]

    async def __call__(self, request: BatchRequest) -> BatchResponse:
        index = len(self.requests)
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            error = self.plan.get(index)
            if error is not None:
                raise error
            return accept_all(request, rejected=self.rejected)
        finally:
            self.in_flight -= 1


def runner(
    source: Iterable[Any] | AsyncIterable[Any],
    send: Any,
    *,
    journal: Journal | str | Path | None = None,
    job_id: str = "job",
    chunk_size: int = 10,
    concurrency: int = 2,
    template: BatchTemplate | None = None,
) -> BulkRun:
    """A BulkRun over a fake sender (what send_many builds over the client)."""
    return BulkRun(
        source=source,
        send=send,
        template=template,
        job_id=job_id,
        journal=journal,
        chunk_size=chunk_size,
        concurrency=concurrency,
        subaccount_id=SUBACCOUNT,
    )


async def collect(run: BulkRun) -> list[BulkResult]:
    """Every result of a run."""
    return [result async for result in run]


async def eventually(check: Any, *, limit: float = 30.0) -> None:
    """Wait until ``check()`` holds (the journal works on its own thread); a guard, not a timer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


async def collect_until_error(run: BulkRun) -> tuple[list[BulkResult], Exception | None]:
    """Every result of a run, and the error that ended it (None when it ended normally)."""
    results: list[BulkResult] = []
    try:
        async for result in run:
            results.append(result)
    except Exception as exc:  # the test looks at it
        return results, exc
    return results, None
