"""Every documented field rule, checked before any I/O, with errors that name field and rule."""

from __future__ import annotations

import re
import string
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async import AsyncSmsClient, Encoding, Outcome, Track, ValidationError
from eightxeight_async._models import FeedbackRequest, SmsRequest, SurveyRequest
from eightxeight_async._validators import (
    DESTINATION_PATTERN,
    SUBACCOUNT_PATTERN,
    check_base_url,
    check_path_id,
    check_subaccount_id,
)

from .conftest import PHONE, TEXT

NOW = datetime.now(timezone.utc)
OAS_DESTINATION = re.compile(r"^\+{0,1}[1-9]{1}[0-9]{6,14}$")
OAS_SUBACCOUNT = re.compile(r"^[A-Za-z0-9\-._&]{3,50}$")


def sms(**overrides: Any) -> SmsRequest:
    fields: dict[str, Any] = {"destination": PHONE, "text": TEXT, **overrides}
    return SmsRequest(**fields)


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        pytest.param({"destination": "0123456789"}, "destination", "phone number", id="dest-0"),
        pytest.param({"destination": "+123456"}, "destination", "7 to 15 digits", id="dest-short"),
        pytest.param({"destination": "+1234567890123456"}, "destination", "7 to 15", id="long"),
        pytest.param({"destination": "++6591234567"}, "destination", "phone", id="dest-2plus"),
        pytest.param({"destination": "+65 9123 4567"}, "destination", "phone", id="dest-space"),
        pytest.param({"destination": "+6591234567\n"}, "destination", "phone", id="dest-newline"),
        pytest.param({"destination": 6591234567}, "destination", "phone", id="dest-int"),
        pytest.param({"text": ""}, "text", "non-empty", id="text-empty"),
        pytest.param({"text": "  \n"}, "text", "non-empty", id="text-blank"),
        pytest.param({"country": "SGP"}, "country", "exactly 2 letters", id="country-3"),
        pytest.param({"country": "S"}, "country", "exactly 2 letters", id="country-1"),
        pytest.param({"country": "S1"}, "country", "exactly 2 letters", id="country-digit"),
        pytest.param({"source": "A" * 17}, "source", "at most 16 characters", id="source-17"),
        pytest.param({"source": ""}, "source", "non-empty", id="source-empty"),
        pytest.param(
            {"client_message_id": "x" * 351}, "client_message_id", "at most 350", id="cmid"
        ),
        pytest.param({"client_message_id": 7}, "client_message_id", "a string", id="cmid-int"),
        pytest.param({"encoding": "UTF8"}, "encoding", "one of 'AUTO', 'GSM7', 'UCS2'", id="enc"),
        pytest.param({"track": "outcome"}, "track", "one of 'None', 'Outcome'", id="track-case"),
        pytest.param(
            {"scheduled": datetime(2030, 1, 1)}, "scheduled", "timezone-aware", id="naive"
        ),
        pytest.param({"scheduled": "2030-01-01"}, "scheduled", "a datetime", id="sched-str"),
        pytest.param(
            {"scheduled": NOW + timedelta(days=8)},
            "scheduled",
            "no more than 7 days ahead",
            id="sched-8d",
        ),
        pytest.param({"expiry": datetime(2030, 1, 1)}, "expiry", "timezone-aware", id="exp-naive"),
        pytest.param({"expiry": NOW - timedelta(seconds=1)}, "expiry", "in the future", id="past"),
        pytest.param(
            {"scheduled": NOW + timedelta(hours=2), "expiry": NOW + timedelta(hours=1)},
            "expiry",
            "later than scheduled",
            id="exp-before-sched",
        ),
        pytest.param({"dlr_callback_url": "ftp://x.y/z"}, "dlr_callback_url", "http", id="ftp"),
        pytest.param(
            {"dlr_callback_url": "example.com/hook"}, "dlr_callback_url", "http", id="rel"
        ),
        pytest.param({"dlr_callback_url": "https://"}, "dlr_callback_url", "http", id="nohost"),
        pytest.param({"client_ip": "300.1.1.1"}, "client_ip", "IPv4 or IPv6", id="ip-bad"),
        pytest.param({"client_ip": "localhost"}, "client_ip", "IPv4 or IPv6", id="ip-name"),
    ],
)
def test_sms_request_rule_is_enforced(overrides: dict[str, Any], field: str, rule: str) -> None:
    """Each rule of the Send SMS page raises ValidationError naming the field and the rule."""
    with pytest.raises(ValidationError) as info:
        sms(**overrides)
    assert info.value.field == field
    assert rule in info.value.rule
    assert str(info.value).startswith(f"Invalid {field}: must be ")


def test_validation_error_never_echoes_phone_or_text() -> None:
    """A rejected phone number or text does not appear in the error message."""
    for overrides in ({"destination": "+65 9123 4567"}, {"text": "   "}):
        with pytest.raises(ValidationError) as info:
            sms(**overrides)
        assert "9123" not in str(info.value)
        assert "9123" not in repr(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="minimal"),
        pytest.param({"destination": "6591234567", "country": "SG"}, id="national"),
        pytest.param({"source": "A" * 16, "client_message_id": "x" * 350}, id="max-lengths"),
        pytest.param({"encoding": Encoding.UCS2, "track": Track.OUTCOME}, id="enums"),
        pytest.param({"encoding": "GSM7", "track": "None"}, id="enum-strings"),
        pytest.param({"scheduled": NOW + timedelta(days=6, hours=23)}, id="sched-7d"),
        pytest.param({"expiry": NOW + timedelta(hours=1)}, id="expiry"),
        pytest.param({"dlr_callback_url": "http://example.com/8x8/webhook?x=1"}, id="dlr"),
        pytest.param({"client_ip": "2001:db8::1"}, id="ipv6"),
        pytest.param({"client_ip": "203.0.113.7"}, id="ipv4"),
    ],
)
def test_sms_request_accepts_valid_input(overrides: dict[str, Any]) -> None:
    """Values inside every documented limit are accepted."""
    sms(**overrides)


def test_enum_strings_become_members() -> None:
    """Plain strings are turned into the enum members, so the wire value is exact."""
    request = sms(encoding="UCS2", track="Outcome")
    assert request.encoding is Encoding.UCS2
    assert request.track is Track.OUTCOME


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        pytest.param({"country": "S"}, "country", "exactly 2", id="country-1"),
        pytest.param({"template_body": ""}, "template_body", "non-empty", id="empty"),
        pytest.param({"template_body": "Rate us!"}, "template_body", "{{url:}}", id="no-url"),
        pytest.param({"template_variables": ["a"]}, "template_variables", "mapping", id="list"),
        pytest.param(
            {"template_variables": {"a": None}}, "template_variables", "values", id="none"
        ),
        pytest.param({"template_variables": {"": "x"}}, "template_variables", "keys", id="key"),
        pytest.param({"source": "B" * 17}, "source", "at most 16", id="source"),
        pytest.param({"client_message_id": "y" * 351}, "client_message_id", "350", id="cmid"),
        pytest.param({"destination": "12"}, "destination", "phone", id="dest"),
    ],
)
def test_survey_request_rule_is_enforced(overrides: dict[str, Any], field: str, rule: str) -> None:
    """Each rule of the Send Survey page raises ValidationError naming the field and the rule."""
    fields: dict[str, Any] = {"destination": PHONE, **overrides}
    with pytest.raises(ValidationError) as info:
        SurveyRequest(**fields)
    assert info.value.field == field
    assert rule in info.value.rule


def test_survey_request_has_no_text_client_ip_or_track() -> None:
    """The survey body has no text, clientIp or track (8x8's SurveyRequest schema)."""
    with pytest.raises(TypeError):
        SurveyRequest(destination=PHONE, text="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SurveyRequest(destination=PHONE, track="Outcome")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SurveyRequest(destination=PHONE, client_ip="1.2.3.4")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        pytest.param({"outcome": "ok"}, "outcome", "'success', 'failure'", id="bad"),
        pytest.param({"outcome": None}, "outcome", "'success', 'failure'", id="none"),
        pytest.param(
            {"outcome": "success", "timestamp": datetime(2026, 1, 1)},
            "timestamp",
            "timezone-aware",
            id="naive",
        ),
    ],
)
def test_feedback_request_rule_is_enforced(fields: dict[str, Any], field: str, rule: str) -> None:
    """Feedback takes success or failure and an aware timestamp."""
    with pytest.raises(ValidationError) as info:
        FeedbackRequest(**fields)
    assert info.value.field == field
    assert rule in info.value.rule


def test_feedback_request_accepts_enum_and_string() -> None:
    """Outcome accepts the enum or its plain string."""
    assert FeedbackRequest(outcome="failure").outcome is Outcome.FAILURE
    assert FeedbackRequest(outcome=Outcome.SUCCESS).outcome is Outcome.SUCCESS


def accepts(check: Any) -> bool:
    """Whether ``check()`` passes rather than raising ValidationError."""
    try:
        check()
    except ValidationError:
        return False
    return True


@given(st.text(alphabet=string.printable, max_size=20))
def test_destination_rule_matches_8x8_regex(value: str) -> None:
    """Our destination check accepts exactly what 8x8's regex accepts (with no newline trick)."""
    assert accepts(lambda: sms(destination=value)) == (OAS_DESTINATION.fullmatch(value) is not None)


@given(st.from_regex(OAS_DESTINATION, fullmatch=True))
def test_destination_rule_accepts_every_8x8_number(value: str) -> None:
    """Every number 8x8's pattern allows is accepted."""
    assert sms(destination=value).destination == value


@given(st.text(alphabet=string.ascii_letters + string.digits + "-._&/ %+\n", max_size=60))
def test_subaccount_rule_matches_8x8_regex(value: str) -> None:
    """Our subaccount check agrees with 8x8's regex on arbitrary strings."""
    assert accepts(lambda: check_subaccount_id(value)) == (
        OAS_SUBACCOUNT.fullmatch(value) is not None
    )


@given(st.from_regex(OAS_SUBACCOUNT, fullmatch=True))
def test_subaccount_rule_accepts_every_8x8_id(value: str) -> None:
    """Every subaccount id 8x8's pattern allows is accepted, '&' included."""
    assert check_subaccount_id(value) == value


def test_patterns_are_8x8s() -> None:
    """The patterns are 8x8's, written without anchors because we use fullmatch."""
    assert f"^{DESTINATION_PATTERN}$" == OAS_DESTINATION.pattern
    assert f"^{SUBACCOUNT_PATTERN}$" == OAS_SUBACCOUNT.pattern


@pytest.mark.parametrize("value", ["", " u", "u ", None, 5])
def test_path_id_must_be_non_empty(value: object) -> None:
    """umid and survey_id must be non-empty strings."""
    with pytest.raises(ValidationError, match="umid"):
        check_path_id(value, "umid")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        pytest.param("https://sms.8x8.com", True, id="https"),
        pytest.param("https://proxy.example.com:8443/8x8/", True, id="path"),
        pytest.param("http://127.0.0.1:8080", True, id="http-loopback"),
        pytest.param("http://localhost:8080", True, id="http-localhost"),
        pytest.param("http://sms.8x8.com", False, id="http-remote"),
        pytest.param("sms.8x8.com", False, id="no-scheme"),
        pytest.param("https://", False, id="no-host"),
        pytest.param("https://sms.8x8.com/?a=1", False, id="query"),
    ],
)
def test_base_url_rule(url: str, ok: bool) -> None:
    """base_url must be https, plain http only on loopback: the key travels with every request."""
    if ok:
        assert not check_base_url(url).endswith("/")
    else:
        with pytest.raises(ValidationError, match="base_url"):
            check_base_url(url)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda c: c.send_sms(destination="1", text=TEXT), "destination", id="sms"),
        pytest.param(
            lambda c: c.send_sms(destination=PHONE, text=TEXT, subaccount_id="a"),
            "subaccount_id",
            id="sms-sub",
        ),
        pytest.param(lambda c: c.send_survey("", destination=PHONE), "survey_id", id="survey-id"),
        pytest.param(
            lambda c: c.send_survey("nps", destination=PHONE, country="SGP"), "country", id="svy"
        ),
        pytest.param(lambda c: c.get_message(""), "umid", id="details"),
        pytest.param(lambda c: c.send_feedback("u", outcome="yes"), "outcome", id="feedback"),
        pytest.param(lambda c: c.send_feedback(" ", outcome="success"), "umid", id="fb-umid"),
        pytest.param(lambda c: c.get_message("u", timeout=-1), "timeout", id="timeout"),
    ],
)
async def test_client_validates_before_any_request(
    api: respx.MockRouter, client: AsyncSmsClient, call: Any, field: str
) -> None:
    """Bad input raises ValidationError and no request leaves the process."""
    route = api.route().respond(500)
    with pytest.raises(ValidationError) as info:
        await call(client)
    assert info.value.field == field
    assert not route.called
