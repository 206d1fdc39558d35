"""Field rules of the 13 newer operations (batches, log export, account), as attrs validators.

Kept apart from ``_validators`` (the rules of the core four and the client) so neither module
grows past ~500 lines; the shared patterns and helpers are ``_validators``'.
Like those, each raises :class:`ValidationError` naming the field and the rule, never the value.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import attrs

from . import _validators as v
from ._errors import ValidationError

MAX_BATCH_SIZE = 10_000
MAX_CLIENT_BATCH_ID = 20
_E164_RE = re.compile(r"\+?[1-9][0-9]{6,14}")
#: The masked form 8x8 returns for a webhook secret on GET; sending it back would store "***".
MASKED_SECRET = "***"  # noqa: S105 (the mask, not a secret)


def check_batch_size(count: int, field: str) -> None:
    """A batch holds 1 to 10,000 messages or destinations.

    Raises:
        ValidationError: When ``count`` is outside that range.
    """
    if not 1 <= count <= MAX_BATCH_SIZE:
        raise ValidationError(field, f"1 to {MAX_BATCH_SIZE:,} items")


def check_destination(value: object, field: str) -> str:
    """The rule of ``_validators.destination`` for a value that is not an attrs field.

    Raises:
        ValidationError: When the value does not match 8x8's MSISDN pattern.
    """
    if not isinstance(value, str) or not v._DESTINATION_RE.fullmatch(value):
        raise ValidationError(
            field,
            "a phone number of 7 to 15 digits, not starting with 0, with an optional leading +"
            " (8x8's pattern ^\\+{0,1}[1-9]{1}[0-9]{6,14}$)",
        )
    return value


def optional_text(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Message text as ``_validators.non_empty_text``, or None (a template may supply it)."""
    if value is not None:
        v.non_empty_text(inst, attribute, value)


def required(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A value that must be given (not None); run before the field's own rule."""
    if value is None:
        raise ValidationError(attribute.name, "given")


def flag(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A boolean (``True`` or ``False``, not a truthy value)."""
    if not isinstance(value, bool):
        raise ValidationError(attribute.name, "True or False")


def e164(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An international phone number (E.164): 7 to 15 digits, optional leading ``+``, or None."""
    if value is None:
        return
    if not isinstance(value, str) or not _E164_RE.fullmatch(value):
        raise ValidationError(
            attribute.name,
            "an international (E.164) phone number: 7 to 15 digits, not starting with 0,"
            " with an optional leading +",
        )


def countries(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A sequence of ISO 3166-1 alpha-2 codes (each exactly two letters), or None."""
    if value is None:
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise ValidationError(attribute.name, "a list of ISO 3166-1 alpha-2 codes")
    for index, code in enumerate(value):
        if not isinstance(code, str) or not v._COUNTRY_RE.fullmatch(code):
            raise ValidationError(
                f"{attribute.name}[{index}]", "an ISO 3166-1 alpha-2 code of exactly 2 letters"
            )


def int_range(low: int, high: int) -> v._Validator:
    """An integer (not a bool) from ``low`` to ``high``, or None."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(attribute.name, f"an integer from {low} to {high}")

    return check


def header_value(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A value 8x8 sends as an HTTP header (``httpAuthorization``): printable ASCII, or None.

    The masked ``***`` that 8x8 returns on GET is refused: sending it back would store it.
    """
    if value is None:
        return
    text = v._is_str(attribute, value)
    if not text.strip() or len(text) > 4096:
        raise ValidationError(attribute.name, "a non-empty header value of at most 4096 characters")
    if not text.isascii() or not text.isprintable():
        raise ValidationError(attribute.name, "printable ASCII (it becomes an HTTP header)")
    if text != text.strip():
        # Servers strip a header's value: a padded one could never match the receiver's.
        raise ValidationError(attribute.name, "no leading or trailing spaces")
    if text == MASKED_SECRET:
        raise ValidationError(
            attribute.name, "the secret itself, not the masked '***' 8x8 returns on GET"
        )


def log_date(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A ``date`` (a UTC day), a timezone-aware ``datetime``, or None."""
    if value is None:
        return
    if isinstance(value, datetime):
        v.aware_datetime(inst, attribute, value)
    elif not isinstance(value, date):
        raise ValidationError(attribute.name, "a date, or a timezone-aware datetime")
