"""JSON in and out: request bodies, query strings, answers, 8x8's error body, the CLI's output.

This is the only place that calls ``json``. Request bodies are an attrs object or a JSON array of
them; answers an object, or an array structured as ``tuple[X, ...]``; 8x8's error body is read
leniently into ``ErrorBody``. cattrs error paths name Python attributes; :func:`structure_response`
translates them to the wire names (and array indexes) a reader will find in the JSON.
"""

from __future__ import annotations

import enum
import json
import math
import types
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
import httpx

from .._errors import (
    MAX_ERROR_BODY,
    MAX_SERVER_TEXT,
    ErrorBody,
    ResponseValidationError,
    ValidationError,
    clean_server_text,
)
from ._convert import converter, format_datetime, parse_datetime, to_camel

__all__ = [
    "decode_json",
    "dumps_for_humans",
    "encode_json",
    "encode_query",
    "encode_request",
    "jsonable",
    "parse_error_body",
    "parse_response",
    "structure_response",
]

_T = TypeVar("_T")


# --- request bodies and query strings ------------------------------------------------------------


def encode_request(body: object) -> bytes:
    """Serialise a request body: an attrs request object, or a sequence of them (a JSON array).

    Raises:
        ValidationError: When a value cannot be JSON (NaN, an infinity, a lone surrogate). The
            validators refuse these first, naming the argument; this is the backstop that keeps
            a bare ValueError (and invalid JSON) from ever reaching the caller.
    """
    data: Any
    if isinstance(body, (list, tuple)):
        data = [converter.unstructure(item) for item in body]
    else:
        data = converter.unstructure(body)
    try:
        return encode_json(data)
    except ValueError:
        field, rule = _unencodable(data)
        raise ValidationError(field, rule) from None


def _unencodable(data: object) -> tuple[str, str]:
    items: list[tuple[str, object]]
    if isinstance(data, Mapping):
        items = [(_snake(str(key)), value) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(f"request[{index}]", value) for index, value in enumerate(data)]
    else:
        items = [("request", data)]
    for name, value in items:
        rule = _bad_json_value(value)
        if rule is not None:
            if isinstance(value, Mapping) and name.startswith("request["):
                inner, rule = _unencodable(value)
                return f"{name}.{inner}", rule
            return name, rule
    return "request", "valid JSON (no NaN, infinity or lone surrogate)"


def _bad_json_value(value: object) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "valid Unicode text (no lone surrogates)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "finite numbers only (JSON has no NaN or Infinity)"
    if isinstance(value, Mapping):
        values: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        values = list(value)
    else:
        return None
    return next((rule for rule in map(_bad_json_value, values) if rule is not None), None)


def _snake(wire_name: str) -> str:
    # 8x8's camelCase field back to the argument name: templateVariables -> template_variables.
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in wire_name)


def _query_value(value: object) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def encode_query(query: object) -> list[tuple[str, str]]:
    """The query parameters of a request: wire names, values as text, unset ones left out.

    Args:
        query: An attrs query object (``PriceQuery``), named and unstructured like a body:
            enums go as their value, booleans as ``true``/``false``, datetimes in the wire
            format, dates as ``YYYY-MM-DD``, a sequence as one parameter per item.

    Returns:
        ``(name, value)`` pairs in field order, for the URL's query string.
    """
    values: dict[str, Any] = converter.unstructure(query)
    pairs: list[tuple[str, str]] = []
    for wire, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((wire, _query_value(item)) for item in value)
        else:
            pairs.append((wire, _query_value(value)))
    return pairs


def encode_json(body: Mapping[str, Any] | Sequence[Any]) -> bytes:
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


def _wire_name(cls: type[Any], name: str) -> str:
    # The JSON key of an attribute: its "wire" metadata where 8x8's name is not the camelCase.
    field = attrs.fields_dict(cls).get(name) if attrs.has(cls) else None
    wire: str = field.metadata.get("wire", to_camel(name)) if field is not None else to_camel(name)
    return wire


def _first_error(exc: BaseException, cls: type[Any], path: str) -> tuple[str, str]:
    """Walk a cattrs exception group down to its first leaf, building the wire path."""
    if isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = note.name if isinstance(note.name, str) else str(note.name)
            field_type = _strip_optional(note.type)
            child = f"{path}.{_wire_name(cls, name)}"
            return _leaf(sub, field_type, child)
        if without:
            return path, _describe(without[0])
    return path, _describe(exc)


def _leaf(exc: BaseException, tp: Any, path: str) -> tuple[str, str]:
    """The first failure inside one field: into a nested object, or an array's item."""
    if isinstance(exc, cattrs.ClassValidationError) and attrs.has(tp):
        return _first_error(exc, tp, path)
    if isinstance(exc, cattrs.IterableValidationError):
        # A tuple field: name the item, $.subAccounts[2].outbound, and go into it.
        with_notes, _without = exc.group_exceptions()
        for sub, note in with_notes:
            return _leaf(sub, _strip_optional(note.type), f"{path}[{note.index}]")
    return path, _describe(exc)


def _tuple_item(tp: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else None."""
    args = get_args(tp)
    if get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _name_of(tp: Any) -> str:
    item = _tuple_item(tp)
    if item is not None:
        return f"list of {_name_of(item)}"
    return getattr(tp, "__name__", str(tp))


def parse_response(response: httpx.Response, tp: Any) -> Any:
    """Read a 2xx answer as the operation's response type.

    Args:
        response: The answer, its body read.
        tp: The response class, ``tuple[X, ...]`` for a JSON array of ``X``, or ``None`` for an
            answer whose body means nothing (8x8 sends none, or an empty object).

    Returns:
        The response object, a tuple of them, or ``None``.

    Raises:
        ResponseValidationError: When the body is not JSON or not of the documented shape.
    """
    if tp is None:
        return None
    try:
        data = decode_json(response.content)
    except ValueError:
        msg = f"8x8 returned a {_name_of(tp)} body that is not JSON (HTTP {response.status_code})."
        raise ResponseValidationError(msg, path="$", response=response) from None
    return structure_response(data, tp, response=response)


def structure_response(data: object, cls: Any, *, response: Any = None) -> Any:
    """Structure a decoded JSON body into a response class, or a tuple of them for an array.

    Args:
        data: The decoded JSON.
        cls: The response class, or ``tuple[X, ...]`` for a JSON array of ``X``.
        response: The ``httpx.Response``, attached to the error.

    Returns:
        The response object (a tuple of them for an array).

    Raises:
        ResponseValidationError: When the body does not have the documented shape; names the wire
            path of the first offending value (``$[2].url`` in an array).
    """
    item = _tuple_item(cls)
    if item is not None:
        if not isinstance(data, list):
            msg = (
                f"8x8 returned a {_name_of(cls)} body that is not a JSON array "
                f"(got {type(data).__name__})."
            )
            raise ResponseValidationError(msg, path="$", response=response)
        return tuple(
            _structure_object(value, item, response, f"$[{index}]")
            for index, value in enumerate(data)
        )
    return _structure_object(data, cls, response, "$")


def _structure_object(data: object, cls: type[_T], response: Any, root: str) -> _T:
    if not isinstance(data, dict):
        msg = (
            f"8x8 returned a {cls.__name__} body that is not a JSON object "
            f"(got {type(data).__name__})."
        )
        raise ResponseValidationError(msg, path=root, response=response)
    try:
        return converter.structure(data, cls)
    except _STRUCTURE_ERRORS as exc:
        path, problem = _first_error(exc, cls, root)
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


# --- 8x8's error body ----------------------------------------------------------------------------

# 8x8's error bodies are flat objects. A parsed body nested much deeper is kept as text instead:
# pickle (process pools) gives up on a few hundred levels that json parses fine.
_MAX_BODY_DEPTH = 32


def _shallow(value: object) -> bool:
    """Whether ``value`` is nested at most ``_MAX_BODY_DEPTH`` levels, checked without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= _MAX_BODY_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def _error_code(raw: object) -> int | None:
    # 8x8's codes are small integers; anything else (a bool, "²", a 4000-digit number) is no code.
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9:
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**31:
        return raw
    return None


def _content_of(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:  # a body left unread (too large, or the stream failed)
        return b""


def parse_error_body(response: httpx.Response) -> ErrorBody | None:
    """Read 8x8's error body from an error answer, leniently.

    A field of the wrong type is left out, never an error: the answer is already an error, and
    its status alone decides the error's class. A body that is not JSON is kept as text.

    Args:
        response: The error answer; its body read, or cut to a bounded prefix (an unread body
            counts as empty).

    Returns:
        The error body, or ``None`` when the answer had no body.
    """
    content = _content_of(response)
    if not content:
        return None
    try:
        parsed = decode_json(content)
    except ValueError:
        text = content[:MAX_ERROR_BODY].decode(response.encoding or "utf-8", "replace")
        return ErrorBody(document=text)
    document = (
        parsed
        if len(content) <= MAX_ERROR_BODY and _shallow(parsed)
        else content[:MAX_ERROR_BODY].decode("utf-8", "replace")
    )
    if not isinstance(parsed, dict):
        return ErrorBody(document=document)
    raw_message = parsed.get("message")
    raw_id = parsed.get("errorId")
    raw_ts = parsed.get("timestamp")
    timestamp: datetime | None = None
    if isinstance(raw_ts, str):
        try:
            timestamp = parse_datetime(raw_ts)
        except (ValueError, OverflowError):
            timestamp = None
    return ErrorBody(
        code=_error_code(parsed.get("code")),
        message=raw_message if isinstance(raw_message, str) and raw_message.strip() else None,
        error_id=raw_id[:MAX_SERVER_TEXT] if isinstance(raw_id, str) and raw_id else None,
        timestamp=timestamp,
        document=document,
    )


# --- what the CLI prints -------------------------------------------------------------------------


def jsonable(value: object) -> Any:
    """Plain JSON data (dicts, lists, strings, numbers) of a response object, as the CLI prints it.

    Wire names, datetimes in the wire format; anything JSON has no type for (a ``Decimal``) as
    its text.
    """
    return json.loads(json.dumps(converter.unstructure(value), default=str))


def dumps_for_humans(data: object, *, indent: int | None = 2) -> str:
    """The JSON text the CLI prints: indented by default, ``indent=None`` for one line."""
    return json.dumps(data, indent=indent)
