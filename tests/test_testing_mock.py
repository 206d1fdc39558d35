"""eightxeight_async.testing.SmsMock: the sandbox in-process, records, scripted faults, receipts.

No socket is opened in this module: every request goes through the mock's httpx transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient
from eightxeight_async.sandbox import _scheduler
from eightxeight_async.testing import FAULTS, SmsMock, retry_without_waiting
from eightxeight_async.tracking import DeliveryTimeoutError, DeliveryTracker
from eightxeight_async.webhooks import DeliveryReceipt, WebhookEvent

from .virtual_time import run_virtual

PHONE = "+6591234567"
UNDELIVERED = "+15550100002"  # the sandbox's absent subscriber


@pytest.fixture
async def mock() -> AsyncIterator[SmsMock]:
    async with SmsMock() as sms_mock:
        with retry_without_waiting():
            yield sms_mock


@pytest.fixture
async def client(mock: SmsMock) -> AsyncIterator[AsyncSmsClient]:
    async with mock.client() as sms:
        yield sms


# --- the 17 operations -------------------------------------------------------------------------


async def test_every_operation_answers_through_the_mock(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """All 17 operations (and the export download) answer as 8x8 does, each recorded once."""
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    sent = await client.send_sms(destination=PHONE, text="Hello", track="Outcome")
    survey = await client.send_survey("nps", destination=PHONE)
    details = await client.get_message(sent.umid)
    await client.send_feedback(sent.umid, outcome="success")
    batch = await client.send_batch(destinations=[PHONE], template={"text": "Sale"})
    surveys = await client.send_survey_batch("nps", messages=[{"destination": PHONE}])
    scheduled = await client.send_sms(destination=PHONE, text="Later", scheduled=later)
    cancelled = await client.cancel_message(scheduled.umid)
    later_batch = await client.send_batch(
        destinations=[PHONE], template=e.BatchTemplate(text="Tomorrow", scheduled=later)
    )
    cancelled_batch = await client.cancel_batch(later_batch.batch_id)
    await client.delete_pii(survey.umid)
    started = await client.start_log_export()
    export = await client.get_log_export(started.job_id)
    records = [r async for r in client.iter_log_records(export)]
    other = await client.start_log_export()
    await client.cancel_log_export(other.job_id)
    prices = await client.get_prices(country="SG")
    balance = await client.get_balance()
    await client.set_webhook(url="https://hooks.example.com/dlr")
    hooks = await client.list_webhooks()
    await client.delete_webhooks()

    assert details.umid == sent.umid
    assert (batch.accepted_count, surveys.accepted_count) == (1, 1)
    assert (cancelled.cancelled_count, cancelled_batch.cancelled_count) == (1, 1)
    assert export.succeeded
    assert {r.umid for r in records} >= {sent.umid, survey.umid}
    assert prices.subaccounts
    assert balance.balance < 100
    assert [h.url for h in hooks] == ["https://hooks.example.com/dlr"]
    operations = [r.operation for r in mock.requests]
    assert sorted(set(operations)) == sorted(
        {
            "send_sms",
            "send_survey",
            "get_message",
            "send_feedback",
            "send_batch",
            "send_survey_batch",
            "cancel_message",
            "cancel_batch",
            "delete_pii",
            "start_log_export",
            "get_log_export",
            "download_log_export",
            "cancel_log_export",
            "get_prices",
            "get_balance",
            "set_webhook",
            "list_webhooks",
            "delete_webhooks",
        }
    )
    assert all(r.fault is None for r in mock.requests)
    assert sent.umid in mock.umids
    assert scheduled.umid in mock.umids


async def test_a_request_is_recorded_without_its_secrets(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """Operation, method, path, query and JSON body are kept; the key, text and number are not
    in the record's repr, and no header is kept at all."""
    await client.send_sms(destination=PHONE, text="Your code is 123456")
    await client.get_prices(country="SG", direction="outbound")
    send, prices = mock.requests
    assert (send.operation, send.method) == ("send_sms", "POST")
    assert send.path == f"/api/v1/subaccounts/{mock.subaccount_id}/messages"
    assert send.json["text"] == "Your code is 123456"
    assert send.json["destination"] == PHONE
    assert prices.operation == "get_prices"
    assert prices.query["country"] == "SG"
    assert prices.json is None
    assert not hasattr(send, "headers")
    shown = repr(mock.requests) + repr(mock)
    for secret in ("123456", PHONE, "91234567", mock.api_key):
        assert secret not in shown
    assert mock.requests_for("get_prices") == [prices]


async def test_the_sandbox_rules_apply(mock: SmsMock, client: AsyncSmsClient) -> None:
    """It is the sandbox: a subaccount the key does not own is 8x8's 400 / 1001."""
    with pytest.raises(e.BadRequestError) as info:
        await client.send_sms(destination=PHONE, text="x", subaccount_id="not_mine")
    assert info.value.code == 1001


async def test_any_httpx_client_works_through_the_transport(mock: SmsMock) -> None:
    """A client built by the user gets the mock through ``http_client=``."""
    async with AsyncSmsClient(
        api_key=mock.api_key, subaccount_id=mock.subaccount_id, http_client=mock.http_client
    ) as sms:
        sent = await sms.send_sms(destination=PHONE, text="hi")
    assert mock.umids == [sent.umid]


async def test_a_wrong_key_is_refused_as_8x8_does(mock: SmsMock) -> None:
    async with mock.client(api_key="someone-elses-key") as sms:
        with pytest.raises(e.AuthenticationError):
            await sms.get_balance()


# --- scripted faults ---------------------------------------------------------------------------


async def test_a_429_is_retried_after_its_retry_after(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail("send_sms", "rate_limit", retry_after=7, times=2)
    sent = await client.send_sms(destination=PHONE, text="hi")
    assert mock.retry_waits == [7.0, 7.0]
    assert [r.fault for r in mock.requests] == ["rate_limit", "rate_limit", None]
    assert mock.umids == [sent.umid]


async def test_429_past_the_attempts_is_a_rate_limit_error(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail("get_balance", "rate_limit", times=10)
    with pytest.raises(e.RateLimitError) as info:
        await client.get_balance()
    assert info.value.retry_after == 1.0
    assert len(mock.requests) == 4  # RetryPolicy's default max_attempts


async def test_a_500_is_an_internal_server_error_with_code_2000(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail("get_balance", "server_error", times=4)
    with pytest.raises(e.InternalServerError) as info:
        await client.get_balance()
    assert info.value.code == 2000
    assert len(mock.retry_waits) == 3


async def test_a_send_refused_with_a_500_is_retried_once_safely(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """8x8 refused it (it did nothing): the retry sends the one message."""
    mock.fail("send_sms", "server_error")
    sent = await client.send_sms(destination=PHONE, text="hi")
    assert [r.fault for r in mock.requests] == ["server_error", None]
    assert mock.umids == [sent.umid]


@pytest.mark.parametrize("fault", ["timeout", "drop_after_send"])
async def test_a_send_whose_answer_is_lost_is_outcome_unknown(
    mock: SmsMock, client: AsyncSmsClient, fault: Any
) -> None:
    """8x8 acted (the message exists, its receipt comes), the client cannot know: not replayed."""
    receipts: list[WebhookEvent] = []
    mock.deliver_to(receipts.append)
    mock.fail("send_sms", fault)
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_sms(destination=PHONE, text="hi", client_message_id="otp-1")
    assert info.value.client_message_id == "otp-1"
    assert len(mock.requests) == 1
    await mock.advance()
    assert len(mock.umids) == 1
    assert [r.client_message_id for r in mock.receipts] == ["otp-1"]
    assert receipts == mock.receipts


async def test_a_batch_whose_answer_is_lost_names_the_batch(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail("send_batch", "drop_after_send")
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_batch(destinations=[PHONE], template={"text": "x"}, client_batch_id="b1")
    assert info.value.client_batch_id == "b1"
    assert len(mock.state.batches) == 1


async def test_a_drop_before_the_send_is_retried_safely(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """Nothing reached 8x8: the client retries and exactly one message exists."""
    mock.fail("send_sms", "drop_before_send")
    sent = await client.send_sms(destination=PHONE, text="hi")
    assert [r.fault for r in mock.requests] == ["drop_before_send", None]
    assert mock.umids == [sent.umid]


async def test_drops_before_every_attempt_end_in_a_connection_error(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail("send_sms", "drop_before_send", times=4)
    with pytest.raises(e.APIConnectionError) as info:
        await client.send_sms(destination=PHONE, text="hi")
    assert not isinstance(info.value, e.SendOutcomeUnknownError)
    assert info.value.may_have_been_sent is False
    assert mock.umids == []


async def test_a_read_timeout_is_retried_and_a_lasting_one_raised(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """A GET is safe to repeat: one timeout is retried; timeouts on every attempt raise."""
    mock.fail("get_balance", "timeout")
    await client.get_balance()
    mock.fail("get_balance", "timeout", times=4)
    with pytest.raises(e.APITimeoutError) as info:
        await client.get_balance()
    assert info.value.may_have_been_sent is True
    assert len(mock.requests) == 6


async def test_a_dropped_set_webhook_is_not_repeated(mock: SmsMock, client: AsyncSmsClient) -> None:
    """A change whose answer was lost is not retried; the webhook is set all the same."""
    mock.fail("set_webhook", "drop_after_send")
    with pytest.raises(e.APIConnectionError) as info:
        await client.set_webhook(url="https://hooks.example.com/dlr")
    assert info.value.may_have_been_sent is True
    assert len(mock.requests) == 1
    assert [h.url for h in await client.list_webhooks()] == ["https://hooks.example.com/dlr"]


async def test_faults_are_used_in_order_and_any_operation_matches_none(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    mock.fail(None, "server_error")
    mock.fail("get_prices", "rate_limit")
    await client.get_balance()  # takes the `None` script, then retried
    await client.get_prices()
    assert [(r.operation, r.fault) for r in mock.requests] == [
        ("get_balance", "server_error"),
        ("get_balance", None),
        ("get_prices", "rate_limit"),
        ("get_prices", None),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("send_email", "timeout"), {}, "operation"),
        (("send_sms", "explode"), {}, "fault"),
        (("send_sms", "timeout"), {"times": 0}, "times"),
        (("send_sms", "timeout"), {"times": True}, "times"),
        (("send_sms", "rate_limit"), {"retry_after": -1}, "retry_after"),
        (("send_sms", "rate_limit"), {"retry_after": 1.5}, "retry_after"),
    ],
)
def test_bad_scripts_are_refused(args: tuple[Any, ...], kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(e.ValidationError) as info:
        SmsMock().fail(*args, **kwargs)
    assert info.value.field == field


def test_fault_names() -> None:
    assert FAULTS == (
        "rate_limit",
        "server_error",
        "timeout",
        "drop_before_send",
        "drop_after_send",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"api_key": ""}, "api_key"),
        ({"subaccounts": ()}, "subaccounts"),
        ({"subaccounts": ("no spaces",)}, "subaccounts"),
        ({"account_id": "acme"}, "account_id"),
        ({"delivered_after": -1}, "delivered_after"),
        ({"start_balance": "-3"}, "start_balance"),
        ({"postpaid": "yes"}, "postpaid"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(e.ValidationError) as info:
        SmsMock(**kwargs)
    assert info.value.field == field


# --- receipts and time -------------------------------------------------------------------------


async def test_receipts_reach_a_tracker_at_once(mock: SmsMock, client: AsyncSmsClient) -> None:
    """By default a message is delivered at once: the tracker's wait resolves from the receipt."""
    async with DeliveryTracker() as tracker:
        mock.deliver_to(tracker)
        sent = await client.send_sms(destination=PHONE, text="Your code is 123456")
        delivery = await tracker.wait(sent.umid, timeout=5)
    assert delivery.delivered
    assert delivery.via == "receipt"
    assert isinstance(delivery.receipt, DeliveryReceipt)
    assert delivery.receipt.umid == sent.umid


async def test_receipts_reach_a_webhook_handler(mock: SmsMock, client: AsyncSmsClient) -> None:
    """An async WebhookReceiver handler (here the tracker's) gets the parsed receipt."""
    async with DeliveryTracker() as tracker:
        mock.deliver_to(tracker.handle)
        sent = await client.send_sms(destination=UNDELIVERED, text="hi")
        await mock.advance()
        delivery = await tracker.wait(sent.umid, timeout=5)
    assert delivery.state == "undelivered"
    assert not delivery.delivered


async def test_a_late_receipt_waits_for_advance() -> None:
    """With delivered_after, nothing arrives until the test moves the mock's time."""
    async with SmsMock(delivered_after=30) as mock, mock.client() as sms:
        seen: list[WebhookEvent] = []
        mock.deliver_to(seen.append)
        sent = await sms.send_sms(destination=UNDELIVERED, text="hi")
        await mock.advance(29)
        assert seen == []
        assert (await sms.get_message(sent.umid)).status.state == "sent"
        await mock.advance(1)
        (receipt,) = seen
        assert isinstance(receipt, DeliveryReceipt)
        assert receipt.state == "undelivered"
        assert receipt.status.error_code == 1
        assert (await sms.get_message(sent.umid)).status.state == "undelivered"


async def test_a_tracker_times_out_when_no_receipt_comes() -> None:
    async with (
        SmsMock(delivered_after=3600) as mock,
        mock.client() as sms,
        DeliveryTracker() as tracker,
    ):
        mock.deliver_to(tracker)
        sent = await sms.send_sms(destination=PHONE, text="hi")
        with pytest.raises(DeliveryTimeoutError):
            await tracker.wait(sent.umid, timeout=0.01)
        await mock.advance(3600)
        assert (await tracker.wait(sent.umid, timeout=5)).delivered


async def test_a_scheduled_message_is_delivered_when_its_time_comes(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    await client.send_sms(destination=PHONE, text="later", scheduled=later)
    await mock.advance(3600)
    assert mock.receipts == []
    await mock.advance(3600)
    assert len(mock.receipts) == 1


async def test_async_handlers_are_awaited_by_advance(mock: SmsMock, client: AsyncSmsClient) -> None:
    """A WebhookReceiver-style async handler has finished when advance() returns."""
    done: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        await asyncio.sleep(0)
        assert isinstance(event, DeliveryReceipt)
        done.append(event.umid)

    mock.deliver_to(on_event)
    sent = await client.send_sms(destination=PHONE, text="hi")
    await mock.advance()
    assert done == [sent.umid]


async def test_every_target_gets_every_receipt_in_order(
    mock: SmsMock, client: AsyncSmsClient
) -> None:
    """A batch's receipts each reach every target, in the order they fell due."""
    first: list[str] = []
    second: list[str] = []
    mock.deliver_to(lambda event: first.append(event.umid))
    mock.deliver_to(lambda event: second.append(event.umid))
    batch = await client.send_batch(
        destinations=[PHONE, "+6591234568"],
        template={"text": "x"},
        include_messages_in_response=True,
    )
    await mock.advance()
    assert first == second == [m.umid for m in batch.messages]


async def test_a_handler_error_is_raised_by_advance(mock: SmsMock, client: AsyncSmsClient) -> None:
    def broken(event: WebhookEvent) -> None:
        raise RuntimeError("handler bug")

    async def broken_async(event: WebhookEvent) -> None:
        raise KeyError("async handler bug")

    mock.deliver_to(broken)
    await client.send_sms(destination=PHONE, text="hi")
    with pytest.raises(RuntimeError, match="handler bug"):
        await mock.advance()
    await mock.advance()  # raised once only
    mock.deliver_to(broken_async)
    await client.send_sms(destination=PHONE, text="hi")
    with pytest.raises(RuntimeError, match="handler bug"):
        await mock.advance()
    with pytest.raises(KeyError, match="async handler bug"):  # each error once, in order
        await mock.advance()
    await mock.advance()


def test_deliver_to_needs_a_callable() -> None:
    with pytest.raises(e.ValidationError) as info:
        SmsMock().deliver_to(42)
    assert info.value.field == "target"


@pytest.mark.parametrize("seconds", [-1, float("nan"), 400 * 86_400.0, True])
async def test_advance_refuses_bad_times(mock: SmsMock, seconds: Any) -> None:
    with pytest.raises(e.ValidationError) as info:
        await mock.advance(seconds)
    assert info.value.field == "seconds"


async def test_export_jobs_end_without_waiting(mock: SmsMock, client: AsyncSmsClient) -> None:
    """export_logs polls; the mock's jobs end at once, so it returns with no real wait."""
    await client.send_sms(destination=PHONE, text="hi")
    status = await client.export_logs(poll_interval=3600, max_wait=7200)
    assert status.succeeded
    records = [r async for r in client.iter_log_records(status)]
    assert [r.umid for r in records] == mock.umids


class _HourAhead:
    """The ``time`` module as the sandbox's clock sees it, an hour later."""

    @staticmethod
    def monotonic() -> float:
        return time.monotonic() + 3600


async def test_the_mock_clock_ignores_the_host_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour of the host's time delivers nothing and changes no state: only advance() moves
    the mock, so a slow test sees what a fast one sees."""
    async with SmsMock(delivered_after=30) as mock, mock.client() as sms:
        sent = await sms.send_sms(destination=PHONE, text="hi")
        monkeypatch.setattr(_scheduler, "time", _HourAhead)
        await mock.advance(0)
        assert mock.receipts == []
        assert (await sms.get_message(sent.umid)).status.state == "sent"
        await mock.advance(30)
        assert len(mock.receipts) == 1


def test_the_mock_clock_ignores_the_event_loop_clock() -> None:
    """An hour of the loop's time (a virtual-time loop jumps it) delivers nothing either."""

    async def main() -> list[DeliveryReceipt]:
        async with SmsMock(delivered_after=30) as mock, mock.client() as sms:
            await sms.send_sms(destination=PHONE, text="hi")
            await asyncio.sleep(3600)
            before = list(mock.receipts)
            await mock.advance(30)
            assert len(mock.receipts) == 1
            return before

    assert run_virtual(main) == []


def test_testing_names_unknown_attributes() -> None:
    import eightxeight_async.testing as testing

    assert testing.SmsMock is SmsMock
    with pytest.raises(AttributeError, match="no_such_helper"):
        testing.no_such_helper  # noqa: B018
