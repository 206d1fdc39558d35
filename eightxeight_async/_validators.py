"""Field rules from 8x8's reference pages and OpenAPI file, as attrs validators.

Each validator raises :class:`ValidationError` naming the Python argument and the rule. None of
them puts the offending value in the message: values here are phone numbers, message text and
keys, which must never reach a log line.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import httpx

from ._errors import ValidationError

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "DESTINATION_PATTERN",
    "MAX_SCHEDULE_AHEAD",
    "SUBACCOUNT_PATTERN",
    "check_account_id",
    "check_api_key",
    "check_base_url",
    "check_path_id",
    "check_subaccount_id",
    "check_webhook_scope",
]

# 8x8 writes these with ^...$; we use fullmatch instead, because "$" also matches before a final
# newline and would let "+6591234567\n" through.
SUBACCOUNT_PATTERN = r"[A-Za-z0-9\-._&]{3,50}"
DESTINATION_PATTERN = r"\+{0,1}[1-9]{1}[0-9]{6,14}"
_SUBACCOUNT_RE = re.compile(SUBACCOUNT_PATTERN)
_DESTINATION_RE = re.compile(DESTINATION_PATTERN)
_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
MAX_SCHEDULE_AHEAD = timedelta(days=7)
# JSON numbers beyond 2**53 lose precision in many parsers (RFC 7493, I-JSON).
MAX_JSON_INT = 2**53 - 1
# C0 controls and DEL, less tab, line feed and carriage return, which an SMS may hold.
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PRINTABLE_RULE = "printable text (no control, format or line-break characters)"
_UNICODE_RULE = "valid Unicode text (no lone surrogates)"
_TEXT_CONTROL_RULE = "text without control characters (tab, line feed and carriage return allowed)"

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def check_subaccount_id(value: object, field: str = "subaccount_id") -> str:
    r"""Check a subaccount id against 8x8's pattern and return it.

    Raises:
        ValidationError: When it does not match ``^[A-Za-z0-9\\-._&]{3,50}$``.
    """
    if not isinstance(value, str) or not _SUBACCOUNT_RE.fullmatch(value):
        raise ValidationError(
            field, "3 to 50 characters of letters, digits and - . _ & (8x8's subAccountId rule)"
        )
    return value


#: The most characters of a path id (8x8's ids are UUIDs and short tokens, well under this).
MAX_PATH_ID = 128
_PATH_ID_RE = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_PATH_ID}}}")
_PATH_ID_RULE = (
    f"an id of 1 to {MAX_PATH_ID} unreserved URL characters (letters, digits and - . _ ~),"
    " not '.' or '..'"
)


def check_path_id(value: object, field: str) -> str:
    """Check an id that goes into the URL path (``umid``, ``survey_id``, ``batch_id``, ``job_id``).

    8x8's ids are UUIDs and short tokens. Anything else is refused rather than percent-encoded:
    ``a/b``, ``?x=1``, ``#frag``, ``%2F``, spaces and non-ASCII text cannot be an id 8x8 gave,
    and sent encoded they reach other routes or proxies that decode them (``send_survey("a/b")``
    was once queued). ``.`` and ``..`` are refused too: every HTTP client and server resolves
    them as "this" and "the parent" segment.

    Raises:
        ValidationError: When it is not 1 to 128 characters of ``A-Z a-z 0-9 - . _ ~`` or is
            ``.`` or ``..``.
    """
    if not isinstance(value, str) or not _PATH_ID_RE.fullmatch(value) or value in (".", ".."):
        raise ValidationError(field, _PATH_ID_RULE)
    return value


def check_api_key(value: object, field: str = "api_key") -> str:
    """Check an API key is usable as a bearer token and return it.

    Raises:
        ValidationError: When it is empty or holds whitespace or control characters.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(
            "api_key", "given, either as an argument or in the EIGHTXEIGHT_API_KEY variable"
        )
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValidationError(field, "printable ASCII without whitespace")
    return value


_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
_DOTTED_RE = re.compile(r"[0-9.]+")
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_BASE_URL_SCHEMES = ("http", "https")


def check_base_url(value: object, field: str = "base_url") -> str:
    """Check a base URL whole and return it without its trailing slash.

    The URL is ``http(s)://host[:port][/path prefix]``: a host name (IDNA-valid when not ASCII),
    an IPv4 address or a bracketed IPv6 address; a port from 1 to 65535; no user name or password
    (they would travel to every server on the way and into logs); no query or fragment; no
    whitespace or control characters. Plain ``http`` is allowed only when the host is loopback by
    its address: ``localhost``, an IPv4 address in 127.0.0.0/8, or ``[::1]``. The API key travels
    in every request.

    Raises:
        ValidationError: Naming the rule the URL breaks. The message never holds the URL, and
            no parser's exception is chained to it.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "an https URL given as a string")
    if not value.isprintable() or " " in value or "\\" in value or len(value) > 2048:
        raise ValidationError(
            field, "a URL of at most 2048 characters without whitespace, controls or backslashes"
        )
    if "?" in value or "#" in value:
        raise ValidationError(field, "a URL without a query or fragment")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in _BASE_URL_SCHEMES:
        raise ValidationError(
            field, "a URL starting with https:// (http:// only for a local server)"
        )
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        raise ValidationError(field, "a URL without a user name or password")
    host, port = _split_host_port(authority, field)
    loopback = _check_host(host, field)
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        raise ValidationError(field, "a URL whose port is a number from 1 to 65535")
    if scheme.lower() == "http" and not loopback:
        raise ValidationError(
            field, "an https URL (plain http only for localhost, 127.0.0.0/8 or [::1])"
        )
    # The client that sends it must accept it too (IDNA 2008, as httpx encodes hosts).
    if not _httpx_accepts(value):
        raise ValidationError(field, "a URL whose host is a valid domain name")
    return value.rstrip("/")


# Every parser below says "no" through an exception whose message quotes the value. The checks
# return a bool instead, so that the ValidationError is raised outside the except block: a
# ValidationError raised inside one, even "from None", keeps that exception as __context__.


def _httpx_accepts(url: str) -> bool:
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_host_port(authority: str, field: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValidationError(field, "a URL whose IPv6 host is in brackets, e.g. [::1]")
        if not _is_ipv6(host):
            raise ValidationError(field, "a URL whose bracketed host is an IPv6 address")
        return f"[{host}]", (after[1:] if after else None)
    host, colon, port = authority.partition(":")
    return host, (port if colon else None)


def _check_host(host: str, field: str) -> bool:
    """Check the host of a base URL; return whether it is loopback."""
    if host.startswith("["):
        return ipaddress.IPv6Address(host[1:-1]) == _LOOPBACK_V6
    lowered = host.lower()
    if not lowered:
        raise ValidationError(field, "a URL with a host")
    if _DOTTED_RE.fullmatch(lowered):
        if not _is_ipv4(lowered):
            raise ValidationError(field, "a URL whose numeric host is an IPv4 address")
        return ipaddress.IPv4Address(lowered) in _LOOPBACK_V4
    if lowered == "localhost":
        return True
    if lowered.isascii():
        labels = lowered.split(".")
        if len(lowered) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
            raise ValidationError(field, "a URL whose host is a valid domain name")
    return False


# --- attrs validators -------------------------------------------------------------------------


def _is_str(attribute: attrs.Attribute[Any], value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(attribute.name, "a string")
    return value


def _is_unicode(text: str) -> bool:
    # A lone surrogate is a str but not text: it cannot be encoded, so it would fail on the wire.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_free_text(field: str, text: str) -> None:
    """Text that becomes part of an SMS: valid Unicode, no controls but tab and line breaks."""
    if not _is_unicode(text):
        raise ValidationError(field, _UNICODE_RULE)
    if _TEXT_CONTROL_RE.search(text):
        raise ValidationError(field, _TEXT_CONTROL_RULE)


def destination(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """The destination MSISDN: international (``+`` optional) or national with ``country``."""
    if not isinstance(value, str) or not _DESTINATION_RE.fullmatch(value):
        raise ValidationError(
            attribute.name,
            "a phone number of 7 to 15 digits, not starting with 0, with an optional leading +"
            " (8x8's pattern ^\\+{0,1}[1-9]{1}[0-9]{6,14}$)",
        )


def country(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An ISO 3166-1 alpha-2 code, which is always exactly two letters."""
    if value is None:
        return
    if not isinstance(value, str) or not _COUNTRY_RE.fullmatch(value):
        raise ValidationError(attribute.name, "an ISO 3166-1 alpha-2 code of exactly 2 letters")


def max_length(limit: int) -> _Validator:
    """A non-empty string of at most ``limit`` printable characters, or None.

    For identifiers (``source``, ``client_message_id``): no control, format or line-break
    character, which 8x8 would refuse or a log line would mangle.
    """

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        text = _is_str(attribute, value)
        if not text:
            raise ValidationError(attribute.name, "a non-empty string")
        if len(text) > limit:
            raise ValidationError(attribute.name, f"at most {limit} characters")
        if not text.isprintable():
            raise ValidationError(attribute.name, _PRINTABLE_RULE)

    return check


def non_empty_text(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Message text: valid Unicode with at least one non-whitespace character."""
    text = _is_str(attribute, value)
    if not text.strip():
        raise ValidationError(attribute.name, "a non-empty text")
    _check_free_text(attribute.name, text)


def template_body(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A survey template: non-empty, holding the ``{{url:...}}`` survey link variable."""
    if value is None:
        return
    text = _is_str(attribute, value)
    if not text.strip():
        raise ValidationError(attribute.name, "a non-empty template")
    _check_free_text(attribute.name, text)
    if "{{url:" not in text:
        raise ValidationError(
            attribute.name, "a template holding the {{url:}} survey link variable"
        )


def template_variables(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Survey template variables: a mapping of names to strings, numbers or booleans.

    8x8's schema leaves the object free; every value must still be valid JSON: finite numbers
    (JSON has no NaN or Infinity), integers within I-JSON's +/-(2**53 - 1), and text as for
    ``text``. Names are printable.
    """
    if value is None:
        return
    field = attribute.name
    if not isinstance(value, Mapping):
        raise ValidationError(field, "a mapping of names to values")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(field, "a mapping whose keys are non-empty strings")
        if not key.isprintable():
            raise ValidationError(field, f"a mapping whose keys are {_PRINTABLE_RULE}")
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if abs(item) > MAX_JSON_INT:
                raise ValidationError(
                    field, "a mapping whose integers are within +/-(2**53 - 1) (I-JSON)"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError(
                    field, "a mapping whose numbers are finite (JSON has no NaN or Infinity)"
                )
        elif isinstance(item, str):
            if not _is_unicode(item):
                raise ValidationError(field, f"a mapping whose values are {_UNICODE_RULE}")
            if _TEXT_CONTROL_RE.search(item):
                raise ValidationError(field, f"a mapping whose values are {_TEXT_CONTROL_RULE}")
        else:
            raise ValidationError(field, "a mapping whose values are strings, numbers or booleans")


_E = TypeVar("_E", bound=enum.Enum)


def coerce_enum(enum_cls: type[_E], value: object, field: str) -> _E | None:
    """Return the member of ``enum_cls`` for a member or its string; None stays None.

    The string is matched without regard to case (``"outcome"`` is ``Track.OUTCOME``), as the
    command line does; the member's own spelling is what goes on the wire.

    Raises:
        ValidationError: For any other value, listing the allowed ones.
    """
    if value is None or isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        folded = value.casefold()
        member = next((m for m in enum_cls if m.value.casefold() == folded), None)
        if member is not None:
            return member
    allowed = ", ".join(repr(m.value) for m in enum_cls)
    raise ValidationError(field, f"one of {allowed}")


def aware_datetime(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A timezone-aware datetime, or None; it must have a UTC time (it is sent in UTC)."""
    if value is None:
        return
    if not isinstance(value, datetime):
        raise ValidationError(attribute.name, "a datetime")
    if value.tzinfo is None:
        raise ValidationError(attribute.name, _AWARE_RULE)
    has_utc, offset = _utc_time(value)
    if not has_utc:
        raise ValidationError(
            attribute.name, "a datetime whose UTC time is between the years 1 and 9999"
        )
    if offset is None:
        raise ValidationError(attribute.name, _AWARE_RULE)


_AWARE_RULE = "a timezone-aware datetime (for example datetime.now(timezone.utc))"


def _utc_time(value: datetime) -> tuple[bool, timedelta | None]:
    """Whether ``value`` has a UTC time, and its offset (None for a naive datetime)."""
    try:
        offset = value.utcoffset()
        if offset is not None:
            value.astimezone(timezone.utc)
    except (ValueError, TypeError, OverflowError):
        # A tzinfo whose utcoffset() is broken or out of range, or a UTC time past year 9999.
        return False, None
    return True, offset


def _now() -> datetime:
    return datetime.now(timezone.utc)


def schedule_window(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """``scheduled`` at most 7 days ahead; ``expiry`` in the future and after ``scheduled``."""
    aware_datetime(inst, attribute, value)
    if value is None:
        return
    assert isinstance(value, datetime)
    now = _now()
    if attribute.name == "scheduled" and value - now > MAX_SCHEDULE_AHEAD:
        raise ValidationError("scheduled", "no more than 7 days ahead")
    if attribute.name == "expiry":
        if value <= now:
            raise ValidationError("expiry", "in the future (8x8 rejects an expiry already reached)")
        scheduled = getattr(inst, "scheduled", None)
        if scheduled is not None and value <= scheduled:
            raise ValidationError("expiry", "later than scheduled")


# RFC 3986 for the http(s) URIs 8x8 posts receipts to; stricter where a webhook could not work:
# the host is a DNS name, an IPv4 address or a bracketed IPv6 address, the port is 1 to 65535.
_SUB_DELIMS = "!$&'()*+,;="
_UNRESERVED = "A-Za-z0-9\\-._~"
_PCHAR = f"[{_UNRESERVED}{re.escape(_SUB_DELIMS)}:@%]"
_URI_RE = re.compile(
    r"(?i:https?)://"
    rf"(?:[{_UNRESERVED}{re.escape(_SUB_DELIMS)}:%]*@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    rf"(?:/{_PCHAR}*)*"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?"
)
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI_RULE = "an absolute http or https URI (RFC 3986: ASCII only, other characters percent-encoded)"


def http_url(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An absolute http(s) URI (RFC 3986, 8x8's ``format: uri``), or None.

    A URL with non-ASCII characters, spaces, ``{``, ``}`` or another character RFC 3986 does not
    allow is refused rather than encoded for you: 8x8 would post to the URL as written, so the
    caller percent-encodes it (and IDNA-encodes a non-ASCII host) and sees what is sent.
    """
    if value is None:
        return
    text = _is_str(attribute, value)
    if len(text) > 2048:
        raise ValidationError(attribute.name, "at most 2048 characters")
    match = _URI_RE.fullmatch(text)
    if match is None or _BAD_PERCENT_RE.search(text):
        raise ValidationError(attribute.name, _URI_RULE)
    host, port = match["host"], match["port"]
    if host.startswith("["):
        if not _is_ipv6(host[1:-1]):
            raise ValidationError(attribute.name, _URI_RULE)
    elif not all(_LABEL_RE.fullmatch(label) for label in host.lower().split(".")):
        raise ValidationError(attribute.name, f"{_URI_RULE} whose host is a domain name or IP")
    elif _DOTTED_RE.fullmatch(host) and not _is_ipv4(host):
        raise ValidationError(attribute.name, f"{_URI_RULE} whose host is an IP")
    if port is not None and not 0 < int(port) <= 65535:
        raise ValidationError(attribute.name, f"{_URI_RULE} whose port is 1 to 65535")


def ip_address(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An IPv4 or IPv6 address, or None."""
    if value is None:
        return
    if not _is_ip(_is_str(attribute, value)):
        raise ValidationError(attribute.name, "an IPv4 or IPv6 address")


# --- issue 9: the 13 newer operations ----------------------------------------------------------

ACCOUNT_ID_PATTERN = r"[0-9A-Fa-f]{8}[-]?(?:[0-9A-Fa-f]{4}[-]?){3}[0-9A-Fa-f]{12}"
_ACCOUNT_ID_RE = re.compile(ACCOUNT_ID_PATTERN)


def check_account_id(value: object, field: str = "account_id") -> str:
    """Check an account id against 8x8's GUID rule and return it.

    Raises:
        ValidationError: When it is not 32 hex digits, dashes optional in the GUID places.
    """
    if not isinstance(value, str) or not _ACCOUNT_ID_RE.fullmatch(value):
        raise ValidationError(
            field,
            "a GUID: 32 hex digits, dashes optional (8x8's accountId rule)",
        )
    return value


def check_webhook_scope(value: object, field: str = "subaccount_id") -> str:
    """Check the subaccount scope of a webhook: ``"*"`` (every subaccount) or a subaccount id.

    Raises:
        ValidationError: When it is neither.
    """
    if value == "*":
        return "*"
    if not isinstance(value, str) or not _SUBACCOUNT_RE.fullmatch(value):
        raise ValidationError(
            field,
            "'*' (every subaccount) or a subaccount id: 3 to 50 characters of letters, digits"
            " and - . _ &",
        )
    return value
