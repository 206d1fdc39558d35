"""DeliveryTracker against the real sandbox (TLS 1.3): receipts posted over HTTP, and polling.

The sandbox posts each message's final receipt to a WebhookReceiver served by uvicorn on
127.0.0.1, whose handler is ``tracker.handle``; where a receipt goes nowhere (no webhook, or a
``dlrCallbackUrl`` nobody listens on) the tracker falls back to ``get_message`` through the
client's own 1 request/s details bucket.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from eightxeight_async import AsyncSmsClient, MessageState
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.tracking import Delivery, DeliveryTracker
from eightxeight_async.webhooks import WebhookReceiver

from .conftest import eventually, serve_http

pytestmark = pytest.mark.integration

AUTH = "Basic dHJhY2tlcjpzM2NyZXQtdmFsdWU="

#: The sandbox's test numbers and the final state each ends in (any other number: delivered).
OUTCOMES = {
    "+6591234567": "delivered",
    "+6591234568": "delivered",
    "+15550100001": "undelivered",
    "+15550100002": "undelivered",
    "+15550100003": "rejected",  # REJECTED in the 200: its receipt says "rejected"
}


def attempts(sandbox: Sandbox, umid: str) -> list[int | None]:
    """The HTTP statuses the sandbox got when posting the receipt of ``umid``, in order."""
    return [status for u, _url, status in sandbox.state.dlr_attempts if u == umid]


def closed_port_url() -> str:
    """A 127.0.0.1 URL nobody listens on: posts to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"


async def test_receipts_posted_by_the_sandbox_resolve_the_waits(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Every message's wait ends from its receipt (delivered, undelivered, rejected); no poll."""
    async with (
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
        DeliveryTracker(client, poll_after=30) as tracker,
    ):
        receiver = WebhookReceiver(tracker.handle, authorization=AUTH, allowed_ips=["127.0.0.1"])
        async with serve_http(receiver) as base:
            await client.set_webhook(url=base, http_authorization=AUTH)
            sent = {}
            for number, outcome in OUTCOMES.items():
                response = await client.send_sms(destination=number, text="Your code is 123456")
                tracker.track(response.umid)
                sent[response.umid] = outcome
            done = await asyncio.gather(*(tracker.wait(u, timeout=20) for u in sent))
            await receiver.drain()
        assert len(tracker) == 0
    for delivery in done:
        assert delivery.via == "receipt"
        assert delivery.state == sent[delivery.umid]
        assert delivery.receipt is not None
        assert delivery.receipt.subaccount_id == sandbox.subaccount_id
        assert attempts(sandbox, delivery.umid) == [200]
    assert [d.delivered for d in done] == [s == "delivered" for s in sent.values()]
    assert not [r for r in caplog.records if r.name == "eightxeight_async.tracking"]


async def test_a_receipt_that_beats_wait_is_not_lost(sandbox: Sandbox) -> None:
    """The OTP race: the receipt arrives before wait() is called; wait returns it at once."""
    async with (
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
        DeliveryTracker(client, poll_after=30) as tracker,
    ):
        receiver = WebhookReceiver(tracker.handle, authorization=AUTH)
        async with serve_http(receiver) as base:
            await client.set_webhook(url=base, http_authorization=AUTH)
            sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
            await eventually(lambda: attempts(sandbox, sent.umid) == [200])
            await receiver.drain()
            delivery = await tracker.wait(sent.umid, timeout=0)
    assert delivery.via == "receipt"
    assert delivery.state is MessageState.DELIVERED


async def test_late_receipts_fall_back_to_get_message_through_the_details_bucket(
    sandbox: Sandbox, client: AsyncSmsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Receipts go nowhere (no webhook): each message is looked up once, one request at a time
    through the client's 1 request/s bucket (no 429 from the sandbox), on both transports."""
    async with DeliveryTracker(client, poll_after=0.3, poll_every=0.5) as tracker:
        sent = {}
        for number, outcome in OUTCOMES.items():
            response = await client.send_sms(destination=number, text="Your code is 123456")
            tracker.track(response.umid)
            sent[response.umid] = "failed" if outcome == "rejected" else outcome
        with caplog.at_level(logging.DEBUG, logger="eightxeight_async.tracking"):
            done: list[Delivery] = await asyncio.gather(
                *(tracker.wait(u, timeout=30) for u in sent)
            )
        assert len(tracker) == 0
    for delivery in done:
        assert delivery.via == "poll"
        assert delivery.state == sent[delivery.umid]  # details say "failed" for "rejected"
        assert delivery.details is not None
        assert delivery.details.umid == delivery.umid
    # Polled 0.3 s after the send, every message was final at its first lookup: one each.
    assert len(sandbox.state.details_times[sandbox.subaccount_id]) == len(sent)
    assert sandbox.state.rate_limited[sandbox.subaccount_id] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_receipts_and_polls_mix_per_message(sandbox: Sandbox) -> None:
    """Messages whose dlrCallbackUrl reaches the receiver resolve via receipt; those whose
    callback URL refuses every post (all five of 8x8's tries) resolve via get_message."""
    async with (
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
        DeliveryTracker(client, poll_after=5.0, poll_every=0.5) as tracker,
    ):
        receiver = WebhookReceiver(tracker.handle, authorization=None)
        async with serve_http(receiver) as base:
            dead = closed_port_url()
            expected = {}
            for n in range(6):
                callback = base if n % 2 == 0 else dead
                response = await client.send_sms(
                    destination=f"+659123456{n}", text="hi", dlr_callback_url=callback
                )
                tracker.track(response.umid)
                expected[response.umid] = "receipt" if n % 2 == 0 else "poll"
            done = await asyncio.gather(*(tracker.wait(u, timeout=30) for u in expected))
            await receiver.drain()
    assert {d.umid: d.via for d in done} == expected
    assert all(d.delivered for d in done)
    for umid, via in expected.items():
        if via == "poll":
            assert attempts(sandbox, umid) == [None] * 5  # refused, retried, given up


async def test_waits_after_a_resolved_one_get_the_same_delivery_without_a_lookup(
    sandbox: Sandbox,
) -> None:
    """A real wait resolved by a posted receipt; the next waits on the message timed out with
    "nothing heard yet", or fell back to get_message after poll_after (issue 12, item 6)."""
    async with (
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
        DeliveryTracker(client, poll_after=30) as tracker,
    ):
        receiver = WebhookReceiver(tracker.handle, authorization=AUTH)
        async with serve_http(receiver) as base:
            await client.set_webhook(url=base, http_authorization=AUTH)
            sent = await client.send_sms(destination="+15550100001", text="Your code is 123456")
            tracker.track(sent.umid)
            first = await tracker.wait(sent.umid, timeout=20)
            await receiver.drain()
            second = await tracker.wait(sent.umid, timeout=1)
            # Without a timeout: before the fix it waited for a lookup poll_after (30 s) away.
            third = await asyncio.wait_for(tracker.wait(sent.umid), 10)
        assert len(tracker) == 0
    assert first.via == "receipt"
    assert first.state == "undelivered"
    assert second is first
    assert third is first
    assert sandbox.state.details_times[sandbox.subaccount_id] == []
