"""Field rules from 8x8's reference pages and OpenAPI file, as attrs validators.

Each validator raises :class:`ValidationError` naming the Python argument and the rule. None of
them puts the offending value in the message: values here are phone numbers, message text and
keys, which must never reach a log line.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from ._errors import ValidationError

__all__ = [
    "DESTINATION_PATTERN",
    "MAX_SCHEDULE_AHEAD",
    "SUBACCOUNT_PATTERN",
    "check_api_key",
    "check_base_url",
    "check_path_id",
    "check_subaccount_id",
]

# 8x8 writes these with ^...$; we use fullmatch instead, because "$" also matches before a final
# newline and would let "+6591234567\n" through.
SUBACCOUNT_PATTERN = r"[A-Za-z0-9\-._&]{3,50}"
DESTINATION_PATTERN = r"\+{0,1}[1-9]{1}[0-9]{6,14}"
_SUBACCOUNT_RE = re.compile(SUBACCOUNT_PATTERN)
_DESTINATION_RE = re.compile(DESTINATION_PATTERN)
_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
MAX_SCHEDULE_AHEAD = timedelta(days=7)

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


def check_path_id(value: object, field: str) -> str:
    """Check an identifier that goes into the URL path (``umid``, ``survey_id``) and return it.

    Raises:
        ValidationError: When it is not a non-empty string without surrounding whitespace.
    """
    if not isinstance(value, str) or not value or value.strip() != value:
        raise ValidationError(field, "a non-empty string without surrounding whitespace")
    if len(value) > 200:
        raise ValidationError(field, "at most 200 characters")
    return value


def check_api_key(value: object) -> str:
    """Check an API key is usable as a bearer token and return it.

    Raises:
        ValidationError: When it is empty or holds whitespace or control characters.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(
            "api_key", "given, either as an argument or in the EIGHTXEIGHT_API_KEY variable"
        )
    if not value.isprintable() or any(ch.isspace() for ch in value) or not value.isascii():
        raise ValidationError("api_key", "printable ASCII without whitespace")
    return value


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def check_base_url(value: object, field: str = "base_url") -> str:
    """Check a base URL and return it without its trailing slash.

    Plain ``http`` is allowed only for loopback hosts: the API key travels in every request.

    Raises:
        ValidationError: When it is not an https URL with a host (or http on loopback).
    """
    rule = "an https URL with a host (plain http only for localhost)"
    if not isinstance(value, str):
        raise ValidationError(field, rule)
    parts = urlsplit(value)
    host = parts.hostname or ""
    if not host or parts.query or parts.fragment:
        raise ValidationError(field, rule)
    if parts.scheme == "http" and (host in _LOOPBACK_HOSTS or host.startswith("127.")):
        return value.rstrip("/")
    if parts.scheme != "https":
        raise ValidationError(field, rule)
    return value.rstrip("/")


# --- attrs validators -------------------------------------------------------------------------


def _is_str(attribute: attrs.Attribute[Any], value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(attribute.name, "a string")
    return value


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
    """A non-empty string of at most ``limit`` characters, or None."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        text = _is_str(attribute, value)
        if not text:
            raise ValidationError(attribute.name, "a non-empty string")
        if len(text) > limit:
            raise ValidationError(attribute.name, f"at most {limit} characters")

    return check


def non_empty_text(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Message text: a string with at least one non-whitespace character."""
    text = _is_str(attribute, value)
    if not text.strip():
        raise ValidationError(attribute.name, "a non-empty text")


def template_body(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A survey template: non-empty, holding the ``{{url:...}}`` survey link variable."""
    if value is None:
        return
    text = _is_str(attribute, value)
    if not text.strip():
        raise ValidationError(attribute.name, "a non-empty template")
    if "{{url:" not in text:
        raise ValidationError(
            attribute.name, "a template holding the {{url:}} survey link variable"
        )


def template_variables(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Survey template variables: a mapping of names to strings, numbers or booleans."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ValidationError(attribute.name, "a mapping of names to values")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(attribute.name, "a mapping whose keys are non-empty strings")
        if not isinstance(item, (str, int, float, bool)):
            raise ValidationError(
                attribute.name, "a mapping whose values are strings, numbers or booleans"
            )


_E = TypeVar("_E", bound=enum.Enum)


def coerce_enum(enum_cls: type[_E], value: object, field: str) -> _E | None:
    """Return the member of ``enum_cls`` for a member or its plain string; None stays None.

    Raises:
        ValidationError: For any other value, listing the allowed ones.
    """
    if value is None or isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        try:
            return enum_cls(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(m.value) for m in enum_cls)
    raise ValidationError(field, f"one of {allowed}")


def aware_datetime(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A timezone-aware datetime, or None."""
    if value is None:
        return
    if not isinstance(value, datetime):
        raise ValidationError(attribute.name, "a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            attribute.name, "a timezone-aware datetime (for example datetime.now(timezone.utc))"
        )


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


def http_url(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An absolute http(s) URL with a host, or None."""
    if value is None:
        return
    text = _is_str(attribute, value)
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host or " " in text:
        raise ValidationError(attribute.name, "an absolute http or https URL")
    if len(text) > 2048:
        raise ValidationError(attribute.name, "at most 2048 characters")


def ip_address(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An IPv4 or IPv6 address, or None."""
    if value is None:
        return
    text = _is_str(attribute, value)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValidationError(attribute.name, "an IPv4 or IPv6 address") from None
