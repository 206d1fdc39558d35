"""The outside tryout's findings on the webhook receiver, parse_event and the mock's options.

Each test failed before its fix: an empty ``authorization`` let an empty header through, a
non-callable or sync handler lost every event behind a 200, a ``str`` body or ``body=None``
ended in a TypeError from deep inside, and an unknown mock option was a bare TypeError.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from eightxeight_async import ValidationError
from eightxeight_async.webhooks import (
    DeliveryReceipt,
    InMemoryDedupe,
    UnknownEvent,
    WebhookEvent,
    WebhookReceiver,
    parse_event,
)

AUTH = "Basic dXNlcjpzM2NyZXQ="
RECEIPT: dict[str, Any] = {
    "namespace": "SMS",
    "eventType": "outbound_message_status_changed",
    "description": "SMS outbound message delivery receipt",
    "payload": {
        "umid": "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "batchId": None,
        "clientMessageId": None,
        "clientBatchId": None,
        "subAccountId": "SubAccount-1",
        "source": "8x8",
        "destination": "+12025550293",
        "status": {
            "state": "delivered",
            "detail": "delivered_to_recipient",
            "timestamp": "2016-01-01T00:00:00Z",
            "errorCode": 0,
            "errorMessage": "Success",
        },
        "price": {"total": 0.0125, "perSms": 0.0125, "currency": "USD"},
        "smsCount": 1,
    },
}


async def _noop(event: WebhookEvent) -> None:
    del event


async def _post(receiver: WebhookReceiver, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=receiver, client=("52.220.117.120", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post("/", content=json.dumps(RECEIPT).encode(), headers=headers)
    await receiver.drain()
    return answer


# --- 2. an empty or blank authorization ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["", " ", "\t", "   \r\n", "Basic\x00x", "Basic x\n", "Basic \x7f", "Basic ü", " Basic x"],
)
def test_an_empty_blank_or_unsendable_authorization_is_refused(value: str) -> None:
    """A value no header can carry (or that matches an empty header) is refused at once."""
    with pytest.raises(ValidationError) as caught:
        WebhookReceiver(_noop, authorization=value)
    assert caught.value.field == "authorization"
    assert "None" in caught.value.rule  # the rule names the explicit way to check nothing
    if value.strip():
        assert value.strip() not in str(caught.value)  # no part of the secret is quoted


async def test_an_empty_authorization_header_never_passes() -> None:
    """With a real value, an empty or blank header gets 401 and no handler runs."""
    seen: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        seen.append(event)

    receiver = WebhookReceiver(handler, authorization=AUTH)
    for header in ("", " "):
        assert (await _post(receiver, {"Authorization": header})).status_code == 401
    assert seen == []


async def test_authorization_none_still_turns_the_check_off() -> None:
    seen: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        seen.append(event)

    receiver = WebhookReceiver(handler, authorization=None)
    assert (await _post(receiver, {})).status_code == 200
    assert len(seen) == 1


def test_the_masked_authorization_8x8_lists_is_refused() -> None:
    """``get_webhooks`` shows ``***``; copied into the receiver, every real post would get 401."""
    with pytest.raises(ValidationError, match="masked") as caught:
        WebhookReceiver(_noop, authorization="***")
    assert caught.value.field == "authorization"


def test_authorization_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookReceiver(_noop, authorization=b"Basic x")  # type: ignore[arg-type]
    assert caught.value.field == "authorization"


# --- 3. the handler -------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", [42, None, "print"])
def test_a_handler_that_is_not_callable_is_refused(handler: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookReceiver(handler, authorization=AUTH)
    assert caught.value.field == "handler"


async def test_a_sync_handler_is_called() -> None:
    """A plain function gets each event (before: 200, a TypeError logged, the event lost)."""
    seen: list[WebhookEvent] = []
    receiver = WebhookReceiver(seen.append, authorization=AUTH)
    assert (await _post(receiver, {"Authorization": AUTH})).status_code == 200
    assert [type(e) for e in seen] == [DeliveryReceipt]


async def test_a_sync_handler_returning_an_awaitable_is_awaited() -> None:
    seen: list[WebhookEvent] = []

    async def record(event: WebhookEvent) -> None:
        seen.append(event)

    receiver = WebhookReceiver(lambda event: record(event), authorization=AUTH)
    assert (await _post(receiver, {"Authorization": AUTH})).status_code == 200
    assert len(seen) == 1


async def test_a_failing_sync_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: WebhookEvent) -> None:
        raise RuntimeError("handler bug")

    receiver = WebhookReceiver(broken, authorization=AUTH)
    assert (await _post(receiver, {"Authorization": AUTH})).status_code == 200
    assert "handler failed" in caplog.text


# --- other options of the same kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"allowed_ips": "10.0.0.1"}, "allowed_ips"),  # a str: each character was a network
        ({"allowed_ips": [10]}, "allowed_ips"),
        ({"max_body_bytes": "1000"}, "max_body_bytes"),
        ({"max_body_bytes": True}, "max_body_bytes"),
        ({"dedupe": True}, "dedupe"),
        ({"trust_forwarded": "no"}, "trust_forwarded"),
    ],
)
def test_other_bad_options_name_their_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookReceiver(_noop, authorization=AUTH, **options)
    assert caught.value.field == field


@pytest.mark.parametrize("value", [0, "100", 1.5, True])
def test_in_memory_dedupe_names_a_bad_bound(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        InMemoryDedupe(max_entries=value)
    assert caught.value.field == "max_entries"


# --- 4. parse_event and respond's arguments -------------------------------------------------------


def test_parse_event_takes_a_str() -> None:
    assert isinstance(parse_event(json.dumps(RECEIPT)), DeliveryReceipt)
    event = parse_event('{"namespace":"SMS","eventType":"NEW"}')
    assert isinstance(event, UnknownEvent)
    assert isinstance(parse_event(bytearray(json.dumps(RECEIPT).encode())), DeliveryReceipt)


@pytest.mark.parametrize("value", [None, 42, {"namespace": "SMS"}])
def test_parse_event_names_body_for_another_type(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(value)
    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"body": None}, "body"),
        ({"body": 42}, "body"),
        ({"body": [b"{}"]}, "body"),
        ({"method": None}, "method"),
        ({"method": b"POST"}, "method"),
        ({"headers": None}, "headers"),
        ({"headers": [("authorization",)]}, "headers"),
        ({"headers": {"authorization": 42}}, "headers"),
        ({"client_host": 42}, "client_host"),
        ({"client_host": ("1.2.3.4", 80)}, "client_host"),
    ],
)
async def test_respond_names_a_bad_argument(overrides: dict[str, Any], field: str) -> None:
    seen: list[WebhookEvent] = []
    receiver = WebhookReceiver(seen.append, authorization=AUTH)
    arguments: dict[str, Any] = {
        "method": "POST",
        "headers": {"Authorization": AUTH},
        "body": json.dumps(RECEIPT).encode(),
        "client_host": "127.0.0.1",
        **overrides,
    }
    with pytest.raises(ValidationError) as caught:
        await receiver.respond(**arguments)
    assert caught.value.field == field
    assert receiver.answers == {}  # refused before any answer was made
    assert seen == []


async def test_respond_names_body_for_a_chunk_that_is_not_bytes() -> None:
    async def chunks() -> Any:
        yield json.dumps(RECEIPT)  # text, not bytes

    receiver = WebhookReceiver(_noop, authorization=AUTH)
    with pytest.raises(ValidationError) as caught:
        await receiver.respond(
            method="POST", headers={"Authorization": AUTH}, body=chunks(), client_host=None
        )
    assert caught.value.field == "body"


async def test_respond_still_takes_str_headers_and_bytes_chunks() -> None:
    async def chunks() -> Any:
        yield json.dumps(RECEIPT).encode()

    seen: list[WebhookEvent] = []
    receiver = WebhookReceiver(seen.append, authorization=AUTH)
    answer = await receiver.respond(
        method="POST", headers=[(b"Authorization", AUTH)], body=chunks(), client_host=None
    )
    await receiver.drain()
    assert answer.status == 200
    assert len(seen) == 1
