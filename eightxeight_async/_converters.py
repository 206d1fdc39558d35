"""The one cattrs converter: snake_case attributes <-> camelCase JSON, unset fields omitted.

Known traps handled here:

- A custom unstructure *factory* ignores ``Converter(omit_if_default=True)``, so each generated
  function is made with ``_cattrs_omit_if_default=True``.
- cattrs' default ``str`` hook turns ``5`` into ``"5"``; ours refuses anything but a string, so a
  surprising server response is reported instead of silently coerced.
- ``datetime.fromisoformat`` on Python 3.10 rejects 8x8's ``Z`` suffix and its 7-digit fractions
  (``2017-04-19T02:31:19.4297387+00:00``), so datetimes go through our own parser.
- cattrs error paths name Python attributes; :func:`structure_response` translates them to the
  wire names a reader will find in the JSON.
"""

from __future__ import annotations

import enum
import json
import re
import types
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ResponseValidationError, clean_server_text
from ._models import FeedbackRequest, SmsRequest, SurveyRequest

__all__ = [
    "converter",
    "decode_json",
    "encode_json",
    "format_datetime",
    "parse_datetime",
    "structure_response",
    "to_camel",
    "unstructure_request",
]

_T = TypeVar("_T")

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_datetime(value: str) -> datetime:
    """Parse an 8x8 timestamp into an aware datetime, the same way on every Python version.

    Accepts ``Z`` or a numeric offset, and 0 to 9 fractional digits (8x8 sends 2 to 7; digits
    past the sixth are dropped, since datetime holds microseconds). A timestamp without an
    offset is taken as UTC, which is what 8x8's servers use.

    Args:
        value: The timestamp text.

    Returns:
        A timezone-aware datetime.

    Raises:
        ValueError: When the text is not an ISO 8601 date and time.
    """
    match = _DATETIME_RE.fullmatch(value.strip())
    if match is None:
        msg = "not an ISO 8601 date and time"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone = timezone.utc
    if sign is not None and not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            msg = "UTC offset out of range"
            raise ValueError(msg)
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micro,
        tzinfo=tz,
    )


def format_datetime(value: datetime) -> str:
    """Write an aware datetime as an RFC 3339 timestamp in UTC, e.g. ``2026-11-24T02:00:00Z``.

    The instant is kept to the microsecond; the offset is not. ``isoformat()`` would write an
    offset with seconds (``+05:30:15``, which some historical zones have), and RFC 3339, the
    ``date-time`` format of 8x8's OpenAPI file, has no such offset: UTC is always valid.

    Args:
        value: A timezone-aware datetime (the validators refuse naive ones, and ones whose UTC
            time falls outside years 1 to 9999).

    Returns:
        ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.
    """
    utc = value.astimezone(timezone.utc).replace(tzinfo=None)
    # datetime.isoformat, unlike strftime("%Y"), pads years below 1000 to four digits.
    return utc.isoformat() + "Z"


def to_camel(name: str) -> str:
    """Return the camelCase wire name of a snake_case attribute (``dlr_callback_url`` -> ...)."""
    first, *rest = name.split("_")
    wire = first + "".join(part.capitalize() for part in rest)
    return _WIRE_EXCEPTIONS.get(name, wire)


# Where 8x8's spelling is not the plain camelCase of our attribute name.
_WIRE_EXCEPTIONS = {"subaccount_id": "subAccountId"}


def _is_open_enum(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is not Union and origin is not types.UnionType:
        return False
    args = {a for a in get_args(tp) if a is not type(None)}
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    return len(enums) == 1 and args == {enums[0], str}


def _open_enum_hook(tp: Any) -> Callable[[object, Any], object]:
    """Build the structure hook of one ``Enum | str`` (maybe ``| None``) type, resolved once."""
    args = get_args(tp)
    nullable = type(None) in args
    enum_cls = next(a for a in args if isinstance(a, type) and issubclass(a, enum.Enum))
    known = {member.value: member for member in enum_cls}

    def structure(value: object, _tp: Any) -> object:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            msg = f"expected a string, got {type(value).__name__}"
            raise TypeError(msg)
        # An enum value we do not know yet is kept as the raw string, never a crash.
        return known.get(value, value)

    return structure


def _structure_str(value: object, _tp: object) -> str:
    if not isinstance(value, str):
        msg = f"expected a string, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _structure_int(value: object, _tp: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected an integer, got {type(value).__name__}"
        raise TypeError(msg)
    # 8x8's integers are counts and codes. A 5,000-digit one would make the response's repr
    # raise (Python limits int-to-str conversion), far from where it came in.
    if not -(2**63) <= value < 2**63:
        msg = "expected a 64-bit integer"
        raise ValueError(msg)
    return value


def _structure_decimal(value: object, _tp: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = f"expected a number, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        # str() of a float is its shortest repr, so 0.0012 becomes Decimal("0.0012") exactly.
        result = Decimal(str(value))
    except InvalidOperation:
        msg = "expected a number"
        raise ValueError(msg) from None
    if not result.is_finite():
        msg = "expected a finite number"
        raise ValueError(msg)
    return result


def _structure_datetime(value: object, _tp: object) -> datetime:
    if not isinstance(value, str):
        msg = f"expected an ISO 8601 string, got {type(value).__name__}"
        raise TypeError(msg)
    return parse_datetime(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook_factory(_is_open_enum, _open_enum_hook)

    def structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        renames = {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}
        structure_dict = make_dict_structure_fn(cls, conv, **renames)  # type: ignore[arg-type]

        def structure(value: Any, tp: Any) -> Any:
            # Without this, a list where an object belongs is reported at its first key.
            if not isinstance(value, dict):
                msg = f"expected an object, got {type(value).__name__}"
                raise TypeError(msg)
            return structure_dict(value, tp)

        return structure

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        renames = {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}
        # Every optional field defaults to None, so "omit if default" is "send no nulls".
        return make_dict_unstructure_fn(
            cls,
            conv,
            _cattrs_omit_if_default=True,
            **renames,  # type: ignore[arg-type]
        )

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_unstructure_hook(Mapping, dict)
    return conv


converter = _make_converter()

RequestTypes = SmsRequest | SurveyRequest | FeedbackRequest


def unstructure_request(request: RequestTypes) -> dict[str, Any]:
    """Return the JSON-ready dict of a request: camelCase keys, no null fields."""
    result: dict[str, Any] = converter.unstructure(request)
    return result


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Serialise a request body to compact UTF-8 JSON.

    Raises:
        ValueError: When the body holds NaN or an infinity (not JSON), or a string that is not
            valid Unicode (a lone surrogate). Validators refuse both earlier, naming the field;
            this is the backstop that keeps invalid JSON off the wire.
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the request body holds a string that is not valid Unicode") from None


def decode_json(content: bytes) -> object:
    """Parse a response body as JSON.

    Raises:
        ValueError: For anything that is not strict JSON: invalid bytes, ``NaN`` or
            ``Infinity``, a number too long to convert, and nesting too deep for the parser (a
            hostile body nested 100,000 levels raises ``RecursionError`` inside ``json``).
    """
    try:
        return json.loads(content, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _refuse_constant(name: str) -> object:
    # json accepts NaN and Infinity by default; they are not JSON, and 8x8 never sends them.
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "is missing"
    return f"is invalid ({exc})"


def _strip_optional(tp: Any) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) in (Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _first_error(exc: BaseException, cls: type[Any], path: str) -> tuple[str, str]:
    """Walk a cattrs exception group down to its first leaf, building the wire path."""
    if isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = note.name if isinstance(note.name, str) else str(note.name)
            field_type = _strip_optional(note.type)
            child = f"{path}.{to_camel(name)}"
            if isinstance(sub, cattrs.ClassValidationError) and attrs.has(field_type):
                return _first_error(sub, field_type, child)
            return child, _describe(sub)
        if without:
            return path, _describe(without[0])
    return path, _describe(exc)


def structure_response(data: object, cls: type[_T], *, response: Any = None) -> _T:
    """Structure a decoded JSON body into a response class.

    Args:
        data: The decoded JSON.
        cls: The response class.
        response: The ``httpx.Response``, attached to the error.

    Returns:
        The response object.

    Raises:
        ResponseValidationError: When the body does not have the documented shape; names the wire
            path of the first offending value.
    """
    if not isinstance(data, dict):
        msg = (
            f"8x8 returned a {cls.__name__} body that is not a JSON object "
            f"(got {type(data).__name__})."
        )
        raise ResponseValidationError(msg, path="$", response=response)
    try:
        return converter.structure(data, cls)
    except _STRUCTURE_ERRORS as exc:
        path, problem = _first_error(exc, cls, "$")
        msg = (
            f"8x8 returned a {cls.__name__} that does not match its documentation: "
            f"{path} {clean_server_text(problem)}."
        )
        raise ResponseValidationError(msg, path=path, response=response) from exc


# What structuring any value json can produce may raise: cattrs wraps a field's failure in its
# exception group; a value cattrs dispatches on before that (a list where an object belongs, a
# huge number) can raise the plain ones.
_STRUCTURE_ERRORS = (
    cattrs.BaseValidationError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)
