"""The wire mapping: camelCase out with no nulls, lenient parsing in, the datetime codec."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async import (
    Direction,
    Encoding,
    MessageDetails,
    MessageState,
    ResponseValidationError,
    SmsResponse,
    SmsStatusCode,
    StatusDetail,
)
from eightxeight_async._converters import (
    decode_json,
    format_datetime,
    parse_datetime,
    structure_response,
    to_camel,
    unstructure_request,
)
from eightxeight_async._models import FeedbackRequest, SmsRequest, SurveyRequest

from .conftest import PHONE, openapi_examples, reference_examples


def test_sms_request_every_field_in_camel_case() -> None:
    """Every Send SMS field goes out under 8x8's JSON key."""
    scheduled = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) + timedelta(
        days=1
    )
    body = unstructure_request(
        SmsRequest(
            destination=PHONE,
            text="Hi",
            country="SG",
            source="Acme",
            client_message_id="cm-1",
            encoding="GSM7",
            scheduled=scheduled,
            expiry=scheduled + timedelta(hours=1),
            dlr_callback_url="https://example.com/dlr",
            client_ip="203.0.113.7",
            track="Outcome",
        )
    )
    assert body == {
        "destination": PHONE,
        "text": "Hi",
        "country": "SG",
        "source": "Acme",
        "clientMessageId": "cm-1",
        "encoding": "GSM7",
        "scheduled": format_datetime(scheduled),
        "expiry": format_datetime(scheduled + timedelta(hours=1)),
        "dlrCallbackUrl": "https://example.com/dlr",
        "clientIp": "203.0.113.7",
        "track": "Outcome",
    }
    # The instant, written in UTC: 8x8's date-time is RFC 3339, and UTC is always valid there.
    utc = scheduled.astimezone(timezone.utc).replace(tzinfo=None)
    assert body["scheduled"] == utc.isoformat() + "Z"


def test_unset_fields_are_omitted_not_null() -> None:
    """No null field is ever sent."""
    assert unstructure_request(SmsRequest(destination=PHONE, text="Hi")) == {
        "destination": PHONE,
        "text": "Hi",
    }
    assert unstructure_request(FeedbackRequest(outcome="success")) == {"outcome": "success"}


def test_survey_request_wire_format() -> None:
    """Survey fields use templateBody/templateVariables, and non-string values stay typed."""
    body = unstructure_request(
        SurveyRequest(
            destination=PHONE,
            country="SG",
            template_body="Hello {{firstName}}, take survey here {{url:firstName}}",
            template_variables={"firstName": "James", "age": 24},
        )
    )
    assert body == {
        "destination": PHONE,
        "country": "SG",
        "templateBody": "Hello {{firstName}}, take survey here {{url:firstName}}",
        "templateVariables": {"firstName": "James", "age": 24},
    }


def test_feedback_timestamp_is_written_in_utc() -> None:
    """Aware datetimes are written as RFC 3339 in UTC, with the Z suffix 8x8's examples use."""
    ts = datetime(2019, 2, 17, 23, 31, 55, 600000, tzinfo=timezone(timedelta(hours=8)))
    assert unstructure_request(FeedbackRequest(outcome="success", timestamp=ts)) == {
        "outcome": "success",
        "timestamp": "2019-02-17T15:31:55.600000Z",
    }


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("client_message_id", "clientMessageId"),
        ("dlr_callback_url", "dlrCallbackUrl"),
        ("subaccount_id", "subAccountId"),
        ("sms_count", "smsCount"),
        ("per_sms", "perSms"),
        ("umid", "umid"),
    ],
)
def test_to_camel(name: str, wire: str) -> None:
    """Attribute names map to 8x8's spelling, subAccountId included."""
    assert to_camel(name) == wire


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2017-04-19T02:31:19.4297387+00:00",
            datetime(2017, 4, 19, 2, 31, 19, 429738, tzinfo=timezone.utc),
            id="7-digits",
        ),
        pytest.param(
            "2020-06-17T04:17:21.06Z",
            datetime(2020, 6, 17, 4, 17, 21, 60000, tzinfo=timezone.utc),
            id="2-digits-Z",
        ),
        pytest.param(
            "2016-01-01T00:00:00Z", datetime(2016, 1, 1, tzinfo=timezone.utc), id="no-fraction"
        ),
        pytest.param(
            "2016-11-07T19:20:30+08:00",
            datetime(2016, 11, 7, 19, 20, 30, tzinfo=timezone(timedelta(hours=8))),
            id="offset",
        ),
        pytest.param(
            "2016-11-07T19:20:30.5-0530",
            datetime(
                2016, 11, 7, 19, 20, 30, 500000, tzinfo=timezone(-timedelta(hours=5, minutes=30))
            ),
            id="compact-offset",
        ),
        pytest.param(
            "2016-11-07T19:20:30",
            datetime(2016, 11, 7, 19, 20, 30, tzinfo=timezone.utc),
            id="naive",
        ),
    ],
)
def test_parse_datetime_forms(text: str, expected: datetime) -> None:
    """Every timestamp form in 8x8's documents parses on every Python version."""
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2020-13-01T00:00:00Z", "2020-01-01T00:00:00+25:00"]
)
def test_parse_datetime_rejects_garbage(text: str) -> None:
    """Garbage is a ValueError, never a wrong date."""
    with pytest.raises(ValueError):
        parse_datetime(text)


# Any offset a tzinfo may return: seconds and microseconds included (historical zones have them).
ANY_OFFSET = st.timedeltas(
    min_value=-timedelta(hours=24) + timedelta(microseconds=1),
    max_value=timedelta(hours=24) - timedelta(microseconds=1),
).map(timezone)
RFC3339 = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ANY_OFFSET
    )
)
def test_format_datetime_is_rfc3339_for_any_offset(value: datetime) -> None:
    """Any aware datetime is written as RFC 3339 (odd offsets, microseconds, early years)."""
    text = format_datetime(value)
    assert RFC3339.fullmatch(text), text


def test_format_datetime_with_seconds_in_offset() -> None:
    """An offset of +05:30:15 was written as is, which RFC 3339 does not allow."""
    value = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30, seconds=15)))
    assert format_datetime(value) == "2026-01-01T06:29:45Z"


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ANY_OFFSET
    )
)
def test_datetime_codec_round_trips(value: datetime) -> None:
    """format then parse gives back the same instant, to the microsecond."""
    parsed = parse_datetime(format_datetime(value))
    assert parsed == value
    assert parsed.utcoffset() == timedelta(0)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(min_value=0, max_value=9_999_999),
    st.integers(min_value=1, max_value=7),
    st.sampled_from(["Z", "+00:00"]),
)
def test_parse_datetime_8x8_fractions(
    base: datetime, fraction: int, digits: int, zone: str
) -> None:
    """2 to 7 fractional digits with Z or +00:00, as 8x8 sends them, keep the microseconds."""
    frac = str(fraction).rjust(7, "0")[:digits]
    text = base.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac}{zone}"
    parsed = parse_datetime(text)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.microsecond == int(frac[:6].ljust(6, "0"))
    assert parsed.replace(microsecond=0, tzinfo=None) == base.replace(microsecond=0)


@pytest.mark.parametrize(
    ("page", "index"),
    [("send-sms", 0), ("send-sms", 1), ("send-survey", 0), ("send-survey", 1)],
)
def test_reference_page_sms_examples_parse(page: str, index: int) -> None:
    """The SmsResponse examples of the reference pages parse."""
    body = reference_examples()[page][index]
    parsed = structure_response(body, SmsResponse)
    assert parsed.umid == body["umid"]
    assert parsed.status.code is SmsStatusCode.QUEUED
    assert parsed.encoding is Encoding.GSM7
    assert not parsed.rejected


@pytest.mark.parametrize("index", [0, 1])
def test_reference_page_details_examples_parse(index: int) -> None:
    """Both message details examples parse, GSM8 and delivered_to_carrier kept as strings."""
    body = reference_examples()["get-message-details"][index]
    parsed = structure_response(body, MessageDetails)
    assert parsed.direction is Direction.OUTBOUND
    assert parsed.status.state is MessageState.DELIVERED
    assert parsed.encoding == "GSM8"
    assert parsed.created_at == datetime(2020, 6, 17, 4, 17, 21, 60000, tzinfo=timezone.utc)
    assert parsed.sms_count == 2
    assert parsed.price is not None
    assert parsed.price.per_sms == Decimal("0.0012")
    assert parsed.price.currency == "EUR"
    assert parsed.subaccount_id == body["subAccountId"]
    if index == 0:
        assert parsed.status.detail == "delivered_to_carrier"
        assert parsed.status.error_code == 0
        assert parsed.batch_id == "c9c01382-38bf-4e27-8962-ae0684ab56c3"
    else:
        assert parsed.status.detail is StatusDetail.DELIVERED_TO_RECIPIENT
        assert parsed.price.total == Decimal("0.0024")


@pytest.mark.parametrize(("path", "body"), openapi_examples("sms"))
def test_openapi_sms_examples_parse(path: str, body: dict[str, Any]) -> None:
    """Every SmsResponse example in 8x8's OpenAPI file parses."""
    assert structure_response(body, SmsResponse).umid == body["umid"]


@pytest.mark.parametrize(("path", "body"), openapi_examples("details"))
def test_openapi_details_examples_parse(path: str, body: dict[str, Any]) -> None:
    """Every message details example in 8x8's OpenAPI file parses."""
    assert structure_response(body, MessageDetails).umid == body["umid"]


def test_rejected_in_200_is_a_result() -> None:
    """status REJECTED in a 200 is a response with rejected == True."""
    parsed = structure_response(
        {
            "umid": "u",
            "destination": "6500000000",
            "encoding": "GSM7",
            "status": {"code": "REJECTED", "description": "Expiry time already reached"},
        },
        SmsResponse,
    )
    assert parsed.rejected
    assert parsed.status.description == "Expiry time already reached"


def test_unknown_keys_and_enum_values_are_kept() -> None:
    """8x8 adding a key or an enum value never breaks parsing."""
    parsed = structure_response(
        {
            "umid": "u",
            "destination": "6500000000",
            "encoding": "GSM9",
            "status": {"code": "HELD", "description": "x", "newField": 1},
            "brandNewKey": {"nested": True},
        },
        SmsResponse,
    )
    assert parsed.encoding == "GSM9"
    assert parsed.status.code == "HELD"
    assert not parsed.rejected


DETAILS = reference_examples()["get-message-details"][1]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        pytest.param(lambda b: b.pop("umid"), "$.umid", id="missing-umid"),
        pytest.param(lambda b: b.update(smsCount="2"), "$.smsCount", id="count-str"),
        pytest.param(lambda b: b.update(smsCount=True), "$.smsCount", id="count-bool"),
        pytest.param(lambda b: b.update(createdAt="soon"), "$.createdAt", id="created"),
        pytest.param(lambda b: b["status"].pop("state"), "$.status.state", id="state"),
        pytest.param(lambda b: b["status"].update(state=5), "$.status.state", id="state-int"),
        pytest.param(lambda b: b["price"].update(perSms="x"), "$.price.perSms", id="price"),
        pytest.param(lambda b: b.update(subAccountId=None), "$.subAccountId", id="sub-null"),
    ],
)
def test_malformed_details_name_the_wire_path(mutate: Any, path: str) -> None:
    """A body off the documented shape raises ResponseValidationError naming the JSON path."""
    import copy

    body = copy.deepcopy(DETAILS)
    mutate(body)
    with pytest.raises(ResponseValidationError) as info:
        structure_response(body, MessageDetails)
    assert info.value.path == path
    assert path in str(info.value)


@pytest.mark.parametrize("body", [[], "ok", None, 5])
def test_non_object_body_is_a_response_validation_error(body: object) -> None:
    """A body that is not a JSON object is reported at $."""
    with pytest.raises(ResponseValidationError) as info:
        structure_response(body, SmsResponse)
    assert info.value.path == "$"


def test_reprs_mask_phone_numbers_and_hide_text() -> None:
    """Reprs of requests and responses never show a full number, the text or the body."""
    request = SmsRequest(destination="+6591234567", text="secret 424242")
    assert "91234567" not in repr(request)
    assert "424242" not in repr(request)
    response = structure_response(
        {
            "umid": "u",
            "destination": "6591234567",
            "encoding": "GSM7",
            "status": {"code": "QUEUED"},
        },
        SmsResponse,
    )
    assert "91234567" not in repr(response)
    details = structure_response({**DETAILS, "body": "unmasked 424242"}, MessageDetails)
    assert "424242" not in repr(details)


# --- hostile bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b"[Infinity]", id="infinity"),
        pytest.param(b"-Infinity", id="-infinity"),
        pytest.param(b"1" * 5000, id="huge-int"),
        pytest.param(b'"\xff"', id="not-utf8"),
        pytest.param(b"{", id="truncated"),
    ],
)
def test_decode_json_refuses_what_is_not_strict_json(content: bytes) -> None:
    """Only ValueError comes out of decode_json: never RecursionError, never a NaN."""
    with pytest.raises(ValueError):
        decode_json(content)


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        pytest.param("smsCount", 10**5000, "$.smsCount", id="huge-int"),
        pytest.param("smsCount", 2**63, "$.smsCount", id="int-past-64-bits"),
        pytest.param("umid", _nested(100_000), "$.umid", id="deep-list"),
        pytest.param("status", _nested(50_000), "$.status", id="deep-list-for-object"),
        pytest.param(
            "price",
            {"total": 10**5000, "perSms": 1, "currency": "EUR"},
            "$.price.total",
            id="huge-price",
        ),
        pytest.param("price", [], "$.price", id="list-for-object"),
        pytest.param("createdAt", "9" * 5000, "$.createdAt", id="long-date"),
        pytest.param("createdAt", "0000-01-01T00:00:00Z", "$.createdAt", id="year-0"),
        pytest.param("status", {"state": {"a": 1}}, "$.status.state", id="object-for-enum"),
    ],
)
def test_hostile_field_values_are_response_validation_errors(
    key: str, value: object, path: str
) -> None:
    """Huge numbers and deep lists inside fields give ResponseValidationError, nothing else."""
    body = {**DETAILS, key: value}
    with pytest.raises(ResponseValidationError) as info:
        structure_response(body, MessageDetails)
    assert info.value.path == path


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["QUEUED", "delivered", "GSM7", "2020-06-17T04:17:21.06Z", "0.01"])
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


def _mutations(body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A documented body with some keys replaced by, or added as, arbitrary JSON values."""
    keys = st.sampled_from(sorted(body)) | st.text(max_size=8)
    return st.dictionaries(keys, JSON_VALUES, max_size=3).map(lambda extra: {**body, **extra})


@given(
    st.one_of(
        _mutations(DETAILS).map(lambda b: (b, MessageDetails)),
        _mutations(reference_examples()["send-sms"][0]).map(lambda b: (b, SmsResponse)),
        JSON_VALUES.map(lambda b: (b, MessageDetails)),
    )
)
def test_structure_response_raises_only_response_validation_error(
    case: tuple[object, type[Any]],
) -> None:
    """Whatever JSON 8x8 sends, the result is the response or a ResponseValidationError whose
    message is one printable line."""
    body, cls = case
    error: ResponseValidationError | None = None
    try:
        structure_response(body, cls)
    except ResponseValidationError as exc:
        error = exc
    if error is not None:
        assert str(error).isprintable()
        assert error.path.startswith("$")
