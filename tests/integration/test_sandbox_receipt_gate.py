"""The sandbox posts a bulk job's receipts a bounded number at a time, not all at once."""

from __future__ import annotations

import asyncio
from typing import Any

from eightxeight_async import AsyncSmsClient
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.sandbox._state import RECEIPT_POSTS_IN_FLIGHT

from .conftest import eventually, serve_http

ROWS = 400


class SlowCounter:
    """An ASGI receiver that holds each post until released, counting how many wait at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.answered = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        self.answered += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_receipts_of_a_batch_go_out_a_bounded_number_at_a_time(sandbox: Sandbox) -> None:
    """Before the bound, every due receipt was posted at once: 100 (the pool) waited on the
    receiver and the rest queued past the pool timeout, failing as if the receiver were down."""
    receiver = SlowCounter()
    async with (
        serve_http(receiver) as base,
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
    ):
        await client.set_webhook(url=base)
        rows = [{"destination": f"+6591{i:06d}", "text": "hi"} for i in range(ROWS)]
        async for _ in client.send_many(rows, job_id="gate"):
            pass
        try:
            # The gate is full when exactly its size of posts wait on the receiver.
            await eventually(lambda: receiver.in_flight >= RECEIPT_POSTS_IN_FLIGHT)
            await asyncio.sleep(0.2)  # room for a post past the gate to show (none may)
        finally:
            receiver.release.set()  # else the server would wait on held posts at exit
        await eventually(lambda: receiver.answered == ROWS)
    assert receiver.most == RECEIPT_POSTS_IN_FLIGHT
    statuses = [status for _umid, _url, status in sandbox.state.dlr_attempts]
    assert statuses == [200] * ROWS
