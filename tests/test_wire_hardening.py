"""What actually goes on the wire for odd input: path ids, request bodies against 8x8's OpenAPI
schema, and the errors a client call raises (redacted, picklable)."""

from __future__ import annotations

import functools
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, ValidationError
from eightxeight_async._converters import encode_json, unstructure_request
from eightxeight_async._models import FeedbackRequest, SmsRequest, SurveyRequest
from eightxeight_async._validators import DESTINATION_PATTERN

from .conftest import API_KEY, DATA, PHONE, SUBACCOUNT, TEXT, reference_examples

MESSAGES = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
SMS_OK = reference_examples()["send-sms"][0]
DETAILS_OK = reference_examples()["get-message-details"][1]


# --- path ids --------------------------------------------------------------------------------


async def test_unreserved_umid_goes_out_as_it_is(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """An id of unreserved characters is its own path segment, unencoded."""
    route = api.route().respond(200, json=DETAILS_OK)
    await client.get_message("a-b_c.~1")
    assert route.calls.last.request.url.raw_path == f"{MESSAGES}/a-b_c.~1".encode()


@pytest.mark.parametrize(
    "umid",
    [
        pytest.param("a/b", id="slash"),
        pytest.param("%2e%2e", id="encoded-dot-dot"),
        pytest.param("?x", id="question-mark"),
        pytest.param("#", id="hash"),
        pytest.param("a b", id="space"),
        pytest.param("ü", id="non-ascii"),
    ],
)
async def test_odd_umid_never_leaves(
    api: respx.MockRouter, client: AsyncSmsClient, umid: str
) -> None:
    """An id that percent-encoding would change is refused before any request (it used to be
    encoded and sent)."""
    route = api.route().respond(200, json=DETAILS_OK)
    with pytest.raises(ValidationError) as info:
        await client.get_message(umid)
    assert info.value.field == "umid"
    assert not route.called


@pytest.mark.parametrize("umid", [".", ".."])
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, i: c.get_message(i), id="get_message"),
        pytest.param(lambda c, i: c.send_feedback(i, outcome="success"), id="send_feedback"),
        pytest.param(lambda c, i: c.send_survey(i, destination=PHONE), id="send_survey"),
    ],
)
async def test_dot_segment_ids_never_leave(
    api: respx.MockRouter, client: AsyncSmsClient, call: Any, umid: str
) -> None:
    """get_message("..") read .../subaccounts/{id} and send_survey("..", ...) posted an SMS send:
    httpx resolves dot segments. They are refused before any request."""
    route = api.route().respond(200, json=SMS_OK)
    with pytest.raises(ValidationError):
        await call(client, umid)
    assert not route.called


# --- request bodies against 8x8's OpenAPI file -------------------------------------------------

SPEC = json.loads((DATA / "sms_api.json").read_text())


def format_checker() -> Any:
    # jsonschema (with its format-nongpl extra) is a test dependency only.
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft7Validator.FORMAT_CHECKER


@functools.cache
def schema_validator(name: str) -> Any:
    """A validator of one request schema, with 'uri' and 'date-time' formats checked."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = {**SPEC["components"]["schemas"][name], "components": SPEC["components"]}
    return jsonschema.Draft7Validator(schema, format_checker=format_checker())


def test_formats_are_really_checked() -> None:
    """The schema check below checks formats (jsonschema skips those it has no library for)."""
    formats = format_checker()
    assert {"uri", "date-time"} <= set(formats.checkers)
    assert not formats.conforms("https://example.com/{id}", "uri")
    assert not formats.conforms("2026-01-01T00:00:00+05:30:15", "date-time")


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"{name} in the request body")


def assert_strict_json_matching(request: Any, schema: str) -> None:
    data = encode_json(unstructure_request(request))
    body = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    errors = [
        f"{list(err.path)}: {err.message}" for err in schema_validator(schema).iter_errors(body)
    ]
    assert errors == []


NOW = datetime.now(timezone.utc)
ANY_ZONE = st.timedeltas(
    min_value=-timedelta(hours=24) + timedelta(microseconds=1),
    max_value=timedelta(hours=24) - timedelta(microseconds=1),
).map(timezone)
SOON = st.builds(
    lambda seconds, zone: (NOW + timedelta(seconds=seconds)).astimezone(zone),
    st.floats(min_value=60, max_value=6 * 86400),
    ANY_ZONE,
)
ANY_TEXT = st.text(max_size=40)
URLS = st.sampled_from(
    ["https://example.com/dlr", "http://[::1]:8080/x?a=b#c", "https://u:p@example.com/%7Bid%7D"]
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Mostly plausible values with some noise in each, so that many examples pass validation (and
# reach the schema check) while the odd ones probe it.
DESTINATIONS = st.from_regex(DESTINATION_PATTERN, fullmatch=True)
TEXTS = st.text(min_size=1).filter(str.strip) | ANY_TEXT
COUNTRIES = st.sampled_from(["SG", "us"]) | st.text(max_size=3)
IDS = st.text(alphabet="abc-_ 09", min_size=1, max_size=20) | ANY_TEXT
SMS_ARGS = st.fixed_dictionaries(
    {"destination": DESTINATIONS, "text": TEXTS},
    optional={
        "country": maybe(COUNTRIES),
        "source": maybe(IDS),
        "client_message_id": maybe(IDS),
        "encoding": maybe(st.sampled_from(["AUTO", "GSM7", "UCS2"])),
        "scheduled": maybe(SOON),
        "expiry": maybe(SOON),
        "dlr_callback_url": maybe(URLS | ANY_TEXT),
        "client_ip": maybe(st.ip_addresses().map(str) | ANY_TEXT),
        "track": maybe(st.sampled_from(["None", "Outcome"])),
    },
)
TEMPLATE_VALUES = (
    st.text()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
)
SURVEY_ARGS = st.fixed_dictionaries(
    {"destination": st.from_regex(DESTINATION_PATTERN, fullmatch=True)},
    optional={
        "country": maybe(COUNTRIES),
        "template_body": maybe(ANY_TEXT.map(lambda t: t + "{{url:}}")),
        "template_variables": maybe(st.dictionaries(st.text(max_size=8), TEMPLATE_VALUES)),
        "source": maybe(IDS),
        "client_message_id": maybe(IDS),
        "encoding": maybe(st.sampled_from(["AUTO", "GSM7", "UCS2"])),
        "scheduled": maybe(SOON),
        "dlr_callback_url": maybe(URLS | ANY_TEXT),
    },
)
FEEDBACK_ARGS = st.fixed_dictionaries(
    {"outcome": st.sampled_from(["success", "failure"])},
    optional={
        "timestamp": maybe(
            st.datetimes(
                min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ANY_ZONE
            )
        )
    },
)
CASES = (
    SMS_ARGS.map(lambda a: (SmsRequest, a, "SmsRequest"))
    | SURVEY_ARGS.map(lambda a: (SurveyRequest, a, "SurveyRequest"))
    | FEEDBACK_ARGS.map(lambda a: (FeedbackRequest, a, "feedback"))
)


# No deadline: the first example loads jsonschema's format libraries, and the machine is shared.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CASES)
def test_every_valid_request_is_strict_json_8x8_accepts(
    case: tuple[type, dict[str, Any], str],
) -> None:
    """Whatever passes validation encodes to strict UTF-8 JSON (no NaN, no lone surrogate) that
    8x8's OpenAPI schema accepts, formats included."""
    cls, args, schema = case
    try:
        request = cls(**args)
    except ValidationError as exc:
        event(f"refused: {exc.field}")
        return
    event(f"valid {schema}")
    assert_strict_json_matching(request, schema)


@pytest.mark.parametrize(
    ("request_", "schema"),
    [
        pytest.param(
            FeedbackRequest(
                outcome="success",
                timestamp=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, seconds=15))),
            ),
            "feedback",
            id="offset-with-seconds",
        ),
        pytest.param(
            SmsRequest(destination=PHONE, text="x", dlr_callback_url="https://example.com/a%7Bb"),
            "SmsRequest",
            id="encoded-url",
        ),
        pytest.param(
            SurveyRequest(destination=PHONE, template_variables={"age": 24, "vip": True}),
            "SurveyRequest",
            id="typed-variables",
        ),
    ],
)
def test_known_cases_match_the_schema(request_: Any, schema: str) -> None:
    """The cases that used to break (an offset with seconds) now match 8x8's schema."""
    assert_strict_json_matching(request_, schema)


# --- errors out of a real call ---------------------------------------------------------------


async def test_error_of_a_failed_send_holds_no_secret(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """The error a send raises neither shows nor pickles the key, the text or the number, and
    its message shows 8x8's text escaped."""
    api.post(MESSAGES).respond(
        400,
        json={"code": 1002, "message": "Invalid\r\nForged: line", "errorId": "e-1"},
        headers={"Set-Cookie": "session=s3cr3t"},
    )
    with pytest.raises(e.BadRequestError) as info:
        await client.send_sms(destination=PHONE, text=TEXT)
    err = info.value
    assert str(err) == (
        "8x8 rejected the request (HTTP 400, code 1002): Invalid\\r\\nForged: line. [errorId e-1]"
    )
    assert "Authorization" not in err.request.headers  # type: ignore[union-attr]
    assert err.request is not None
    assert err.request.content == b""
    assert "Set-Cookie" not in err.response.headers
    assert err.response.elapsed >= timedelta(0)
    data = pickle.dumps(err)
    for secret in (API_KEY, TEXT, PHONE[3:], "s3cr3t"):
        assert secret.encode() not in data
        assert secret not in repr(err)
    copy = pickle.loads(data)
    assert (type(copy), str(copy), copy.code, copy.error_id) == (
        e.BadRequestError,
        str(err),
        1002,
        "e-1",
    )
    assert copy.response.status_code == 400
