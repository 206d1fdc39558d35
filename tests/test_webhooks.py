"""Tests of eightxeight_async.webhooks: parse_event on every documented body, and the receiver."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import pickle
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async import Encoding, MessageState, StatusDetail
from eightxeight_async._errors import ResponseValidationError
from eightxeight_async.webhooks import (
    WEBHOOK_SOURCE_IPS,
    DeliveryReceipt,
    InboundMessage,
    InMemoryDedupe,
    LegacyWebhookError,
    SurveyResponse,
    UnknownEvent,
    WebhookEvent,
    WebhookFormatError,
    WebhookReceiver,
    dedupe_key,
    parse_event,
)

# The examples of api-notes §5 (8x8's docs), verbatim but for the elided ids.
RECEIPT: dict[str, Any] = {
    "namespace": "SMS",
    "eventType": "outbound_message_status_changed",
    "description": "SMS outbound message delivery receipt",
    "payload": {
        "umid": "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "batchId": "3e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "clientMessageId": "1e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "clientBatchId": "2e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "subAccountId": "SubAccount-1",
        "source": "8x8",
        "destination": "+12025550293",
        "status": {
            "state": "undelivered",
            "detail": "rejected_by_operator",
            "timestamp": "2016-01-01T00:00:00Z",
            "errorCode": 15,
            "errorMessage": "Invalid destination",
        },
        "price": {"total": 0.0375, "perSms": 0.0125, "currency": "USD"},
        "smsCount": 3,
    },
}
INBOUND: dict[str, Any] = {
    "namespace": "SMS",
    "eventType": "inbound_message_received",
    "description": "SMS inbound message",
    "payload": {
        "umid": "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a",
        "subAccountId": "SubAccount-1",
        "timestamp": "2016-01-01T14:34:56.017Z",
        "source": "+6581968289",
        "destination": "+4534735477",
        "body": "Test MO message",
        "encoding": "GSM7",
        "smsCount": 2,
        "price": {"total": 0.0446592, "perSms": 0.0446592, "currency": "EUR"},
    },
}
SURVEY: dict[str, Any] = {
    "umid": "84e7ee9a-5c41-e811-814c-020897df5459",
    "surveyId": "test-surveyid",
    "surveyStartedAt": "2018-04-16T09:59:48Z",
    "surveySubmittedAt": "2018-04-16T10:00:14Z",
    "templateVariables": [
        {"name": "firstname", "value": "John"},
        {"name": "order_nr", "value": "1010101"},
    ],
    "answers": [
        {
            "questionId": "3",
            "answerId": "10003",
            "question": "Dear [url('FirstName')],<br />how was it?",
            "answer": "Cancel Now",
        },
        {"questionId": "16", "answerId": None, "question": "Full Name", "answer": "John"},
    ],
}
# What the sandbox posts (sandbox/_records.py StoredMessage.receipt): a delivered receipt.
SANDBOX_RECEIPT: dict[str, Any] = {
    "namespace": "SMS",
    "eventType": "outbound_message_status_changed",
    "description": "SMS outbound message delivery receipt",
    "payload": {
        "umid": "0b6f7a1e-2f1c-4c3e-9d2a-1b2c3d4e5f60",
        "subAccountId": "sandbox-sub",
        "source": "Acme",
        "destination": "+6591234567",
        "status": {
            "state": "delivered",
            "detail": "delivered_to_recipient",
            "timestamp": "2026-11-27T10:00:00.123Z",
        },
        "smsCount": 1,
        "clientMessageId": "order-1",
        "price": {"total": "0.0125", "perSms": "0.0125", "currency": "EUR"},
    },
}
# Wavecell's DeliveryReport version 3 (pavelakafoks/wavecell README) and its JSON rendering.
LEGACY_XML = (
    b'<?xml version="1.0" encoding="utf-8"?><DeliveryReport version="3">'
    b"<UMID>0d3a5a2e-1f2b</UMID><DateTimeStamp>2018-01-01 10:00:00</DateTimeStamp>"
    b"<Status>DELIVERED TO DEVICE</Status><Reason></Reason><Source>Acme</Source>"
    b"<SubAccountId>acme_hq</SubAccountId><Attempt>1</Attempt><ErrorCode>0</ErrorCode>"
    b"<Destination>6591234567</Destination><Price>0.01</Price><Currency>USD</Currency>"
    b"<ClientMessageId>x1</ClientMessageId></DeliveryReport>"
)
LEGACY_JSON: dict[str, Any] = {
    "UMID": "0d3a5a2e-1f2b",
    "DateTimeStamp": "2018-01-01 10:00:00",
    "Status": "DELIVERED TO DEVICE",
    "SubAccountId": "acme_hq",
    "Destination": "6591234567",
    "ErrorCode": 0,
}

SECRETS = ("12025550293", "6581968289", "4534735477", "6591234567", "Test MO message")


def body(data: object) -> bytes:
    return json.dumps(data).encode()


# --- parse_event -------------------------------------------------------------------------------


def test_parse_event_reads_the_documented_delivery_receipt() -> None:
    """8x8's DLR example becomes a DeliveryReceipt with typed, exact fields."""
    event = parse_event(body(RECEIPT))
    assert isinstance(event, DeliveryReceipt)
    assert event.umid == "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
    assert event.state is MessageState.UNDELIVERED
    assert event.status.detail is StatusDetail.REJECTED_BY_OPERATOR
    assert event.status.error_code == 15
    assert event.status.timestamp == datetime(2016, 1, 1, tzinfo=timezone.utc)
    assert event.price is not None
    assert event.price.total == Decimal("0.0375")
    assert event.price.per_sms == Decimal("0.0125")
    assert event.sms_count == 3
    assert event.destination == "+12025550293"
    assert event.batch_id == "3e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
    assert event.client_batch_id == "2e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
    assert event.subaccount_id == "SubAccount-1"


def test_parse_event_reads_a_receipt_without_the_optional_fields() -> None:
    """price, batchId, clientBatchId and clientMessageId are optional."""
    data = copy.deepcopy(RECEIPT)
    for key in ("price", "batchId", "clientBatchId", "clientMessageId"):
        del data["payload"][key]
    event = parse_event(body(data))
    assert isinstance(event, DeliveryReceipt)
    assert event.price is None
    assert event.batch_id is None
    assert event.client_message_id is None


def test_parse_event_reads_what_the_sandbox_posts() -> None:
    """The sandbox's receipt (string prices, 3-digit fractions) parses."""
    event = parse_event(body(SANDBOX_RECEIPT))
    assert isinstance(event, DeliveryReceipt)
    assert event.state is MessageState.DELIVERED
    assert event.client_message_id == "order-1"


def test_parse_event_reads_the_documented_inbound_sms() -> None:
    """8x8's MO example becomes an InboundMessage; the text is in body."""
    event = parse_event(body(INBOUND))
    assert isinstance(event, InboundMessage)
    assert event.body == "Test MO message"
    assert event.source == "+6581968289"
    assert event.destination == "+4534735477"
    assert event.encoding is Encoding.GSM7
    assert event.sms_count == 2
    assert event.timestamp == datetime(2016, 1, 1, 14, 34, 56, 17000, tzinfo=timezone.utc)
    assert event.price is not None
    assert event.price.total == Decimal("0.0446592")


def test_parse_event_reads_the_documented_survey_response() -> None:
    """The flat SMS Engage body becomes a SurveyResponse; a null answerId is None."""
    event = parse_event(body(SURVEY))
    assert isinstance(event, SurveyResponse)
    assert event.survey_id == "test-surveyid"
    assert event.survey_submitted_at == datetime(2018, 4, 16, 10, 0, 14, tzinfo=timezone.utc)
    assert [(v.name, v.value) for v in event.template_variables] == [
        ("firstname", "John"),
        ("order_nr", "1010101"),
    ]
    assert event.answers[0].answer_id == "10003"
    assert event.answers[0].question is not None
    assert "<br />" in event.answers[0].question
    assert event.answers[1].answer_id is None
    assert event.answers[1].answer == "John"


def test_parse_event_keeps_unknown_enum_values_as_strings() -> None:
    """A new state or encoding from 8x8 is kept raw, not an error."""
    data = copy.deepcopy(RECEIPT)
    data["payload"]["status"]["state"] = "expired_somehow"
    data["payload"]["status"]["detail"] = "delivered_to_carrier"
    event = parse_event(body(data))
    assert isinstance(event, DeliveryReceipt)
    assert event.state == "expired_somehow"
    assert event.status.detail == "delivered_to_carrier"
    mo = copy.deepcopy(INBOUND)
    mo["payload"]["encoding"] = "GSM8"
    inbound = parse_event(body(mo))
    assert isinstance(inbound, InboundMessage)
    assert inbound.encoding == "GSM8"


@pytest.mark.parametrize(
    ("namespace", "event_type"),
    [
        pytest.param("ChatApps", "inbound_message_received", id="chatapps"),
        pytest.param("SMS", "outbound_message_something_new", id="new-sms-type"),
        pytest.param("Voice", "call_ended", id="other-namespace"),
    ],
)
def test_parse_event_returns_unknown_events(namespace: str, event_type: str) -> None:
    """Another namespace or event type is an UnknownEvent holding the whole body."""
    data = {
        "namespace": namespace,
        "eventType": event_type,
        "description": "something new",
        "payload": {"x": [1, 2], "from": "+6591234567"},
    }
    event = parse_event(body(data))
    assert event == UnknownEvent(
        namespace=namespace,
        event_type=event_type,
        payload={"x": [1, 2], "from": "+6591234567"},
        description="something new",
    )
    assert "6591234567" not in repr(event)
    assert "payload" not in repr(event)


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        pytest.param(LEGACY_XML, "XML", id="xml-deliveryreport"),
        pytest.param(b"\xef\xbb\xbf  \n<root><umid>x</umid></root>", "XML", id="xml-bom"),
        pytest.param(body(LEGACY_JSON), "field names", id="json-pascalcase"),
    ],
)
def test_parse_event_refuses_legacy_bodies(raw: bytes, what: str) -> None:
    """A Wavecell body raises LegacyWebhookError that says so and points to the migration."""
    with pytest.raises(LegacyWebhookError) as caught:
        parse_event(raw)
    message = str(caught.value)
    assert "legacy Wavecell" in message
    assert what in message
    assert "support" in message
    assert "Webhook migration guide" in message
    assert "6591234567" not in message
    assert isinstance(caught.value, ResponseValidationError)
    restored = pickle.loads(pickle.dumps(caught.value))
    assert type(restored) is LegacyWebhookError
    assert str(restored) == message


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        pytest.param(b"", "$", id="empty"),
        pytest.param(b"{not json", "$", id="not-json"),
        pytest.param(b"\xff\xfe\x00", "$", id="not-utf8"),
        pytest.param(b'{"namespace": NaN}', "$", id="nan"),
        pytest.param(b"[1, 2]", "$", id="array"),
        pytest.param(b'"SMS"', "$", id="string"),
        pytest.param(b"[" * 100_000, "$", id="deep"),
        pytest.param(b'{"umid": "x"}', "$.namespace", id="no-envelope"),
        pytest.param(b'{"namespace": 5, "eventType": "x"}', "$.namespace", id="namespace-int"),
        pytest.param(b'{"namespace": "SMS"}', "$.eventType", id="no-event-type"),
        pytest.param(body({**RECEIPT, "payload": "+6591234567"}), "$.payload", id="payload-string"),
        pytest.param(
            body({**RECEIPT, "payload": {"status": RECEIPT["payload"]["status"]}}),
            "$.payload.umid",
            id="receipt-no-umid",
        ),
        pytest.param(
            body({**RECEIPT, "payload": {**RECEIPT["payload"], "smsCount": "3"}}),
            "$.payload.smsCount",
            id="receipt-count-string",
        ),
        pytest.param(
            body({**RECEIPT, "payload": {**RECEIPT["payload"], "status": {"detail": "x"}}}),
            "$.payload.status.state",
            id="receipt-no-state",
        ),
        pytest.param(
            body({**INBOUND, "payload": {**INBOUND["payload"], "body": 6591234567}}),
            "$.payload.body",
            id="inbound-body-number",
        ),
        pytest.param(
            body({**SURVEY, "answers": [SURVEY["answers"][0], {"answer": "John"}]}),
            "$.answers[1].questionId",
            id="survey-answer-no-id",
        ),
        pytest.param(
            body({**SURVEY, "surveySubmittedAt": "yesterday"}),
            "$.surveySubmittedAt",
            id="survey-bad-date",
        ),
    ],
)
def test_parse_event_names_the_path_of_a_malformed_body(raw: bytes, path: str) -> None:
    """Garbage and wrong shapes raise WebhookFormatError naming the path, never a value."""
    with pytest.raises(WebhookFormatError) as caught:
        parse_event(raw)
    assert not isinstance(caught.value, LegacyWebhookError)
    assert caught.value.path == path
    assert path == "$" or path in str(caught.value)
    for secret in SECRETS:
        assert secret not in str(caught.value)
    restored = pickle.loads(pickle.dumps(caught.value))
    assert type(restored) is WebhookFormatError
    assert restored.path == path


@pytest.mark.parametrize("data", [RECEIPT, INBOUND, SURVEY, SANDBOX_RECEIPT])
def test_event_reprs_hide_numbers_and_text(data: dict[str, Any]) -> None:
    """No full phone number, message text or survey answer appears in an event's repr."""
    text = repr(parse_event(body(data)))
    for secret in (*SECRETS, "John", "Cancel Now", "1010101"):
        assert secret not in text


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_parse_event_raises_only_its_error_on_any_bytes(raw: bytes) -> None:
    """Any bytes give an event or a WebhookFormatError, nothing else."""
    with contextlib.suppress(WebhookFormatError):
        parse_event(raw)


@given(
    st.sampled_from([RECEIPT, INBOUND, SURVEY]),
    st.data(),
    st.sampled_from(["+6591234567", 6591234567, "Test MO message", ["+6591234567"]]),
)
def test_parse_event_errors_never_quote_a_value(
    data: dict[str, Any], draw: st.DataObject, secret: object
) -> None:
    """Whichever field is replaced by a number or text, an error does not quote it."""
    mutated = copy.deepcopy(data)
    target = mutated.get("payload", mutated)
    key = draw.draw(st.sampled_from(sorted(target)))
    target[key] = secret
    message = ""
    try:
        parse_event(body(mutated))
    except WebhookFormatError as exc:
        message = str(exc)
    assert "6591234567" not in message
    assert "Test MO message" not in message


@given(_json_values)
def test_parse_event_on_any_json(value: object) -> None:
    """Any JSON value gives an event or a WebhookFormatError."""
    with contextlib.suppress(WebhookFormatError):
        parse_event(body(value))


def test_dedupe_keys() -> None:
    """A receipt is (umid, state); inbound and survey their umid; unknown events none."""
    receipt = parse_event(body(RECEIPT))
    assert dedupe_key(receipt) == "receipt:9e09ac86-bd74-5465-851d-1eb5a5fdbb9a:undelivered"
    assert dedupe_key(parse_event(body(INBOUND))) == "inbound:9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
    assert dedupe_key(parse_event(body(SURVEY))) == "survey:84e7ee9a-5c41-e811-814c-020897df5459"
    assert dedupe_key(parse_event(body({"namespace": "X", "eventType": "y"}))) is None


def test_webhook_source_ips_list_every_region() -> None:
    """The four regions of 8x8's list, each a tuple of addresses."""
    assert sorted(WEBHOOK_SOURCE_IPS) == ["APAC", "EU", "ID", "NA"]
    assert "52.220.117.120" in WEBHOOK_SOURCE_IPS["APAC"]
    assert len(WEBHOOK_SOURCE_IPS["EU"]) == 4


# --- InMemoryDedupe ----------------------------------------------------------------------------


async def test_in_memory_dedupe_is_bounded_and_lru() -> None:
    """The oldest key is forgotten first; a key seen again is kept."""
    store = InMemoryDedupe(max_entries=2)
    assert await store.first_seen("a")
    assert await store.first_seen("b")
    assert not await store.first_seen("a")  # a is now the newest
    assert await store.first_seen("c")  # b goes
    assert len(store) == 2
    assert not await store.first_seen("a")
    assert await store.first_seen("b")


@given(st.lists(st.sampled_from("abcdefgh"), max_size=60), st.integers(1, 5))
def test_in_memory_dedupe_never_grows_past_its_bound(keys: list[str], bound: int) -> None:
    """However many keys come, the store holds at most max_entries."""
    import asyncio

    store = InMemoryDedupe(max_entries=bound)

    async def feed() -> None:
        for key in keys:
            await store.first_seen(key)
            assert len(store) <= bound

    asyncio.run(feed())


def test_in_memory_dedupe_refuses_a_zero_bound() -> None:
    """max_entries below 1 is a ValueError."""
    with pytest.raises(ValueError, match="max_entries"):
        InMemoryDedupe(max_entries=0)


# --- WebhookReceiver ---------------------------------------------------------------------------

AUTH = "Basic dXNlcjpzM2NyZXQ="


class Recorder:
    """A handler that records what it is given."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)


def make(
    handler: Callable[[WebhookEvent], Awaitable[object]] | None = None, **options: Any
) -> tuple[WebhookReceiver, Recorder]:
    recorder = Recorder()
    options.setdefault("authorization", AUTH)
    return WebhookReceiver(handler or recorder, **options), recorder


async def post(
    receiver: WebhookReceiver,
    content: bytes,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    client: tuple[str, int] = ("52.220.117.120", 4000),
) -> httpx.Response:
    transport = httpx.ASGITransport(app=receiver, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.request(
            method,
            "/",
            content=content,
            headers={"Authorization": AUTH} if headers is None else headers,
        )
    await receiver.drain()
    return answer


async def test_receiver_hands_a_receipt_to_the_handler() -> None:
    """A valid receipt gets 200 and reaches the handler once."""
    receiver, recorder = make()
    answer = await post(receiver, body(RECEIPT))
    assert answer.status_code == 200
    assert [type(e) for e in recorder.events] == [DeliveryReceipt]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Basic wrong"}, id="wrong"),
        pytest.param({"Authorization": AUTH + " "}, id="longer"),
        pytest.param({"Authorization": AUTH.lower()}, id="case"),
    ],
)
async def test_receiver_refuses_a_wrong_authorization(headers: dict[str, str]) -> None:
    """A missing or wrong Authorization gets 401 and reaches no handler."""
    receiver, recorder = make()
    answer = await post(receiver, body(RECEIPT), headers=headers)
    assert answer.status_code == 401
    assert recorder.events == []
    assert receiver.dedupe is not None
    assert len(receiver.dedupe) == 0  # type: ignore[arg-type]


async def test_receiver_refuses_two_authorization_headers() -> None:
    """A second Authorization header (one right, one wrong) is not a way in."""
    receiver, recorder = make()
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post(
            "/",
            content=body(RECEIPT),
            headers=[("Authorization", AUTH), ("Authorization", "Basic x")],
        )
    assert answer.status_code == 401
    assert recorder.events == []


async def test_receiver_drops_a_duplicate_receipt() -> None:
    """The same receipt posted twice (8x8's retry) reaches the handler once; both get 200."""
    receiver, recorder = make()
    first = await post(receiver, body(RECEIPT))
    second = await post(receiver, body(RECEIPT))
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(recorder.events) == 1


async def test_receiver_keeps_a_receipts_new_state() -> None:
    """The same umid in a new state is a new event."""
    receiver, recorder = make()
    await post(receiver, body(SANDBOX_RECEIPT))
    later = copy.deepcopy(SANDBOX_RECEIPT)
    later["payload"]["status"]["state"] = "read"
    await post(receiver, body(later))
    assert [e.state for e in recorder.events if isinstance(e, DeliveryReceipt)] == [
        MessageState.DELIVERED,
        MessageState.READ,
    ]


async def test_receiver_without_dedupe_hands_on_every_post() -> None:
    """dedupe=None hands every post to the handler."""
    receiver, recorder = make(dedupe=None)
    await post(receiver, body(INBOUND))
    await post(receiver, body(INBOUND))
    assert len(recorder.events) == 2


async def test_receiver_hands_on_unknown_events() -> None:
    """An unknown event gets 200 and reaches the handler (never deduplicated)."""
    receiver, recorder = make()
    answer = await post(receiver, body({"namespace": "ChatApps", "eventType": "x"}))
    assert answer.status_code == 200
    assert isinstance(recorder.events[0], UnknownEvent)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        pytest.param(b"{not json", "not JSON", id="garbage"),
        pytest.param(body({"namespace": "SMS"}), "$.eventType", id="wrong-shape"),
        pytest.param(LEGACY_XML, "legacy Wavecell", id="legacy-xml"),
        pytest.param(body(LEGACY_JSON), "legacy Wavecell", id="legacy-json"),
    ],
)
async def test_receiver_answers_400_to_bodies_it_cannot_read(content: bytes, phrase: str) -> None:
    """Garbage and legacy bodies get 400 with a sentence that says why; no handler runs."""
    receiver, recorder = make()
    answer = await post(receiver, content)
    assert answer.status_code == 400
    assert phrase in answer.text
    assert "6591234567" not in answer.text
    assert recorder.events == []


async def test_receiver_refuses_an_oversized_body_by_its_length() -> None:
    """A Content-Length over the limit gets 413 without reading the body."""
    receiver, recorder = make(max_body_bytes=100)
    answer = await post(receiver, body(RECEIPT))
    assert answer.status_code == 413
    assert recorder.events == []


async def test_receiver_stops_reading_a_streamed_body_at_the_limit() -> None:
    """Without Content-Length, reading stops at the first chunk past the limit: 413."""
    receiver, recorder = make(max_body_bytes=1000)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 400, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"authorization", AUTH.encode())],
        "client": ("127.0.0.1", 1),
    }
    await receiver(scope, receive, send)
    assert sent[0]["status"] == 413
    assert reads == 3  # 400, 800, 1200 > 1000: the endless body is never read further
    assert recorder.events == []


async def test_receiver_accepts_a_body_at_the_limit() -> None:
    """A body exactly max_body_bytes long is read."""
    content = body(RECEIPT)
    receiver, recorder = make(max_body_bytes=len(content))
    answer = await post(receiver, content)
    assert answer.status_code == 200
    assert len(recorder.events) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_receiver_accepts_only_post(method: str) -> None:
    """Other methods get 405 with Allow: POST."""
    receiver, recorder = make()
    answer = await post(receiver, b"", method=method)
    assert recorder.events == []
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("client", "allowed", "status"),
    [
        pytest.param(("52.220.117.120", 1), WEBHOOK_SOURCE_IPS["APAC"], 200, id="listed"),
        pytest.param(("34.142.20.188", 1), WEBHOOK_SOURCE_IPS["APAC"], 403, id="other-region"),
        pytest.param(("10.1.2.3", 1), ["10.0.0.0/8"], 200, id="cidr"),
        pytest.param(("::ffff:10.1.2.3", 1), ["10.0.0.0/8"], 200, id="v4-mapped"),
        pytest.param(("2001:db8::1", 1), ["2001:db8::/32"], 200, id="v6-cidr"),
        pytest.param(("not-an-ip", 1), ["10.0.0.0/8"], 403, id="unparseable"),
    ],
)
async def test_receiver_checks_the_source_address(
    client: tuple[str, int], allowed: list[str], status: int
) -> None:
    """Only listed addresses and networks may post; others get 403 and reach no handler."""
    receiver, recorder = make(allowed_ips=allowed)
    answer = await post(receiver, body(RECEIPT), client=client)
    assert answer.status_code == status
    assert len(recorder.events) == (1 if status == 200 else 0)


async def test_receiver_ignores_x_forwarded_for_unless_trusted() -> None:
    """A forged X-Forwarded-For does not pass the allow-list; with trust_forwarded its last
    entry is the address."""
    headers = {"Authorization": AUTH, "X-Forwarded-For": "1.2.3.4, 52.220.117.120"}
    receiver, recorder = make(allowed_ips=WEBHOOK_SOURCE_IPS["APAC"])
    answer = await post(receiver, body(RECEIPT), headers=headers, client=("9.9.9.9", 1))
    assert answer.status_code == 403
    trusting, recorder = make(allowed_ips=WEBHOOK_SOURCE_IPS["APAC"], trust_forwarded=True)
    answer = await post(trusting, body(RECEIPT), headers=headers, client=("10.0.0.1", 1))
    assert answer.status_code == 200
    assert len(recorder.events) == 1


def test_receiver_refuses_bad_options() -> None:
    """A bad address, a non-ASCII authorization or a zero limit is a ValueError."""
    with pytest.raises(ValueError, match="allowed_ips"):
        make(allowed_ips=["not-an-ip"])
    with pytest.raises(ValueError, match="ASCII"):
        make(authorization="Basic ü")
    with pytest.raises(ValueError, match="max_body_bytes"):
        make(max_body_bytes=0)


async def test_receiver_without_authorization_checks_nothing() -> None:
    """authorization=None lets a post without the header through."""
    receiver, recorder = make(authorization=None)
    answer = await post(receiver, body(RECEIPT), headers={})
    assert answer.status_code == 200
    assert len(recorder.events) == 1


async def test_receiver_logs_a_failing_handler_and_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler's exception is logged, and the next post is served as usual."""
    calls: list[WebhookEvent] = []

    async def broken(event: WebhookEvent) -> None:
        calls.append(event)
        msg = "handler bug"
        raise RuntimeError(msg)

    receiver, _ = make(broken)
    with caplog.at_level(logging.ERROR, logger="eightxeight_async.webhooks"):
        first = await post(receiver, body(RECEIPT))
        second = await post(receiver, body(INBOUND))
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(calls) == 2
    assert "handler failed" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.messages[0]


async def test_receiver_answers_before_the_handler_runs() -> None:
    """8x8 gets its 200 while the handler is still waiting: the handler runs after."""
    import asyncio

    release = asyncio.Event()
    done: list[WebhookEvent] = []

    async def slow(event: WebhookEvent) -> None:
        await release.wait()
        done.append(event)

    receiver, _ = make(slow)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post("/", content=body(RECEIPT), headers={"Authorization": AUTH})
    assert answer.status_code == 200
    assert done == []
    release.set()
    await receiver.drain()
    assert len(done) == 1


async def test_receiver_serves_lifespan_and_drains_at_shutdown() -> None:
    """Served bare, the receiver completes lifespan startup and shutdown."""
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    receiver, _ = make()
    await receiver({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_receiver_repr_hides_the_authorization() -> None:
    """The configured Authorization value never shows in the repr."""
    receiver, _ = make()
    assert "dXNlcjpzM2NyZXQ" not in repr(receiver)


async def call(
    receiver: WebhookReceiver, headers: list[tuple[bytes, bytes]], chunks: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Call the app directly: the messages it sent, and how often it read the body."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return chunks.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": headers, "client": ("127.0.0.1", 1)}
    await receiver(scope, receive, send)
    await receiver.drain()
    return sent, reads


async def test_receiver_reads_no_body_without_authorization() -> None:
    """A 401 is answered before a byte of the body is read."""
    receiver, recorder = make()
    sent, reads = await call(receiver, [], [{"type": "http.request", "body": body(RECEIPT)}])
    assert sent[0]["status"] == 401
    assert reads == 0
    assert recorder.events == []


async def test_receiver_answers_nothing_to_a_client_gone_mid_body() -> None:
    """A disconnect before the body ends gets no answer and reaches no handler."""
    receiver, recorder = make()
    chunks: list[dict[str, Any]] = [
        {"type": "http.request", "body": body(RECEIPT)[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent, _ = await call(receiver, [(b"authorization", AUTH.encode())], chunks)
    assert sent == []
    assert recorder.events == []


async def test_receiver_hands_on_when_the_dedupe_store_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing store is logged and the event still reaches the handler (fail open)."""

    class Broken:
        async def first_seen(self, key: str) -> bool:
            msg = "store down"
            raise ConnectionError(msg)

    receiver, recorder = make(dedupe=Broken())
    with caplog.at_level(logging.ERROR, logger="eightxeight_async.webhooks"):
        answer = await post(receiver, body(RECEIPT))
    assert answer.status_code == 200
    assert len(recorder.events) == 1
    assert "dedupe store failed" in caplog.text
