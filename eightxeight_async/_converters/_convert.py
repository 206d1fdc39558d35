"""The one cattrs converter, its hooks, and the datetime format of the wire.

snake_case attributes <-> camelCase JSON keys, unset fields omitted. Known traps handled here:

- A custom unstructure *factory* ignores ``Converter(omit_if_default=True)``, so each generated
  function is made with ``_cattrs_omit_if_default=True``.
- cattrs' default ``str`` hook turns ``5`` into ``"5"``; ours refuses anything but a string, so a
  surprising server response is reported instead of silently coerced.
- ``datetime.fromisoformat`` on Python 3.10 rejects 8x8's ``Z`` suffix and its 7-digit fractions
  (``2017-04-19T02:31:19.4297387+00:00``), so datetimes go through our own parser.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "converter",
    "format_datetime",
    "parse_datetime",
    "to_camel",
    "unstructure_request",
]

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

    # --- issue 9 models ---
    # Imported here, not at the top: this block is the one M may edit.
    from datetime import date

    from cattrs.errors import AttributeValidationNote

    # For the models of the 13 newer operations (_models_batch, _models_exports, _models_account),
    # kept generic so that this module imports none of them. Three attrs field metadata keys:
    # - "wire": the JSON key, where it is not the camelCase of the attribute name
    #   (LogExportRequest.start is "from", LogExportStatus.links is "data");
    # - "wire_in": a function applied to the raw JSON value before it is structured, for a value
    #   8x8 writes in more than one shape (a price list's "outbound": an object in 8x8's examples,
    #   an array in its schema). It raises TypeError or ValueError for a shape it does not know;
    # - "wire_always": sent even when it holds its default (WebhookRequest.enabled).
    wire_keys = ("wire", "wire_in", "wire_always")

    def wire_name(attribute: attrs.Attribute[Any]) -> str:
        name: str = attribute.metadata.get("wire", to_camel(attribute.name))
        return name

    def has_wire_metadata(cls: type[Any]) -> bool:
        return attrs.has(cls) and any(
            key in a.metadata for a in attrs.fields(cls) for key in wire_keys
        )

    def wire_structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        fields = attrs.fields(cls)
        renames = {a.name: override(rename=wire_name(a)) for a in fields}
        shape = {wire_name(a): a for a in fields if "wire_in" in a.metadata}
        structure_dict = make_dict_structure_fn(cls, conv, **renames)  # type: ignore[arg-type]

        def reshape(value: dict[str, Any]) -> dict[str, Any]:
            result = dict(value)
            for key, attribute in shape.items():
                if key not in value:
                    continue
                try:
                    result[key] = attribute.metadata["wire_in"](value[key])
                except (TypeError, ValueError) as exc:
                    # Noted as cattrs notes a field's failure, so that the error names its path.
                    note = AttributeValidationNote(
                        f"Structuring class {cls.__qualname__} @ attribute {attribute.name}",
                        attribute.name,
                        attribute.type,
                    )
                    notes = [*getattr(exc, "__notes__", []), note]
                    setattr(exc, "__notes__", notes)  # noqa: B010 (not in 3.10's typeshed)
                    msg = f"While structuring {cls.__name__}"
                    raise cattrs.ClassValidationError(msg, [exc], cls) from None
            return result

        def structure(value: Any, tp: Any) -> Any:
            if not isinstance(value, dict):
                msg = f"expected an object, got {type(value).__name__}"
                raise TypeError(msg)
            return structure_dict(reshape(value) if shape else value, tp)

        return structure

    def wire_unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        renames = {
            a.name: override(
                rename=wire_name(a),
                omit_if_default=False if a.metadata.get("wire_always") else None,
            )
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(
            cls,
            conv,
            _cattrs_omit_if_default=True,
            **renames,  # type: ignore[arg-type]
        )

    conv.register_structure_hook_factory(has_wire_metadata, wire_structure_factory)
    conv.register_unstructure_hook_factory(has_wire_metadata, wire_unstructure_factory)
    # A date that is not a datetime (datetime's own hook is more specific) is "yyyy-MM-dd".
    conv.register_unstructure_hook(date, date.isoformat)

    def structure_bool(value: object, _tp: object) -> bool:
        # cattrs' default would make the string "false" True.
        if not isinstance(value, bool):
            msg = f"expected a boolean, got {type(value).__name__}"
            raise TypeError(msg)
        return value

    conv.register_structure_hook(bool, structure_bool)
    return conv


converter = _make_converter()


def unstructure_request(request: object) -> dict[str, Any]:
    """Return the JSON-ready dict of a request object: camelCase keys, no null fields."""
    result: dict[str, Any] = converter.unstructure(request)
    return result


def array_in(value: object) -> object:
    """The ``wire_in`` hook of array fields: null is the empty array, a non-array is refused.

    cattrs would otherwise turn a string into a tuple of its characters.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"expected an array, got {type(value).__name__}"
        raise TypeError(msg)
    return value
