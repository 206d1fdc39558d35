"""Tests of eightxeight_async.tracking: receipts first, get_message only for late ones.

Every test runs on the virtual-time loop (tests/virtual_time.py): timeouts and poll spacing are
read from the loop's clock, which jumps over idle waits, so nothing sleeps on the wall clock.
The fallback goes through a real AsyncSmsClient whose requests respx answers, so the client's own
details bucket (1 request/s) paces the polls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import pickle
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, MessageDetails, MessageStatus, RetryPolicy
from eightxeight_async._converters import structure_response
from eightxeight_async._tracking import FORGET_AFTER
from eightxeight_async._tracking_models import FINAL_STATES
from eightxeight_async.tracking import Delivery, DeliveryTimeoutError, DeliveryTracker
from eightxeight_async.webhooks import DeliveryReceipt, InboundMessage, parse_event

from .conftest import API_KEY, BASE_URL, PHONE, SUBACCOUNT
from .virtual_time import run_virtual

_T = TypeVar("_T")

UMID = "0f3c2b1a-1111-4e5f-8a9b-0123456789ab"
START = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
DETAILS_URL = f"{BASE_URL}/api/v1/subaccounts/{SUBACCOUNT}/messages"


def umid(n: int) -> str:
    return f"0f3c2b1a-1111-4e5f-8a9b-{n:012d}"


def receipt(
    message: str = UMID,
    state: str = "delivered",
    *,
    second: int = 0,
    subaccount: str | None = SUBACCOUNT,
    error_message: str | None = None,
) -> DeliveryReceipt:
    """A receipt as the webhook receiver gets it: 8x8's JSON read by parse_event."""
    status: dict[str, Any] = {
        "state": state,
        "timestamp": (START + timedelta(seconds=second)).isoformat().replace("+00:00", "Z"),
    }
    if error_message is not None:
        status["errorCode"] = 15
        status["errorMessage"] = error_message
    payload: dict[str, Any] = {
        "umid": message,
        "source": "Acme",
        "destination": PHONE,
        "status": status,
        "smsCount": 1,
    }
    if subaccount is not None:
        payload["subAccountId"] = subaccount
    body = {
        "namespace": "SMS",
        "eventType": "outbound_message_status_changed",
        "description": "SMS outbound message delivery receipt",
        "payload": payload,
    }
    event = parse_event(json.dumps(body).encode())
    assert isinstance(event, DeliveryReceipt)
    return event


def details_body(message: str, state: str) -> dict[str, Any]:
    """get_message's answer for a message in ``state``."""
    return {
        "umid": message,
        "subAccountId": SUBACCOUNT,
        "direction": "outbound",
        "status": {"state": state, "timestamp": "2026-11-27T09:00:05.00Z"},
        "msisdn": "+659123xxxx",
        "source": "Acme",
        "body": "**MASKED**",
        "encoding": "GSM7",
        "createdAt": "2026-11-27T09:00:00.00Z",
        "smsCount": 1,
        "price": {"total": 0.0, "perSms": 0.0, "currency": "EUR"},
    }


def details_of(message: str, state: str) -> MessageDetails:
    """get_message's answer as the client returns it."""
    details: MessageDetails = structure_response(details_body(message, state), MessageDetails)
    return details


def new_client() -> AsyncSmsClient:
    """A client at 8x8's real details limit (1 request/s, burst 1), no retries."""
    return AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUBACCOUNT, retry=RetryPolicy(max_attempts=1)
    )


class Details:
    """A respx side effect answering get_message from a script of states per message.

    Records when each request was made (virtual time) and how many were in flight at once.
    """

    def __init__(self, states: dict[str, list[str | int]], *, hold: float = 0.0) -> None:
        self.states = {k: list(v) for k, v in states.items()}
        self.calls: list[tuple[float, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.hold = hold

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        message = request.url.path.rsplit("/", 1)[1]
        self.calls.append((asyncio.get_running_loop().time(), message))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            script = self.states.get(message) or [404]
            step = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(step, int):
                body = {"code": 1300, "message": "Message not found", "errorId": "e-1"}
                return httpx.Response(step, json=body)
            return httpx.Response(200, json=details_body(message, step))
        finally:
            self.in_flight -= 1

    def times(self, message: str = UMID) -> list[float]:
        return [at for at, m in self.calls if m == message]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router for 8x8's APAC host; unknown requests fail the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def route_details(api: respx.MockRouter, details: Details) -> respx.Route:
    return api.get(url__startswith=DETAILS_URL).mock(side_effect=details)


def virtual(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main`` on the virtual-time loop; a hang fails after 3 virtual days, at once."""

    async def guarded() -> _T:
        return await asyncio.wait_for(main(), FORGET_AFTER + 86400)

    return run_virtual(guarded)


async def turns(n: int = 5) -> None:
    """Let other tasks run ``n`` loop turns (no time passes)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def assert_empty(tracker: DeliveryTracker) -> None:
    """Nothing is left of the messages: no entry, no heap item, no poller task (once the
    poller has had a turn to see that)."""
    await turns()
    assert len(tracker) == 0
    assert tracker._heap == []
    assert tracker._poller is None


# --- receipts ----------------------------------------------------------------------------------


def test_wait_resolves_from_a_final_receipt() -> None:
    """A wait started before the receipt returns the receipt's final state, via "receipt"."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=30))
        await turns()
        assert len(tracker) == 1
        tracker.feed(receipt(state="delivered"))
        delivery = await waiting
        await assert_empty(tracker)
        return delivery

    delivery = virtual(main)
    assert delivery.umid == UMID
    assert delivery.state == e.MessageState.DELIVERED
    assert delivery.delivered
    assert delivery.via == "receipt"
    assert delivery.receipt is not None
    assert delivery.receipt.umid == UMID
    assert delivery.details is None


@pytest.mark.parametrize("state", sorted(FINAL_STATES - {"failed"}))
def test_every_final_receipt_state_ends_a_wait(state: str) -> None:
    """delivered, undelivered, rejected and read each end a wait; delivered is true for two."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID))
        await turns()
        tracker.feed(receipt(state=state))
        return await waiting

    delivery = virtual(main)
    assert delivery.state == state
    assert delivery.delivered is (state in ("delivered", "read"))


def test_a_receipt_that_beats_wait_is_kept_for_it() -> None:
    """The OTP race: the receipt comes before wait() is called; wait returns it at once."""

    async def main() -> tuple[Delivery, float]:
        loop = asyncio.get_running_loop()
        tracker = DeliveryTracker()
        tracker.feed(receipt(state="undelivered", error_message="Invalid destination"))
        assert len(tracker._unclaimed) == 1
        started = loop.time()
        delivery = await tracker.wait(UMID, timeout=10)
        assert len(tracker._unclaimed) == 1  # kept for a later wait on the same message
        await assert_empty(tracker)
        return delivery, loop.time() - started

    delivery, took = virtual(main)
    assert delivery.state == "undelivered"
    assert delivery.status.error_code == 15
    assert not delivery.delivered
    assert took < 0.001


def test_non_final_receipts_do_not_end_a_wait_and_show_in_the_timeout() -> None:
    """queued and sent are remembered; at the timeout the error names the last one."""

    async def main() -> tuple[DeliveryTimeoutError, float]:
        loop = asyncio.get_running_loop()
        tracker = DeliveryTracker()
        started = loop.time()
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=30))
        await turns()
        tracker.feed(receipt(state="queued", second=1))
        tracker.feed(receipt(state="sent", second=2))
        with pytest.raises(DeliveryTimeoutError) as caught:
            await waiting
        elapsed = loop.time() - started
        await assert_empty(tracker)
        return caught.value, elapsed

    err, elapsed = virtual(main)
    assert 30 - 0.01 <= elapsed <= 30 + 0.01
    assert err.umid == UMID
    assert err.timeout == 30
    assert err.last_status is not None
    assert err.last_status.state == "sent"
    assert isinstance(err, TimeoutError)
    assert isinstance(err, asyncio.TimeoutError)
    assert isinstance(err, e.EightXEightError)
    assert (
        str(err) == f"No final delivery state for message {UMID!r} within 30 s (last state sent)."
    )


def test_out_of_order_receipts_keep_the_newest_status_and_the_first_final() -> None:
    """A late "queued" does not hide "sent"; "sent" after "delivered" does not undo it."""

    async def main() -> tuple[MessageStatus | None, Delivery]:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=5))
        await turns()
        tracker.feed(receipt(state="sent", second=2))
        tracker.feed(receipt(state="queued", second=1))  # older, arrives later
        with pytest.raises(DeliveryTimeoutError) as caught:
            await waiting
        # Now a final state, then stragglers of every kind, before the next wait.
        tracker.feed(receipt(state="undelivered", second=5))
        tracker.feed(receipt(state="sent", second=2))
        tracker.feed(receipt(state="delivered", second=6))
        return caught.value.last_status, await tracker.wait(UMID, timeout=5)

    last, delivery = virtual(main)
    assert last is not None
    assert last.state == "sent"
    assert delivery.state == "undelivered"


def test_many_waiters_on_one_message_all_get_the_same_delivery() -> None:
    """Several waits on one message each return the one Delivery."""

    async def main() -> list[Delivery]:
        tracker = DeliveryTracker()
        waits = [asyncio.create_task(tracker.wait(UMID)) for _ in range(50)]
        await turns()
        assert len(tracker) == 1
        tracker.feed(receipt())
        done = await asyncio.gather(*waits)
        await assert_empty(tracker)
        return done

    done = virtual(main)
    assert len(done) == 50
    assert all(d is done[0] for d in done)


def test_thousands_of_waits_resolve_and_leave_nothing() -> None:
    """5,000 messages waited on, their receipts fed in reverse: all resolve, memory returns to
    the bound of the table of remembered final states."""

    async def main() -> None:
        tracker = DeliveryTracker(max_unclaimed=10)
        messages = [umid(n) for n in range(5000)]
        waits = {m: asyncio.create_task(tracker.wait(m, timeout=600)) for m in messages}
        await turns()
        assert len(tracker) == 5000
        for m in reversed(messages):
            tracker.feed(receipt(m, "sent"))
            tracker.feed(receipt(m, "delivered", second=3))
        for m, task in waits.items():
            assert (await task).umid == m
        await assert_empty(tracker)
        assert list(tracker._unclaimed) == messages[9::-1]  # the last 10 to become final

    virtual(main)


def test_the_heap_stays_in_proportion_to_the_messages_in_flight() -> None:
    """Messages that end leave no heap item behind for long: 2,000 waits, 1,990 resolved, at
    most 2 items per message still waited on (plus a little slack) remain."""

    async def main() -> None:
        tracker = DeliveryTracker()
        waits = [asyncio.create_task(tracker.wait(umid(n), timeout=600)) for n in range(2000)]
        await turns()
        assert len(tracker._heap) == 2000
        for n in range(10, 2000):  # the first ten, due first, stay at the head of the heap
            tracker.feed(receipt(umid(n)))
        await turns()
        assert len(tracker) == 10
        assert len(tracker._heap) <= 2 * 10 + 16
        for n in range(10):
            tracker.feed(receipt(umid(n)))
        await asyncio.gather(*waits)
        await assert_empty(tracker)

    virtual(main)


def test_cancelling_one_waiter_leaves_the_others() -> None:
    """A cancelled wait leaves; the other waits on the message still resolve."""

    async def main() -> None:
        tracker = DeliveryTracker()
        first = asyncio.create_task(tracker.wait(UMID))
        second = asyncio.create_task(tracker.wait(UMID))
        await turns()
        first.cancel()
        await turns()
        assert first.cancelled()
        assert len(tracker) == 1
        assert len(tracker._entries[UMID].waiters) == 1
        tracker.feed(receipt())
        assert (await second).delivered
        await assert_empty(tracker)

    virtual(main)


def test_cancelling_the_last_waiter_forgets_the_message() -> None:
    """When the only wait is cancelled, the tracker holds nothing for the message."""

    async def main() -> None:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID))
        await turns()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await assert_empty(tracker)

    virtual(main)


def test_a_delivery_that_races_a_cancellation_is_kept_for_the_next_wait() -> None:
    """The receipt resolves a wait in the same turn the wait is cancelled: not lost."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID))
        await turns()
        tracker.feed(receipt())
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return await tracker.wait(UMID, timeout=0)

    assert virtual(main).delivered


def test_wait_after_a_timeout_gets_the_receipt_that_came_in_between() -> None:
    """A wait gives up; the receipt comes; the next wait returns it at once."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        with pytest.raises(DeliveryTimeoutError):
            await tracker.wait(UMID, timeout=1)
        await assert_empty(tracker)
        tracker.feed(receipt(state="rejected"))
        return await tracker.wait(UMID, timeout=0)

    assert virtual(main).state == "rejected"


def test_unclaimed_receipts_are_bounded_least_recent_first() -> None:
    """Receipts nobody waits on are kept for max_unclaimed messages; the oldest go first."""

    async def main() -> None:
        tracker = DeliveryTracker(max_unclaimed=3)
        for n in range(10):
            tracker.feed(receipt(umid(n)))
        assert list(tracker._unclaimed) == [umid(7), umid(8), umid(9)]
        tracker.feed(receipt(umid(7), "read"))  # touched: now the most recent
        tracker.feed(receipt(umid(10)))
        assert list(tracker._unclaimed) == [umid(9), umid(7), umid(10)]
        # the first final state stands: 7 stays delivered, not read
        assert (await tracker.wait(umid(7), timeout=0)).state == "delivered"
        with pytest.raises(DeliveryTimeoutError):
            await tracker.wait(umid(8), timeout=0)

    virtual(main)


def test_max_unclaimed_zero_keeps_nothing() -> None:
    """With max_unclaimed=0 a receipt nobody waits on is dropped."""

    async def main() -> None:
        tracker = DeliveryTracker(max_unclaimed=0)
        tracker.feed(receipt())
        tracker.feed(receipt(state="sent"))
        assert len(tracker._unclaimed) == 0
        with pytest.raises(DeliveryTimeoutError) as caught:
            await tracker.wait(UMID, timeout=0)
        assert caught.value.last_status is None

    virtual(main)


def test_a_non_final_receipt_before_wait_becomes_the_last_status() -> None:
    """An early "sent" receipt is what a later wait's timeout reports."""

    async def main() -> DeliveryTimeoutError:
        tracker = DeliveryTracker()
        tracker.feed(receipt(state="sent"))
        with pytest.raises(DeliveryTimeoutError) as caught:
            await tracker.wait(UMID, timeout=2)
        return caught.value

    err = virtual(main)
    assert err.last_status is not None
    assert err.last_status.state == "sent"


def test_handle_feeds_receipts_and_ignores_other_events() -> None:
    """handle() is a WebhookReceiver handler: receipts go in, inbound messages are ignored."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        await tracker.handle(InboundMessage(umid=UMID, body="hello"))
        assert len(tracker._unclaimed) == 0
        await tracker.handle(receipt())
        return await tracker.wait(UMID, timeout=0)

    assert virtual(main).via == "receipt"


def test_a_tracked_message_nobody_waits_on_is_forgotten_after_48_hours() -> None:
    """track() without wait(): the entry leaves FORGET_AFTER later; memory returns to 0."""

    async def main() -> None:
        tracker = DeliveryTracker()
        tracker.track(UMID)
        assert len(tracker) == 1
        await asyncio.sleep(FORGET_AFTER - 60)
        assert len(tracker) == 1
        await asyncio.sleep(120)
        await assert_empty(tracker)

    virtual(main)


def test_a_tracked_message_whose_receipt_comes_before_wait_resolves_at_once() -> None:
    """track(), then the final receipt, then wait(): the wait returns the kept delivery."""

    async def main() -> Delivery:
        tracker = DeliveryTracker()
        tracker.track(UMID)
        tracker.feed(receipt(state="sent"))
        tracker.feed(receipt(state="delivered"))
        assert len(tracker) == 0
        tracker.track(UMID)  # a final state is already known: nothing to track
        assert len(tracker) == 0
        return await tracker.wait(UMID, timeout=0)

    assert virtual(main).delivered


# --- closing -----------------------------------------------------------------------------------


def test_aclose_fails_the_waiters_and_refuses_new_calls() -> None:
    """aclose() ends every wait with RuntimeError; track/wait then raise; feed is ignored."""

    async def main() -> None:
        tracker = DeliveryTracker()
        async with tracker:
            waits = [asyncio.create_task(tracker.wait(umid(n))) for n in range(3)]
            await turns()
        for task in waits:
            with pytest.raises(RuntimeError, match="closed"):
                await task
        await assert_empty(tracker)
        tracker.feed(receipt())
        assert len(tracker._unclaimed) == 0
        with pytest.raises(RuntimeError, match="closed"):
            tracker.track(UMID)
        with pytest.raises(RuntimeError, match="closed"):
            await tracker.wait(UMID)
        with pytest.raises(RuntimeError, match="reopen"):
            async with tracker:
                pass
        await tracker.aclose()  # again: nothing happens

    virtual(main)


def test_aclose_stops_the_poller_mid_request(api: respx.MockRouter) -> None:
    """aclose() during a get_message cancels the poller; the tracker holds no task."""
    details = Details({UMID: ["sent"]}, hold=30.0)
    route_details(api, details)

    async def main() -> None:
        async with new_client() as client:
            tracker = DeliveryTracker(client, poll_after=1)
            waiting = asyncio.create_task(tracker.wait(UMID))
            await asyncio.sleep(5)
            assert details.in_flight == 1
            poller = tracker._poller
            await tracker.aclose()
            assert poller is not None
            assert poller.done()
            with pytest.raises(RuntimeError):
                await waiting
            await assert_empty(tracker)

    virtual(main)


# --- the get_message fallback ------------------------------------------------------------------


def test_a_late_receipt_falls_back_to_get_message_at_poll_after_then_poll_every(
    api: respx.MockRouter,
) -> None:
    """No receipt: polled at poll_after, then every poll_every, until a final state."""
    details = Details({UMID: ["queued", "sent", "delivered"]})
    route = route_details(api, details)

    async def main() -> tuple[Delivery, float]:
        loop = asyncio.get_running_loop()
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=60, poll_every=30) as tracker,
        ):
            started = loop.time()
            tracker.track(UMID)
            delivery = await tracker.wait(UMID, timeout=600)
            await assert_empty(tracker)
            return delivery, started

    delivery, started = virtual(main)
    offsets = [at - started for at in details.times()]
    assert offsets == pytest.approx([60, 90, 120], abs=0.01)
    assert delivery.via == "poll"
    assert delivery.receipt is None
    assert isinstance(delivery.details, MessageDetails)
    assert delivery.details.umid == UMID
    assert delivery.state == "delivered"
    assert route.calls.last.request.url.path == f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}"


def test_failed_details_end_a_wait() -> None:
    """The details' "failed" (a receipt's "rejected") is final when polled."""

    async def main() -> Delivery:
        class Source:
            async def get_message(
                self, umid: str, *, subaccount_id: str | None = None
            ) -> MessageDetails:
                return details_of(umid, "failed")

        async with DeliveryTracker(Source(), poll_after=1) as tracker:
            return await tracker.wait(UMID, timeout=600)

    delivery = virtual(main)
    assert (delivery.state, delivery.via, delivery.delivered) == ("failed", "poll", False)


def test_a_receipt_in_time_means_no_get_message(api: respx.MockRouter) -> None:
    """Receipts come before poll_after: get_message is never called."""
    details = Details({})
    route = route_details(api, details)

    async def main() -> None:
        async with new_client() as client, DeliveryTracker(client, poll_after=60) as tracker:
            for n in range(20):
                tracker.track(umid(n))
            waits = [asyncio.create_task(tracker.wait(umid(n))) for n in range(20)]
            await asyncio.sleep(59)
            for n in range(20):
                tracker.feed(receipt(umid(n)))
            await asyncio.gather(*waits)
            await asyncio.sleep(600)
            await assert_empty(tracker)

    virtual(main)
    assert route.call_count == 0


def test_polls_go_one_at_a_time_through_the_clients_details_bucket(
    api: respx.MockRouter,
) -> None:
    """Ten late messages: one get_message in flight at a time, paced at 1 request/s."""
    details = Details({umid(n): ["delivered"] for n in range(10)}, hold=0.2)
    route_details(api, details)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        async with new_client() as client, DeliveryTracker(client, poll_after=10) as tracker:
            started = loop.time()
            waits = [asyncio.create_task(tracker.wait(umid(n), timeout=600)) for n in range(10)]
            done = await asyncio.gather(*waits)
            assert all(d.via == "poll" for d in done)
            return started

    started = virtual(main)
    assert details.most_in_flight == 1
    times = [at - started for at, _ in details.calls]
    assert len(times) == 10
    assert times[0] == pytest.approx(10, abs=0.01)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 - 0.01  # the client's limiter, not the tracker, sets the pace
    assert [m for _, m in details.calls] == [umid(n) for n in range(10)]  # due order


def test_a_404_early_on_is_not_yet_known(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """8x8's details lag: an early 404 is logged at DEBUG and the message polled again."""
    details = Details({UMID: [404, 404, "delivered"]})
    route_details(api, details)

    async def main() -> Delivery:
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=5, poll_every=5) as tracker,
        ):
            return await tracker.wait(UMID, timeout=60)

    with caplog.at_level(logging.DEBUG, logger="eightxeight_async.tracking"):
        delivery = virtual(main)
    assert delivery.via == "poll"
    assert len(details.times()) == 3
    records = [r for r in caplog.records if r.name == "eightxeight_async.tracking"]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]


def test_a_404_long_after_tracking_is_a_warning(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404 ten minutes on means a wrong umid or subaccount: logged as a warning."""
    route_details(api, Details({UMID: [404]}))

    async def main() -> None:
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=700, poll_every=60) as tracker,
        ):
            with pytest.raises(DeliveryTimeoutError):
                await tracker.wait(UMID, timeout=710)

    with caplog.at_level(logging.DEBUG, logger="eightxeight_async.tracking"):
        virtual(main)
    records = [r for r in caplog.records if r.name == "eightxeight_async.tracking"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "does not know message" in records[0].getMessage()


def test_a_failing_poll_is_logged_without_secrets_and_tried_again(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 is logged (no key, no number) and the message polled at the next due time."""
    details = Details({UMID: [500, "sent", "delivered"]})
    route_details(api, details)

    async def main() -> tuple[Delivery, float]:
        loop = asyncio.get_running_loop()
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=10, poll_every=20) as tracker,
        ):
            started = loop.time()
            tracker.track(UMID)
            tracker.feed(receipt(state="queued"))  # a number is in this receipt
            return await tracker.wait(UMID, timeout=600), started

    with caplog.at_level(logging.DEBUG):
        delivery, started = virtual(main)
    assert delivery.via == "poll"
    assert [at - started for at in details.times()] == pytest.approx([10, 30, 50], abs=0.01)
    warnings = [r for r in caplog.records if r.name == "eightxeight_async.tracking"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "HTTP 500" in text
    assert UMID in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert API_KEY not in logged
    assert PHONE[3:] not in logged


def test_a_receipt_during_an_in_flight_poll_wins_and_stops_polling(
    api: respx.MockRouter,
) -> None:
    """The receipt resolves the wait while get_message is out; its answer changes nothing."""
    details = Details({UMID: ["sent"]}, hold=3.0)
    route_details(api, details)

    async def main() -> Delivery:
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=5, poll_every=5) as tracker,
        ):
            waiting = asyncio.create_task(tracker.wait(UMID))
            await asyncio.sleep(6)
            assert details.in_flight == 1
            tracker.feed(receipt(state="undelivered"))
            delivery = await waiting
            await asyncio.sleep(100)
            await assert_empty(tracker)
            return delivery

    delivery = virtual(main)
    assert delivery.via == "receipt"
    assert delivery.state == "undelivered"
    assert len(details.calls) == 1


def test_a_final_poll_answer_after_the_waits_ended_is_kept(api: respx.MockRouter) -> None:
    """The wait times out while get_message is out; its final answer serves the next wait."""
    details = Details({UMID: ["delivered"]}, hold=3.0)
    route_details(api, details)

    async def main() -> Delivery:
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            with pytest.raises(DeliveryTimeoutError):
                await tracker.wait(UMID, timeout=6)
            await asyncio.sleep(5)
            return await tracker.wait(UMID, timeout=0)

    delivery = virtual(main)
    assert delivery.via == "poll"
    assert len(details.calls) == 1


def test_track_then_wait_keeps_the_first_clock(api: respx.MockRouter) -> None:
    """The late-receipt clock starts at track(), not at the later wait()."""
    details = Details({UMID: ["delivered"]})
    route_details(api, details)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        async with new_client() as client, DeliveryTracker(client, poll_after=60) as tracker:
            started = loop.time()
            tracker.track(UMID)
            await asyncio.sleep(40)
            await tracker.wait(UMID, timeout=600)
            return started

    started = virtual(main)
    assert [at - started for at in details.times()] == pytest.approx([60], abs=0.01)


def test_the_poll_uses_the_subaccount_given_or_the_receipts(api: respx.MockRouter) -> None:
    """wait(subaccount_id=) is polled under that subaccount; else a receipt's subaccount."""
    other = api.get(url__startswith=f"{BASE_URL}/api/v1/subaccounts/other_sub/messages").mock(
        side_effect=Details({umid(1): ["delivered"], umid(2): ["delivered"]})
    )

    async def main() -> None:
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            await tracker.wait(umid(1), subaccount_id="other_sub", timeout=600)
            waiting = asyncio.create_task(tracker.wait(umid(2), timeout=600))
            await turns()
            tracker.feed(receipt(umid(2), "sent", subaccount="other_sub"))
            await waiting

    virtual(main)
    assert other.call_count == 2


def test_a_tracked_message_nobody_waits_on_is_polled_then_kept(api: respx.MockRouter) -> None:
    """track() alone: the poll's final answer is kept for the later wait."""
    details = Details({UMID: ["delivered"]})
    route_details(api, details)

    async def main() -> Delivery:
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            tracker.track(UMID)
            await asyncio.sleep(10)
            await assert_empty(tracker)
            return await tracker.wait(UMID, timeout=0)

    assert virtual(main).via == "poll"
    assert len(details.calls) == 1


def test_an_unexpected_error_in_the_client_does_not_stop_the_poller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A get_message that raises something odd is logged; polling goes on."""

    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        async def get_message(
            self, umid: str, *, subaccount_id: str | None = None
        ) -> MessageDetails:
            self.calls += 1
            if self.calls == 1:
                raise KeyError("odd")
            return details_of(umid, "delivered")

    source = Flaky()

    async def main() -> Delivery:
        async with DeliveryTracker(source, poll_after=1, poll_every=1) as tracker:
            return await tracker.wait(UMID, timeout=10)

    with caplog.at_level(logging.ERROR, logger="eightxeight_async.tracking"):
        assert virtual(main).via == "poll"
    assert source.calls == 2
    assert len(caplog.records) == 1


# --- checks, reprs, pickles --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field"),
    [
        pytest.param(lambda: DeliveryTracker(poll_after=-1), "poll_after", id="poll-after-neg"),
        pytest.param(
            lambda: DeliveryTracker(poll_after=float("nan")), "poll_after", id="poll-after-nan"
        ),
        pytest.param(lambda: DeliveryTracker(poll_every=0), "poll_every", id="poll-every-0"),
        pytest.param(lambda: DeliveryTracker(poll_every=True), "poll_every", id="poll-every-bool"),
        pytest.param(lambda: DeliveryTracker(max_unclaimed=-1), "max_unclaimed", id="unclaimed"),
        pytest.param(
            lambda: DeliveryTracker(max_unclaimed=1.5),  # type: ignore[arg-type]
            "max_unclaimed",
            id="unclaimed-float",
        ),
    ],
)
def test_settings_out_of_range_are_refused(make: Callable[[], object], field: str) -> None:
    """Each setting is checked when the tracker is made."""
    with pytest.raises(e.ValidationError) as caught:
        make()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"umid": ""}, "umid", id="empty-umid"),
        pytest.param({"umid": "a/b"}, "umid", id="slash-umid"),
        pytest.param({"umid": 5}, "umid", id="int-umid"),
        pytest.param({"umid": UMID, "timeout": -1}, "timeout", id="negative-timeout"),
        pytest.param({"umid": UMID, "timeout": float("inf")}, "timeout", id="inf-timeout"),
        pytest.param({"umid": UMID, "subaccount_id": "x"}, "subaccount_id", id="short-sub"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    api: respx.MockRouter, kwargs: dict[str, Any], field: str
) -> None:
    """wait() and track() check their arguments first; nothing is tracked or sent."""

    async def main() -> None:
        async with new_client() as client, DeliveryTracker(client, poll_after=0) as tracker:
            with pytest.raises(e.ValidationError) as caught:
                await tracker.wait(**kwargs)
            assert caught.value.field == field
            track_kwargs = {k: v for k, v in kwargs.items() if k != "timeout"}
            if "timeout" not in kwargs:
                with pytest.raises(e.ValidationError):
                    tracker.track(**track_kwargs)
            await asyncio.sleep(10)
            await assert_empty(tracker)

    virtual(main)
    assert len(api.calls) == 0


def test_reprs_hold_no_number() -> None:
    """The tracker's and a Delivery's repr show no phone number or error text's number."""

    async def main() -> tuple[DeliveryTracker, Delivery]:
        tracker = DeliveryTracker()
        tracker.feed(receipt(state="undelivered", error_message=f"Number {PHONE} unknown"))
        return tracker, await tracker.wait(UMID, timeout=0)

    tracker, delivery = virtual(main)
    for text in (repr(tracker), repr(delivery)):
        assert PHONE[3:] not in text
    assert repr(tracker) == "<DeliveryTracker tracking=0 remembered=1 polling=off>"


def test_the_timeout_error_pickles_without_the_number() -> None:
    """DeliveryTimeoutError round-trips through pickle; a quoted number is masked in it."""
    status = MessageStatus(state="sent", error_message=f"Routed to {PHONE}")
    err = DeliveryTimeoutError(UMID, last_status=status, timeout=5)
    data = pickle.dumps(err)
    assert PHONE[3:].encode() not in data
    copy = pickle.loads(data)
    assert type(copy) is DeliveryTimeoutError
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert (copy.umid, copy.timeout) == (UMID, 5)
    assert copy.last_status is not None
    assert copy.last_status.state == "sent"
    assert err.last_status is status  # the live error keeps what it was given
    assert type(copy).__module__ == "eightxeight_async"


def test_public_names_report_the_public_module() -> None:
    """The three names are exported by the package too, and report it (reprs, pickles)."""
    import eightxeight_async
    import eightxeight_async.tracking

    for cls in (DeliveryTracker, Delivery, DeliveryTimeoutError):
        assert cls.__module__ == "eightxeight_async"
        assert getattr(eightxeight_async, cls.__name__) is cls
        assert getattr(eightxeight_async.tracking, cls.__name__) is cls
        assert cls.__doc__


# --- properties over orders of events ----------------------------------------------------------

STATES = ["queued", "sent", "delivered", "undelivered", "rejected", "read"]

events = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(STATES), st.integers(0, 50)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(feeds=events, waits_per=st.integers(1, 3))
def test_every_wait_gets_the_first_final_receipt_fed(
    feeds: list[tuple[int, str, int]], waits_per: int
) -> None:
    """Waits first, receipts in any order: each wait returns its message's first final
    receipt, or times out with the newest non-final status; nothing is left afterwards."""

    async def main() -> None:
        tracker = DeliveryTracker()
        waits = {
            n: [asyncio.create_task(tracker.wait(umid(n), timeout=100)) for _ in range(waits_per)]
            for n in range(4)
        }
        await turns()
        for n, state, second in feeds:
            tracker.feed(receipt(umid(n), state, second=second))
        for n, tasks in waits.items():
            mine = [(state, second) for m, state, second in feeds if m == n]
            finals = [state for state, _ in mine if state in FINAL_STATES]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            if finals:
                assert all(isinstance(r, Delivery) for r in results)
                assert {r.state for r in results if isinstance(r, Delivery)} == {finals[0]}
            else:
                assert all(isinstance(r, DeliveryTimeoutError) for r in results)
                first = results[0]
                last = first.last_status if isinstance(first, DeliveryTimeoutError) else None
                if not mine:
                    assert last is None
                else:
                    newest = max(second for _, second in mine)
                    assert last is not None
                    assert last.timestamp == START + timedelta(seconds=newest)
        await assert_empty(tracker)
        # Receipts after the waits ended are kept, at most one per message.
        assert len(tracker._unclaimed) <= 4

    virtual(main)


@settings(max_examples=150, deadline=None)
@given(feeds=events)
def test_a_wait_after_the_receipts_gets_the_first_final_state(
    feeds: list[tuple[int, str, int]],
) -> None:
    """Receipts first (the OTP race), in any order: a later wait returns the first final one."""

    async def main() -> None:
        tracker = DeliveryTracker()
        for n, state, second in feeds:
            tracker.feed(receipt(umid(n), state, second=second))
        for n in range(4):
            finals = [s for m, s, _ in feeds if m == n and s in FINAL_STATES]
            if finals:
                assert (await tracker.wait(umid(n), timeout=0)).state == finals[0]
            else:
                with pytest.raises(DeliveryTimeoutError):
                    await tracker.wait(umid(n), timeout=0)
        await assert_empty(tracker)
        # What is known of each message waited on is remembered, one item per message.
        assert len(tracker._unclaimed) == 4

    virtual(main)
