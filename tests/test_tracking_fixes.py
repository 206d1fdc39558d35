"""DeliveryTracker after an outside user's findings (issue 12, items 6 and 7).

6. A final state was forgotten once one wait had returned it: the next wait timed out with
   "nothing heard yet", or fell back to polling. Now recent final states (and the last status of
   messages whose waits gave up) stay in the bounded ``max_unclaimed`` table.
7. Bad input failed late or not at all: ``feed(None)`` raised a bare AttributeError,
   ``DeliveryTracker("not a client")`` was accepted and every poll logged a traceback. Now each
   public call refuses what it cannot use with a ValidationError(field, rule), before any state
   changes.

Every test runs on the virtual-time loop, as in tests/test_tracking.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import respx

import eightxeight_async as e
from eightxeight_async import MessageStatus
from eightxeight_async.tracking import Delivery, DeliveryTimeoutError, DeliveryTracker
from eightxeight_async.webhooks import (
    DeliveryReceipt,
    InboundMessage,
    SurveyResponse,
    UnknownEvent,
)

from .conftest import BASE_URL
from .test_tracking import (
    UMID,
    Details,
    api,  # noqa: F401 - the fixture
    assert_empty,
    details_of,
    new_client,
    receipt,
    route_details,
    turns,
    umid,
    virtual,
)

# --- 6: a known final state is returned to every later wait -------------------------------------


def test_a_second_wait_after_a_fed_receipt_gets_the_same_delivery() -> None:
    """feed(final); wait() returns it; a second wait() returned nothing but a timeout."""

    async def main() -> tuple[Delivery, Delivery, float]:
        loop = asyncio.get_running_loop()
        tracker = DeliveryTracker()
        tracker.feed(receipt(state="delivered"))
        first = await tracker.wait(UMID)
        started = loop.time()
        second = await tracker.wait(UMID, timeout=1)
        third = await tracker.wait(UMID, timeout=0)
        assert third is second
        await assert_empty(tracker)
        return first, second, loop.time() - started

    first, second, took = virtual(main)
    assert second is first
    assert took < 0.001  # at once: no timeout, no poll


def test_a_second_wait_after_a_resolved_wait_gets_it_without_polling(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """A real wait resolved by a receipt; the next wait polled get_message after poll_after."""
    details = Details({UMID: ["sent"]})
    route = route_details(api, details)

    async def main() -> tuple[Delivery, Delivery]:
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            waiting = asyncio.create_task(tracker.wait(UMID, timeout=30))
            await turns()
            tracker.feed(receipt(state="undelivered"))
            first = await waiting
            second = await tracker.wait(UMID, timeout=30)
            await asyncio.sleep(60)  # a poll, had one been scheduled, would have gone out
            await assert_empty(tracker)
            return first, second

    first, second = virtual(main)
    assert second is first
    assert second.state == "undelivered"
    assert route.call_count == 0


def test_a_second_wait_after_a_polled_final_gets_it_at_once(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """The receipt was late and a poll found the final state: later waits get it, no poll."""
    details = Details({UMID: ["delivered"]})
    route_details(api, details)

    async def main() -> tuple[Delivery, Delivery, float]:
        loop = asyncio.get_running_loop()
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            first = await tracker.wait(UMID, timeout=30)
            started = loop.time()
            second = await tracker.wait(UMID, timeout=30)
            return first, second, loop.time() - started

    first, second, took = virtual(main)
    assert first.via == "poll"
    assert second is first
    assert took < 0.001  # at once: no timeout, no poll
    assert len(details.calls) == 1


def test_waiters_at_once_and_after_all_get_the_same_delivery() -> None:
    """Three waits at once, then one after they returned: one Delivery for all four."""

    async def main() -> list[Delivery]:
        tracker = DeliveryTracker()
        waits = [asyncio.create_task(tracker.wait(UMID, timeout=10)) for _ in range(3)]
        await turns()
        tracker.feed(receipt(state="delivered"))
        tracker.feed(receipt(state="read", second=5))  # the first final state stands
        results = list(await asyncio.gather(*waits))
        results.append(await tracker.wait(UMID, timeout=0))
        return results

    results = virtual(main)
    assert all(r is results[0] for r in results)
    assert results[0].state == "delivered"


def test_remembered_final_states_stay_within_max_unclaimed() -> None:
    """Memory stays bounded: resolved waits share the max_unclaimed table, least recent out."""

    async def main() -> None:
        tracker = DeliveryTracker(max_unclaimed=5)
        for n in range(50):
            waiting = asyncio.create_task(tracker.wait(umid(n), timeout=10))
            await turns(2)
            tracker.feed(receipt(umid(n)))
            await waiting
            assert len(tracker._unclaimed) <= 5
        await assert_empty(tracker)
        assert list(tracker._unclaimed) == [umid(n) for n in range(45, 50)]
        await tracker.wait(umid(46), timeout=0)  # used: now the most recent
        tracker.feed(receipt(umid(50)))
        assert list(tracker._unclaimed) == [umid(n) for n in (47, 48, 49, 46, 50)]
        with pytest.raises(DeliveryTimeoutError):
            await tracker.wait(umid(45), timeout=0)  # forgotten, as documented

    virtual(main)


def test_max_unclaimed_zero_remembers_no_final_state() -> None:
    """max_unclaimed=0 still means nothing is kept once the waits have ended."""

    async def main() -> None:
        tracker = DeliveryTracker(max_unclaimed=0)
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=10))
        await turns()
        tracker.feed(receipt())
        assert (await waiting).delivered
        assert len(tracker._unclaimed) == 0
        with pytest.raises(DeliveryTimeoutError) as caught:
            await tracker.wait(UMID, timeout=0)
        assert "nothing heard" not in str(caught.value)

    virtual(main)


def test_a_second_timeout_still_reports_what_was_heard() -> None:
    """wait() heard "sent" and timed out; the next wait's timeout said "nothing heard yet"."""

    async def main() -> tuple[DeliveryTimeoutError, DeliveryTimeoutError]:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=5))
        await turns()
        tracker.feed(receipt(state="sent", second=2))
        with pytest.raises(DeliveryTimeoutError) as first:
            await waiting
        with pytest.raises(DeliveryTimeoutError) as second:
            await tracker.wait(UMID, timeout=5)
        await assert_empty(tracker)
        assert len(tracker._unclaimed) == 1
        return first.value, second.value

    first, second = virtual(main)
    for err in (first, second):
        assert err.last_status is not None
        assert err.last_status.state == "sent"
        assert "last state sent" in str(err)
        assert "nothing heard" not in str(err)


def test_a_status_polled_after_the_waits_ended_is_remembered(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """A poll answering "sent" after the last wait gave up: the next timeout reports it."""
    details = Details({UMID: ["sent"]}, hold=3)
    route_details(api, details)

    async def main() -> DeliveryTimeoutError:
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=0, poll_every=600) as tracker,
        ):
            with pytest.raises(DeliveryTimeoutError) as first:
                await tracker.wait(UMID, timeout=1)  # the poll is still in flight
            assert first.value.last_status is None
            await asyncio.sleep(5)  # the poll's answer comes
            await assert_empty(tracker)
            with pytest.raises(DeliveryTimeoutError) as second:
                await tracker.wait(UMID, timeout=0)
            return second.value

    err = virtual(main)
    assert err.last_status is not None
    assert err.last_status.state == "sent"


def test_a_tracked_message_forgotten_after_48_hours_keeps_its_last_status() -> None:
    """track(), a "sent" receipt, 48 hours of silence: a late wait still knows it was sent."""

    async def main() -> DeliveryTimeoutError:
        tracker = DeliveryTracker()
        tracker.track(UMID)
        tracker.feed(receipt(state="sent"))
        await asyncio.sleep(49 * 3600)
        await assert_empty(tracker)
        with pytest.raises(DeliveryTimeoutError) as caught:
            await tracker.wait(UMID, timeout=0)
        return caught.value

    err = virtual(main)
    assert err.last_status is not None
    assert err.last_status.state == "sent"


def test_a_wait_after_a_timed_out_one_keeps_the_subaccount_and_the_clock(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """track(subaccount_id=) then a wait that timed out: the next wait forgot both the
    subaccount (it polled the client's, where the message is unknown) and track()'s clock."""
    other = Details({UMID: ["delivered"]})
    route = api.get(url__startswith=f"{BASE_URL}/api/v1/subaccounts/other_sub/messages").mock(
        side_effect=other
    )

    async def main() -> tuple[Delivery, float]:
        loop = asyncio.get_running_loop()
        async with new_client() as client, DeliveryTracker(client, poll_after=60) as tracker:
            started = loop.time()
            tracker.track(UMID, subaccount_id="other_sub")
            with pytest.raises(DeliveryTimeoutError):
                await tracker.wait(UMID, timeout=10)
            await asyncio.sleep(20)
            return await tracker.wait(UMID, timeout=600), started

    delivery, started = virtual(main)
    assert delivery.via == "poll"
    assert route.call_count == 1
    assert [at - started for at in other.times()] == pytest.approx([60], abs=0.01)


def test_a_receipts_subaccount_is_kept_for_a_later_wait(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """A "sent" receipt before any wait: the wait's poll goes to the receipt's subaccount."""
    other = Details({UMID: ["delivered"]})
    route = api.get(url__startswith=f"{BASE_URL}/api/v1/subaccounts/other_sub/messages").mock(
        side_effect=other
    )

    async def main() -> Delivery:
        async with new_client() as client, DeliveryTracker(client, poll_after=5) as tracker:
            tracker.feed(receipt(state="sent", subaccount="other_sub"))
            return await tracker.wait(UMID, timeout=600)

    assert virtual(main).via == "poll"
    assert route.call_count == 1


def test_waits_one_after_another_keep_the_lookup_schedule(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """Waits of 5 s in a loop: each new wait restarted the clock, so the fallback poll (due
    60 s after the first) never came; it must come at 60 s, then every 60 s, not every wait."""
    details = Details({UMID: ["sent"]})
    route_details(api, details)

    async def main() -> tuple[float, DeliveryTimeoutError]:
        loop = asyncio.get_running_loop()
        async with (
            new_client() as client,
            DeliveryTracker(client, poll_after=60, poll_every=60) as tracker,
        ):
            started = loop.time()
            last = None
            for _ in range(30):  # 150 s of waiting
                with pytest.raises(DeliveryTimeoutError) as caught:
                    await tracker.wait(UMID, timeout=5)
                last = caught.value
            assert last is not None
            return started, last

    started, last = virtual(main)
    assert [at - started for at in details.times()] == pytest.approx([60, 120], abs=0.01)
    assert last.last_status is not None
    assert last.last_status.state == "sent"


def test_a_wait_begun_during_a_lookup_gets_its_answer(
    api: respx.MockRouter,  # noqa: F811 - the fixture
) -> None:
    """A wait timed out while get_message was in flight and a new wait began: the final
    answer was parked past the new wait, which then asked 8x8 a second time."""
    details = Details({UMID: ["delivered"]}, hold=3)
    route_details(api, details)

    async def main() -> tuple[Delivery, float]:
        loop = asyncio.get_running_loop()
        async with new_client() as client, DeliveryTracker(client, poll_after=0) as tracker:
            started = loop.time()
            with pytest.raises(DeliveryTimeoutError):
                await tracker.wait(UMID, timeout=1)
            delivery = await tracker.wait(UMID, timeout=600)
            return delivery, loop.time() - started

    delivery, took = virtual(main)
    assert delivery.via == "poll"
    assert len(details.calls) == 1
    assert took == pytest.approx(3, abs=0.01)


def test_the_timeout_message_without_a_status_does_not_claim_nothing_was_heard() -> None:
    """With no status known, the message says so, not "nothing heard yet"."""
    err = DeliveryTimeoutError(UMID, timeout=5)
    assert str(err) == f"No final delivery state for message {UMID!r} within 5 s (no status known)."


def test_aclose_forgets_the_remembered_states() -> None:
    """aclose() empties the table; a late poll answer or receipt after it is not kept."""

    async def main() -> DeliveryTracker:
        tracker = DeliveryTracker()
        tracker.feed(receipt())
        await tracker.wait(UMID)
        await tracker.aclose()
        tracker.feed(receipt(umid(1)))
        return tracker

    tracker = virtual(main)
    assert len(tracker._unclaimed) == 0


# --- 7: bad input is refused with a ValidationError naming what was expected -------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param({"umid": "x"}, id="dict"),
        pytest.param("str", id="str"),
        pytest.param(InboundMessage(umid=UMID, body="hi"), id="inbound"),
        pytest.param(MessageStatus(state="delivered"), id="status"),
    ],
)
def test_feed_refuses_what_is_not_a_receipt(value: object) -> None:
    """feed(None) / feed({...}) / feed("str") raised a bare AttributeError."""

    async def main() -> e.ValidationError:
        tracker = DeliveryTracker()
        with pytest.raises(e.ValidationError) as caught:
            tracker.feed(value)  # type: ignore[arg-type]
        assert len(tracker._unclaimed) == 0
        return caught.value

    err = virtual(main)
    assert err.field == "receipt"
    assert "DeliveryReceipt" in str(err)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"umid": None}, "receipt.umid", id="umid-none"),
        pytest.param({"umid": ""}, "receipt.umid", id="umid-empty"),
        pytest.param({"umid": "a/b"}, "receipt.umid", id="umid-slash"),
        pytest.param({"status": None}, "receipt.status", id="status-none"),
        pytest.param({"status": {"state": "delivered"}}, "receipt.status", id="status-dict"),
        pytest.param(
            {"status": MessageStatus(state=None)},  # type: ignore[arg-type]
            "receipt.status",
            id="state-none",
        ),
        pytest.param({"subaccount_id": 5}, "receipt.subaccount_id", id="subaccount-int"),
    ],
)
def test_feed_refuses_a_hand_made_receipt_it_cannot_file(
    fields: dict[str, Any], field: str
) -> None:
    """attrs does not check types: DeliveryReceipt(umid=None, ...) failed deep in the tracker."""
    made: dict[str, Any] = {"umid": UMID, "status": MessageStatus(state="delivered")}
    made.update(fields)
    bad = DeliveryReceipt(**made)

    async def main() -> e.ValidationError:
        tracker = DeliveryTracker()
        waiting = asyncio.create_task(tracker.wait(UMID, timeout=10))
        await turns()
        with pytest.raises(e.ValidationError) as caught:
            tracker.feed(bad)
        with pytest.raises(e.ValidationError):
            await tracker.handle(bad)
        assert len(tracker._unclaimed) == 0
        assert not waiting.done()
        tracker.feed(receipt())  # the tracker is unharmed
        assert (await waiting).delivered
        return caught.value

    assert virtual(main).field == field


def test_feed_refuses_bad_input_even_when_closed() -> None:
    """A closed tracker ignores receipts, but a wrong argument is still the caller's bug."""

    async def main() -> None:
        tracker = DeliveryTracker()
        await tracker.aclose()
        tracker.feed(receipt())  # ignored
        with pytest.raises(e.ValidationError):
            tracker.feed(None)  # type: ignore[arg-type]

    virtual(main)


@pytest.mark.parametrize(
    "client",
    [
        pytest.param("not a client", id="str"),
        pytest.param(object(), id="object"),
        pytest.param(42, id="int"),
        pytest.param(type("NotCallable", (), {"get_message": 5})(), id="attribute"),
        pytest.param(e.AsyncSmsClient, id="the-class-not-an-instance"),
    ],
)
def test_a_client_without_get_message_is_refused(client: object) -> None:
    """DeliveryTracker("not a client") was accepted; every poll then logged a traceback."""
    with pytest.raises(e.ValidationError) as caught:
        DeliveryTracker(client)  # type: ignore[arg-type]
    assert caught.value.field == "client"
    assert caught.value.rule == "an AsyncSmsClient or an object with get_message"


def test_any_object_with_get_message_is_a_client(caplog: pytest.LogCaptureFixture) -> None:
    """Duck typing stays: an object with an async get_message is polled, nothing logged."""

    class Source:
        def __init__(self) -> None:
            self.calls: list[str] = []

        async def get_message(self, umid: str, *, subaccount_id: str | None = None) -> Any:
            self.calls.append(umid)
            return details_of(umid, "delivered")

    source = Source()

    async def main() -> Delivery:
        async with DeliveryTracker(source, poll_after=1) as tracker:
            return await tracker.wait(UMID, timeout=10)

    with caplog.at_level(logging.WARNING, logger="eightxeight_async.tracking"):
        assert virtual(main).via == "poll"
    assert source.calls == [UMID]
    assert caplog.records == []


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(None, id="none"),
        pytest.param("event", id="str"),
        pytest.param({"umid": UMID, "status": {"state": "delivered"}}, id="dict"),
        pytest.param(b"{}", id="bytes"),
    ],
)
def test_handle_refuses_what_is_not_a_webhook_event(event: object) -> None:
    """handle(None) / handle("event") were silently ignored: a caller's bug went unseen."""

    async def main() -> e.ValidationError:
        tracker = DeliveryTracker()
        with pytest.raises(e.ValidationError) as caught:
            await tracker.handle(event)  # type: ignore[arg-type]
        return caught.value

    err = virtual(main)
    assert err.field == "event"
    assert "webhook event" in err.rule


def test_handle_still_ignores_every_other_kind_of_event() -> None:
    """Inbound messages, survey responses and unknown events go by without error."""

    async def main() -> DeliveryTracker:
        tracker = DeliveryTracker()
        await tracker.handle(InboundMessage(umid=UMID, body="hi"))
        await tracker.handle(SurveyResponse(umid=UMID, survey_id="s-1"))
        await tracker.handle(UnknownEvent(namespace="VOICE", event_type="x", payload={}))
        return tracker

    tracker = virtual(main)
    assert len(tracker._unclaimed) == 0
    assert len(tracker) == 0
