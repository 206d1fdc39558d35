"""Every documented field rule, checked before any I/O, with errors that name field and rule."""

from __future__ import annotations

import re
import string
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async import AsyncSmsClient, Encoding, Outcome, Track, ValidationError
from eightxeight_async._converters import unstructure_request
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
        pytest.param({"track": "outcomes"}, "track", "one of 'None', 'Outcome'", id="track-typo"),
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


@pytest.mark.parametrize(("encoding", "track"), [("ucs2", "outcome"), ("Ucs2", "OUTCOME")])
def test_enum_strings_match_without_regard_to_case(encoding: str, track: str) -> None:
    """The SDK takes choices in any case, as the command line does; the wire gets 8x8's spelling."""
    request = sms(encoding=encoding, track=track)
    assert (request.encoding, request.track) == (Encoding.UCS2, Track.OUTCOME)
    assert unstructure_request(request)["track"] == "Outcome"


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
    "url",
    [
        pytest.param("https://sms.8x8.com", id="https"),
        pytest.param("HTTPS://SMS.8x8.COM", id="upper-case"),
        pytest.param("https://proxy.example.com:8443/8x8/", id="path"),
        pytest.param("https://sms.8x8.com:1", id="port-1"),
        pytest.param("https://sms.8x8.com:65535", id="port-65535"),
        pytest.param("https://my_service.internal", id="underscore"),
        pytest.param("https://ドメイン.テスト", id="idna"),
        pytest.param("https://203.0.113.7", id="ipv4"),
        pytest.param("https://[2001:db8::1]:8443", id="ipv6"),
        pytest.param("http://127.0.0.1:8080", id="http-loopback"),
        pytest.param("http://127.5.6.7", id="http-loopback-net"),
        pytest.param("http://localhost:8080", id="http-localhost"),
        pytest.param("http://LocalHost", id="http-localhost-case"),
        pytest.param("http://[::1]:8080/", id="http-ipv6-loopback"),
    ],
)
def test_base_url_accepted(url: str) -> None:
    """https anywhere, plain http on loopback addresses; the trailing slash is dropped."""
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        pytest.param("http://127.attacker.example", "plain http only", id="127-prefix-name"),
        pytest.param("http://127.0.0.1.attacker.example", "plain http only", id="127-subdomain"),
        pytest.param("http://localhost.attacker.example", "plain http only", id="localhost-sub"),
        pytest.param("http://0x7f000001", "plain http only", id="hex-name"),
        pytest.param("http://2130706433", "IPv4", id="integer-host"),
        pytest.param("http://127.1", "IPv4", id="short-ipv4"),
        pytest.param("http://[::2]", "plain http only", id="ipv6-not-loopback"),
        pytest.param("http://sms.8x8.com", "plain http only", id="http-remote"),
        pytest.param("https://sms.8x8.com:99999", "port", id="port-99999"),
        pytest.param("https://sms.8x8.com:0", "port", id="port-0"),
        pytest.param("https://sms.8x8.com:abc", "port", id="port-abc"),
        pytest.param("https://sms.8x8.com:", "port", id="port-empty"),
        pytest.param("https://sms.8x8.com:+443", "port", id="port-sign"),
        pytest.param("https://sms.8x8.com:\u0664\u0664\u0663", "port", id="port-arabic"),
        pytest.param("https://user:pass@sms.8x8.com", "user name or password", id="userinfo"),
        pytest.param("https://sms.8x8.com@evil.example", "user name or password", id="at"),
        pytest.param("https://sms.8x8.com/?a=1", "query", id="query"),
        pytest.param("https://sms.8x8.com#x", "query or fragment", id="fragment"),
        pytest.param(" https://sms.8x8.com", "whitespace", id="leading-space"),
        pytest.param("https://sms.8x8.com/a b", "whitespace", id="inner-space"),
        pytest.param("https://sms.8x8.com\n", "whitespace", id="newline"),
        pytest.param("https://sms.8x8.com\x00", "whitespace", id="nul"),
        pytest.param("https://sms.8x8.com\\@evil.example", "backslash", id="backslash"),
        pytest.param("https://sms\u200b.8x8.com", "whitespace", id="zero-width"),
        pytest.param("ftp://sms.8x8.com", "starting with https://", id="ftp"),
        pytest.param("sms.8x8.com", "starting with https://", id="no-scheme"),
        pytest.param("https://", "host", id="no-host"),
        pytest.param("https://:443", "host", id="port-no-host"),
        pytest.param("https://[::1", "brackets", id="open-bracket"),
        pytest.param("https://[::zz]", "IPv6", id="bad-ipv6"),
        pytest.param("https://-a.example", "domain name", id="hyphen-label"),
        pytest.param("https://a..example", "domain name", id="empty-label"),
        pytest.param("https://\u0660\u06f0.example", "domain name", id="idna-invalid"),
        pytest.param("https://" + "a" * 2050, "2048", id="too-long"),
        pytest.param("", "https URL", id="empty"),
        pytest.param(b"https://sms.8x8.com", "https URL", id="bytes"),
    ],
)
def test_base_url_refused(url: object, rule: str) -> None:
    """The whole base URL is checked, loopback decided from the parsed address only."""
    with pytest.raises(ValidationError) as info:
        check_base_url(url)
    assert info.value.field == "base_url"
    assert rule in info.value.rule
    assert_no_chained_value(info.value)


def test_base_url_is_checked_by_the_constructor() -> None:
    """Port 99999 failed at send time with a bare ExceptionGroup, port abc with
    httpx.InvalidURL; both are ValidationErrors from the constructor now."""
    for url in ("https://sms.8x8.com:99999", "https://sms.8x8.com:abc"):
        with pytest.raises(ValidationError) as info:
            AsyncSmsClient(api_key="k", base_url=url)
        assert info.value.field == "base_url"
        assert url not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\nb", id="newline"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("a\u202eb", id="bidi"),
    ],
)
def test_path_id_refuses_what_cannot_stay_in_its_segment(value: str) -> None:
    """'.' and '..' are dot segments that HTTP resolves away; a lone surrogate cannot be
    percent-encoded; control and format characters are no id."""
    with pytest.raises(ValidationError) as info:
        check_path_id(value, "umid")
    assert info.value.field == "umid"


@pytest.mark.parametrize(
    "value",
    ["...", "b4478860-b76c", "F1T6z9_x.y~z", "a" * 128, "0f8b6c2e-1d3a-4b5c-9d7e-abcdef012345"],
)
def test_path_id_accepts_unreserved_ids(value: str) -> None:
    """Ids of unreserved URL characters (8x8's UUIDs and tokens), up to 128, are valid."""
    assert check_path_id(value, "umid") == value


@pytest.mark.parametrize(
    "value", ["a/b", "%2e%2e", "%2F", "?x=1", "#frag", "a b", "é", "a&b", "a+b", "a" * 129, ""]
)
def test_path_id_refuses_what_would_be_percent_encoded(value: str) -> None:
    """What percent-encoding would change is refused: it cannot be an id 8x8 gave."""
    with pytest.raises(ValidationError) as info:
        check_path_id(value, "job_id")
    assert info.value.field == "job_id"
    assert "unreserved" in info.value.rule


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        pytest.param({"text": "code \ud800"}, "text", "lone surrogates", id="text-surrogate"),
        pytest.param({"text": "code\x00"}, "text", "control characters", id="text-nul"),
        pytest.param({"text": "\x1b[31mred"}, "text", "control characters", id="text-esc"),
        pytest.param({"text": "a\x7f"}, "text", "control characters", id="text-del"),
        pytest.param({"source": "Ac\udc00me"}, "source", "printable", id="source-surrogate"),
        pytest.param({"source": "Acme\n"}, "source", "printable", id="source-newline"),
        pytest.param(
            {"client_message_id": "\ud83d"}, "client_message_id", "printable", id="cmid-half-emoji"
        ),
        pytest.param(
            {"client_message_id": "a\tb"}, "client_message_id", "printable", id="cmid-tab"
        ),
        pytest.param({"country": "S\ud800"}, "country", "2 letters", id="country-surrogate"),
        pytest.param(
            {"dlr_callback_url": "https://example.com/\ud800"},
            "dlr_callback_url",
            "URI",
            id="dlr-s",
        ),
        pytest.param({"client_ip": "1.2.3.4\ud800"}, "client_ip", "IPv4", id="ip-surrogate"),
    ],
)
def test_text_that_breaks_the_wire_is_refused(
    overrides: dict[str, Any], field: str, rule: str
) -> None:
    """A lone surrogate passed validation and raised UnicodeEncodeError at send time."""
    with pytest.raises(ValidationError) as info:
        sms(**overrides)
    assert info.value.field == field
    assert rule in info.value.rule


@pytest.mark.parametrize(
    "text",
    ["line 1\nline 2\r\n\tend", "👨\u200d👩\u200d👧 family", "\u05e9\u05dc\u05d5\u05dd", "€ and ü"],
)
def test_message_text_keeps_line_breaks_and_any_language(text: str) -> None:
    """Line breaks, tabs, emoji sequences (ZWJ is a format character) and any script pass."""
    assert sms(text=text).text == text


@pytest.mark.parametrize(
    ("variables", "rule"),
    [
        pytest.param({"a": float("nan")}, "finite", id="nan"),
        pytest.param({"a": float("inf")}, "finite", id="inf"),
        pytest.param({"a": float("-inf")}, "finite", id="-inf"),
        pytest.param({"a": 2**53}, "2**53", id="big-int"),
        pytest.param({"a": -(2**53)}, "2**53", id="small-int"),
        pytest.param({"a": 10**5000}, "2**53", id="huge-int"),
        pytest.param({"a": "x\ud800"}, "lone surrogates", id="value-surrogate"),
        pytest.param({"a": "x\x00"}, "control", id="value-nul"),
        pytest.param({"a\ud800": "x"}, "printable", id="key-surrogate"),
        pytest.param({"a\n": "x"}, "printable", id="key-newline"),
        pytest.param({"a": b"x"}, "strings, numbers or booleans", id="bytes"),
        pytest.param({"a": [1]}, "strings, numbers or booleans", id="list"),
    ],
)
def test_template_variables_must_be_json(variables: dict[str, Any], rule: str) -> None:
    """NaN and Infinity went out as invalid JSON; every value must be one JSON can carry."""
    with pytest.raises(ValidationError) as info:
        SurveyRequest(destination=PHONE, template_variables=variables)
    assert info.value.field == "template_variables"
    assert rule in info.value.rule


def test_template_variables_accept_json_values() -> None:
    """Strings, booleans (the schema's object is free), finite floats and safe integers pass."""
    variables: dict[str, str | int | float | bool] = {
        "name": "James",
        "vip": True,
        "score": 1.5,
        "id": 2**53 - 1,
        "neg": -(2**53 - 1),
    }
    assert SurveyRequest(destination=PHONE, template_variables=variables).template_variables == (
        variables
    )


def test_template_variables_are_a_frozen_copy() -> None:
    """Changing the caller's dict after validation cannot put a NaN on the wire."""
    variables: dict[str, Any] = {"name": "James"}
    request = SurveyRequest(destination=PHONE, template_variables=variables)
    variables["name"] = float("nan")
    assert request.template_variables == {"name": "James"}
    with pytest.raises(TypeError):
        request.template_variables["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://example.com/h\u00fcbsch", id="non-ascii-path"),
        pytest.param("https://b\u00fccher.example/hook", id="non-ascii-host"),
        pytest.param("https://example.com/{id}", id="brace"),
        pytest.param("https://example.com/a b", id="space"),
        pytest.param("https://example.com/a\nb", id="newline"),
        pytest.param("https://example.com/a\x00", id="nul"),
        pytest.param("https://example.com/a|b", id="pipe"),
        pytest.param("https://example.com/a^b", id="caret"),
        pytest.param('https://example.com/"q"', id="quote"),
        pytest.param("https://example.com/<x>", id="angle"),
        pytest.param("https://example.com/a\\b", id="backslash"),
        pytest.param("https://example.com/%zz", id="bad-percent"),
        pytest.param("https://example.com/%4", id="short-percent"),
        pytest.param("https://example.com:0/", id="port-0"),
        pytest.param("https://example.com:99999/", id="port-99999"),
        pytest.param("https://example.com:abc/", id="port-abc"),
        pytest.param("https://[::1/", id="open-bracket"),
        pytest.param("https://[::zz]/", id="bad-ipv6"),
        pytest.param("https://999.1.1.1/", id="bad-ipv4"),
        pytest.param("https://exa..mple.com/", id="empty-label"),
        pytest.param("https://example.com/#a#b", id="two-hashes"),
        pytest.param("mailto:a@example.com", id="mailto"),
        pytest.param("//example.com/x", id="scheme-relative"),
    ],
)
def test_dlr_callback_url_must_be_a_uri(url: str) -> None:
    """A non-ASCII character, {, spaces, controls: not a URI (8x8's format: uri). Refused, not
    encoded for the caller: 8x8 would post to what is written."""
    with pytest.raises(ValidationError) as info:
        sms(dlr_callback_url=url)
    assert info.value.field == "dlr_callback_url"
    assert_no_chained_value(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/8x8/webhook?x=1",
        "https://example.com",
        "HTTPS://EXAMPLE.COM/HOOK",
        "https://example.com/h%C3%BCbsch/%7Bid%7D",
        "https://user:p%40ss@example.com/hook",
        "https://[2001:db8::1]:8443/hook",
        "https://203.0.113.7:8080/hook",
        "https://example.com/a;b=c/(d)!$&'*+,~:@x?q=/?&r#frag/?",
        "https://xn--bcher-kva.example/hook",
    ],
)
def test_dlr_callback_url_accepts_uris(url: str) -> None:
    """Every absolute http(s) URI that a webhook can live at passes."""
    assert sms(dlr_callback_url=url).dlr_callback_url == url


def test_dlr_callback_url_credentials_are_masked_in_repr() -> None:
    """Basic-auth credentials in a webhook URL do not show in the request's repr."""
    request = sms(dlr_callback_url="https://hook:s3cr3t@example.com/dlr")
    assert "s3cr3t" not in repr(request)
    assert "https://***@example.com/dlr" in repr(request)


class _BrokenZone(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=30)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "BROKEN"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(datetime(2026, 1, 1, tzinfo=_BrokenZone()), id="offset-out-of-range"),
        pytest.param(
            datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=5))), id="after-9999"
        ),
        pytest.param(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), id="before-year-1"),
    ],
)
def test_datetime_that_has_no_utc_time_is_refused(value: datetime) -> None:
    """Datetimes are sent in UTC: one whose UTC time cannot exist is a ValidationError."""
    with pytest.raises(ValidationError) as info:
        FeedbackRequest(outcome="success", timestamp=value)
    assert info.value.field == "timestamp"
    assert_no_chained_value(info.value)


def assert_no_chained_value(err: BaseException) -> None:
    """The error chains nothing: a chained parser error would show the value."""
    assert err.__cause__ is None
    assert err.__context__ is None


@pytest.mark.parametrize(
    ("make", "field"),
    [
        pytest.param(lambda: sms(client_ip=PHONE), "client_ip", id="client-ip-phone"),
        pytest.param(lambda: sms(client_ip="1.2.3.4/24"), "client_ip", id="client-ip-net"),
        pytest.param(
            lambda: sms(dlr_callback_url="https://[::zz]/"), "dlr_callback_url", id="dlr-ipv6"
        ),
        pytest.param(
            lambda: sms(dlr_callback_url="https://999.1.1.1/"), "dlr_callback_url", id="dlr-ipv4"
        ),
        pytest.param(lambda: check_base_url("https://[::zz]"), "base_url", id="base-ipv6"),
        pytest.param(lambda: check_base_url("https://999.0.0.1"), "base_url", id="base-ipv4"),
        pytest.param(lambda: check_base_url("https://\u0660\u06f0.example"), "base_url", id="idna"),
        pytest.param(lambda: sms(encoding="UTF8"), "encoding", id="enum"),
        pytest.param(
            lambda: FeedbackRequest(
                outcome="success", timestamp=datetime(2026, 1, 1, tzinfo=_BrokenZone())
            ),
            "timestamp",
            id="datetime",
        ),
    ],
)
def test_validation_errors_chain_no_exception(make: Any, field: str) -> None:
    """No ValidationError carries a __cause__ or __context__ (ipaddress's ValueError quoted a
    phone number given as client_ip)."""
    with pytest.raises(ValidationError) as info:
        make()
    assert info.value.field == field
    assert_no_chained_value(info.value)
    assert "91234567" not in str(info.value)


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
