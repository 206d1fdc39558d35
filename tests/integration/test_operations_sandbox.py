"""The 13 operations beyond the core four, end to end against the sandbox over TLS 1.3.

Each test runs on both transports (httpx and aiohttp). The sandbox's answers are also held
against 8x8's OpenAPI file by the autouse fixture in conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.sandbox._faults import Fault

from .conftest import eventually, serve_http

pytestmark = pytest.mark.integration

PHONE = "+6591234567"
PHONE2 = "+6591234568"
REJECTED_NUMBER = "+15550100003"  # the sandbox answers it REJECTED in an HTTP 200, as 8x8 does


@pytest.fixture
async def ops(sandbox: Sandbox, transport: TransportTypes) -> AsyncIterator[AsyncSmsClient]:
    """A client for the sandbox with its account id; export jobs finish within a few polls."""
    sandbox.state.export_queued_for = 0.05
    sandbox.state.export_running_for = 0.05
    kwargs: dict[str, Any] = {**sandbox.client_kwargs(), "account_id": sandbox.account_id}
    limits = RateLimits(send_per_second=1e6, send_burst=10**6)
    async with AsyncSmsClient(**kwargs, rate_limits=limits, transport=transport) as sms:
        yield sms


# --- batches -----------------------------------------------------------------------------------


async def test_batch_with_partial_rejection(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """A batch with one number 8x8 refuses: accepted and rejected counts, the refusal a result."""
    result = await ops.send_batch(
        destinations=[PHONE, REJECTED_NUMBER, PHONE2],
        template={"text": "Sale today", "source": "Acme"},
        client_batch_id="sale-1",
        include_messages_in_response=True,
    )
    assert (result.accepted_count, result.rejected_count) == (2, 1)
    assert result.client_batch_id == "sale-1"
    assert len(result.messages) == 3
    (rejected,) = result.rejected_messages
    assert rejected.destination.endswith("15550100003")
    assert rejected.status.description == "Invalid MSISDN format (not E.164 international number)"
    batch = sandbox.state.batches[result.batch_id]
    assert batch.client_batch_id == "sale-1"
    assert len(batch.umids) == 3


async def test_batch_personal_messages_carry_their_ids(
    sandbox: Sandbox, ops: AsyncSmsClient
) -> None:
    """Personal messages keep the SDK-generated clientMessageIds, echoed per message."""
    result = await ops.send_batch(
        messages=[
            {"destination": PHONE, "text": "Hi Ana"},
            e.BatchMessage(destination=PHONE2, client_message_id="mine-2"),
        ],
        template=e.BatchTemplate(text="Hello", source="Acme"),
        include_messages_in_response=True,
    )
    assert result.rejected_count == 0
    ids = [m.client_message_id for m in result.messages]
    assert ids[1] == "mine-2"
    assert ids[0] is not None
    assert len(ids[0]) == 32
    assert sandbox.state.messages[result.messages[0].umid].client_message_id == ids[0]


async def test_survey_batch(ops: AsyncSmsClient) -> None:
    """A survey batch is queued for every message, its template filled per message."""
    result = await ops.send_survey_batch(
        "nps-survey",
        messages=[
            {"destination": PHONE, "template_variables": {"name": "Ana"}},
            {"destination": PHONE2, "template_variables": {"name": "Bo"}},
        ],
        template={"template_body": "Hi {{name}}, rate us: {{url:name}}"},
        include_messages_in_response=True,
    )
    assert (result.accepted_count, result.rejected_count) == (2, 0)
    assert all(not m.rejected for m in result.messages)


async def test_batch_dropped_connection_names_the_batch(
    sandbox: Sandbox, ops: AsyncSmsClient
) -> None:
    """A batch whose answer never came raises SendOutcomeUnknownError with its clientBatchId."""
    sandbox.faults.inject(Fault.DROP, endpoint="send_batch")
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await ops.send_batch(destinations=[PHONE], template={"text": "x"}, client_batch_id="drop-1")
    assert info.value.client_batch_id == "drop-1"
    assert sandbox.state.requests["send_batch"] == 1  # not replayed


# --- scheduled sends, cancels, PII -------------------------------------------------------------


async def test_scheduled_message_can_be_cancelled_once(
    sandbox: Sandbox, ops: AsyncSmsClient
) -> None:
    """A message scheduled an hour ahead is cancelled; cancelling it again is 404 / 1300."""
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    sent = await ops.send_sms(destination=PHONE, text="Later", scheduled=when)
    assert (await ops.cancel_message(sent.umid)).cancelled_count == 1
    with pytest.raises(e.NotFoundError) as info:
        await ops.cancel_message(sent.umid)
    assert info.value.code == 1300


async def test_scheduled_batch_is_cancelled_whole(ops: AsyncSmsClient) -> None:
    """A scheduled batch is cancelled in one call: every message of it counted."""
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    result = await ops.send_batch(
        destinations=[PHONE, PHONE2, "+6591234569"],
        template=e.BatchTemplate(text="Tomorrow's sale", scheduled=when),
    )
    assert (await ops.cancel_batch(result.batch_id)).cancelled_count == 3


async def test_sent_message_cannot_be_cancelled(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """A message that was not scheduled has gone: cancelling it is 404 (nothing to cancel)."""
    sent = await ops.send_sms(destination=PHONE, text="Now")
    with pytest.raises(e.NotFoundError):
        await ops.cancel_message(sent.umid)


async def test_delete_pii(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """PII deletion is accepted (202, no body); an unknown message is 404."""
    sent = await ops.send_sms(destination=PHONE, text="Secret 123")
    await ops.delete_pii(sent.umid)
    with pytest.raises(e.NotFoundError):
        await ops.delete_pii("00000000-0000-0000-0000-000000000000")


# --- log export --------------------------------------------------------------------------------


async def test_export_logs_then_read_what_was_sent(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """Send, export, stream the CSV: every message sent is there with its ids and price."""
    single = await ops.send_sms(destination=PHONE, text="Hello", client_message_id="single-1")
    batch = await ops.send_batch(
        destinations=[PHONE2, REJECTED_NUMBER],
        template={"text": "Batch hello"},
        client_batch_id="export-b",
        include_messages_in_response=True,
    )
    status = await ops.export_logs(
        start=date.today() - timedelta(days=1),
        end=datetime.now(timezone.utc) + timedelta(minutes=1),
        poll_interval=0.05,
        max_wait=30,
    )
    assert status.succeeded
    assert status.job_id is not None
    assert status.links
    assert all(link.startswith(sandbox.base_url) for link in status.links)
    records = [record async for record in ops.iter_log_records(status)]
    by_umid = {record.umid: record for record in records}
    assert single.umid in by_umid
    assert by_umid[single.umid].client_message_id == "single-1"
    assert by_umid[single.umid].direction is e.Direction.OUTBOUND
    assert by_umid[single.umid].subaccount_id == sandbox.subaccount_id
    for message in batch.messages:
        assert by_umid[message.umid].client_batch_id == "export-b"
        assert by_umid[message.umid].batch_id == batch.batch_id
    accepted = by_umid[batch.messages[0].umid]
    assert accepted.price_total is not None
    assert accepted.price_total > 0


async def test_export_with_a_filter_and_a_link_string(
    sandbox: Sandbox, ops: AsyncSmsClient
) -> None:
    """phone_number filters the export; a single link may be streamed on its own."""
    await ops.send_sms(destination=PHONE, text="one")
    await ops.send_sms(destination=PHONE2, text="two")
    status = await ops.export_logs(phone_number=PHONE2, poll_interval=0.05, max_wait=30)
    records = [r async for r in ops.iter_log_records(status.links[0])]
    assert len(records) == 1
    assert records[0].msisdn is not None
    assert records[0].msisdn.startswith("+659123")
    assert records[0].msisdn != PHONE2  # 8x8 redacts it


async def test_log_export_job_lifecycle(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """start -> get (queued/running) -> cancel (204) -> cancelled; an unknown job is 404 / 4018."""
    sandbox.state.export_queued_for = 60.0
    started = await ops.start_log_export(limit=10)
    status = await ops.get_log_export(started.job_id)
    assert status.job_id == started.job_id
    assert status.status is e.LogExportState.QUEUED
    assert not status.is_final
    await ops.cancel_log_export(started.job_id)
    assert (await ops.get_log_export(started.job_id)).status is e.LogExportState.CANCELLED
    with pytest.raises(e.NotFoundError) as info:
        await ops.get_log_export("no-such-job")
    assert info.value.code == 4018


async def test_export_logs_of_a_cancelled_job_raises(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """A job cancelled while export_logs waits ends it with LogExportError naming the job."""
    sandbox.state.export_queued_for = 60.0

    async def cancel_soon() -> None:
        await eventually(lambda: bool(sandbox.state.exports))
        (job_id,) = sandbox.state.exports
        await ops.cancel_log_export(job_id)

    canceller = asyncio.create_task(cancel_soon())
    with pytest.raises(e.LogExportError) as info:
        await ops.export_logs(poll_interval=0.05, max_wait=30)
    await canceller
    assert info.value.status is not None
    assert info.value.status.status is e.LogExportState.CANCELLED
    assert info.value.job_id in sandbox.state.exports


@pytest.mark.parametrize("failure", ["failed", "error"])
async def test_export_logs_of_a_failing_job_raises(
    sandbox: Sandbox, ops: AsyncSmsClient, failure: str
) -> None:
    """A job 8x8 ends failed or error raises LogExportError with that status, and no links."""
    sandbox.state.export_failure = failure
    with pytest.raises(e.LogExportError) as info:
        await ops.export_logs(poll_interval=0.05, max_wait=30)
    assert not isinstance(info.value, e.LogExportTimeoutError)
    assert info.value.status is not None
    assert info.value.status.status == failure
    assert info.value.status.links == ()
    assert info.value.job_id in sandbox.state.exports


async def test_export_logs_max_wait(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """A job that does not finish within max_wait: the error names it, and it keeps running."""
    sandbox.state.export_queued_for = 600.0
    with pytest.raises(e.LogExportTimeoutError) as info:
        await ops.export_logs(poll_interval=0.05, max_wait=0.3)
    status = await ops.get_log_export(info.value.job_id)
    assert status.status is e.LogExportState.QUEUED


async def test_download_without_the_key_is_refused(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """The sandbox's download needs the bearer key (so the SDK must send it to its own origin)."""
    await ops.send_sms(destination=PHONE, text="x")
    status = await ops.export_logs(poll_interval=0.05, max_wait=30)
    kwargs = sandbox.client_kwargs()
    kwargs["api_key"] = "not-the-key"
    async with AsyncSmsClient(**kwargs) as stranger:
        with pytest.raises(e.AuthenticationError):
            _ = [r async for r in stranger.iter_log_records(status)]


# --- account: prices, balance, webhooks --------------------------------------------------------


async def test_prices_and_balance_go_together(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """Each part sent costs the listed price of its country's first operator."""
    prices = await ops.get_prices(country="SG", direction="outbound")
    (subaccount,) = [s for s in prices.subaccounts if s.subaccount_id == sandbox.subaccount_id]
    (singapore,) = subaccount.outbound
    assert singapore.alpha2_code == "SG"
    price = singapore.operators[0].price
    assert price is not None
    before = await ops.get_balance()
    assert isinstance(before.balance, Decimal)
    sent = await ops.send_sms(destination=PHONE, text="x" * 200)  # two GSM-7 parts
    parts = sandbox.state.messages[sent.umid].sms_count
    assert parts == 2
    after = before
    for _ in range(200):  # the part is charged when it is sent (sandbox time: 0.1 s)
        after = await ops.get_balance()
        if after.balance != before.balance:
            break
        await asyncio.sleep(0.02)
    assert after.currency == before.currency == price.currency
    assert after.balance == before.balance - parts * price.amount


async def test_balance_of_a_postpaid_account(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """A post-paid account's balance is 403 / code 1201: NotPrepaidError."""
    sandbox.state.postpaid = True
    with pytest.raises(e.NotPrepaidError) as info:
        await ops.get_balance()
    assert info.value.code == 1201


async def test_another_account_is_refused(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """The key does not own another account: the sandbox refuses, the error is typed."""
    with pytest.raises(e.APIStatusError) as info:
        await ops.get_balance(account_id="0123456789abcdef0123456789abcdef")
    assert info.value.status_code in (401, 403)


async def test_webhook_configuration_drives_the_dlr(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """set_webhook, then a DLR arrives at the receiver with the configured Authorization."""
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: Request) -> Response:
        received.append((request.headers.get("authorization"), await request.json()))
        return Response(status_code=200)

    app = Starlette(routes=[Route("/dlr", receive, methods=["POST"])])
    async with serve_http(app) as receiver:
        await ops.set_webhook(url=f"{receiver}/dlr", http_authorization="Bearer hook-s3cret")
        hooks = await ops.list_webhooks()
        (hook,) = [h for h in hooks if h.subaccount_id == sandbox.subaccount_id]
        assert hook.url == f"{receiver}/dlr"
        assert hook.enabled
        assert hook.http_authorization == "***"  # masked on GET, as 8x8 does
        sent = await ops.send_sms(destination=PHONE, text="Track me")
        await eventually(lambda: any(body["payload"]["umid"] == sent.umid for _, body in received))
    authorization, body = next(item for item in received if item[1]["payload"]["umid"] == sent.umid)
    assert authorization == "Bearer hook-s3cret"
    assert body["eventType"] == "outbound_message_status_changed"
    await ops.delete_webhooks()
    assert [h for h in await ops.list_webhooks() if h.subaccount_id == sandbox.subaccount_id] == []


async def test_webhook_for_every_subaccount_and_replace(
    sandbox: Sandbox, ops: AsyncSmsClient
) -> None:
    """A "*" webhook is listed apart; setting one again replaces it (create or replace)."""
    await ops.set_webhook(url="https://hooks.example.com/a", subaccount_id="*", enabled=False)
    await ops.set_webhook(url="https://hooks.example.com/b", subaccount_id="*")
    star = [h for h in await ops.list_webhooks() if h.subaccount_id == "*"]
    assert [(h.url, h.enabled) for h in star] == [("https://hooks.example.com/b", True)]
    await ops.delete_webhooks(subaccount_ids=["*"])
    assert [h for h in await ops.list_webhooks() if h.subaccount_id == "*"] == []


async def test_aclose_stops_a_download_in_progress(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """aclose() while a CSV download waits on a slow server ends the loop with our error."""
    await ops.send_sms(destination=PHONE, text="x")
    status = await ops.export_logs(poll_interval=0.05, max_wait=30)
    sandbox.faults.slow_seconds = 30.0
    sandbox.faults.inject(Fault.SLOW, endpoint="download_log_export")

    async def read_all() -> list[e.LogRecord]:
        return [record async for record in ops.iter_log_records(status)]

    reader = asyncio.create_task(read_all())
    await eventually(lambda: sandbox.state.requests["download_log_export"] == 1)
    await ops.aclose()
    with pytest.raises(e.APIConnectionError) as info:
        await asyncio.wait_for(reader, 20)  # a guard against a hang, not a measurement
    assert info.value.permanent


async def test_prices_parse_in_both_of_8x8s_shapes(sandbox: Sandbox, ops: AsyncSmsClient) -> None:
    """The price list reads the same in both of 8x8's shapes (examples' object, schema's array)."""
    as_objects = await ops.get_prices()
    sandbox.state.prices_as_arrays = True
    as_arrays = await ops.get_prices()
    assert as_arrays == as_objects
    assert any(s.outbound for s in as_arrays.subaccounts)
