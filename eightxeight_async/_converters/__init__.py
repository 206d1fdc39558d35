"""The wire: the one cattrs converter and the only code that reads or writes JSON.

Everything that crosses the wire in a body or a query string goes through here: request bodies
(an object, or a JSON array of objects), query parameters, 2xx answers (an object, or an array
structured as ``tuple[X, ...]``), 8x8's error body (read leniently into ``ErrorBody``), the datetime
format, and the JSON the CLI prints. ``_convert`` holds the converter and the datetime format;
``_json`` everything that calls ``json``.
"""

from ._convert import (
    array_in,
    converter,
    format_datetime,
    parse_datetime,
    to_camel,
    unstructure_request,
)
from ._json import (
    decode_json,
    dumps_for_humans,
    encode_json,
    encode_query,
    encode_request,
    jsonable,
    parse_error_body,
    parse_response,
    structure_response,
)

__all__ = [
    "array_in",
    "converter",
    "decode_json",
    "dumps_for_humans",
    "encode_json",
    "encode_query",
    "encode_request",
    "format_datetime",
    "jsonable",
    "parse_datetime",
    "parse_error_body",
    "parse_response",
    "structure_response",
    "to_camel",
    "unstructure_request",
]
