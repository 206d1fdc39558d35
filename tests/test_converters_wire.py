"""_converters as the one owner of the wire: error bodies, arrays, query strings, CLI JSON."""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone

import attrs
import httpx
import pytest

from eightxeight_async._cli import EXIT_INTERRUPTED, INTERRUPTED_DOCUMENT
from eightxeight_async._converters import (
    dumps_for_humans,
    encode_query,
    jsonable,
    parse_error_body,
    parse_response,
    structure_response,
)
from eightxeight_async._errors import ErrorBody, ResponseValidationError
from eightxeight_async._models import SmsResponse
from eightxeight_async._models_account import PriceList
from eightxeight_async._models_exports import LogExportStatus

from .conftest import reference_examples

REQUEST = httpx.Request("GET", "https://sms.8x8.com/x")


def answer(status: int, content: bytes) -> httpx.Response:
    return httpx.Response(status, content=content, request=REQUEST)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", None, id="empty"),
        pytest.param(
            b'{"code": 1201, "message": "Account not in prepaid mode", "errorId": "e-1",'
            b' "timestamp": "2024-01-01T00:00:00.1234567Z"}',
            ErrorBody(
                code=1201,
                message="Account not in prepaid mode",
                error_id="e-1",
                timestamp=datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc),
                document={
                    "code": 1201,
                    "message": "Account not in prepaid mode",
                    "errorId": "e-1",
                    "timestamp": "2024-01-01T00:00:00.1234567Z",
                },
            ),
            id="8x8",
        ),
        pytest.param(
            b'{"code": "1002", "message": 5, "errorId": "", "timestamp": "soon"}',
            ErrorBody(
                code=1002,
                document={"code": "1002", "message": 5, "errorId": "", "timestamp": "soon"},
            ),
            id="lenient-types",
        ),
        pytest.param(b'{"code": true}', ErrorBody(document={"code": True}), id="bool-is-no-code"),
        pytest.param(b"[1, 2]", ErrorBody(document=[1, 2]), id="array"),
        pytest.param(b"<html>oops</html>", ErrorBody(document="<html>oops</html>"), id="html"),
    ],
)
def test_error_body_is_read_leniently(content: bytes, expected: ErrorBody | None) -> None:
    """8x8's error body lands in ErrorBody; a field of the wrong type is left out, never fatal."""
    assert parse_error_body(answer(400, content)) == expected


def test_unread_error_body_counts_as_empty() -> None:
    """A body that was never read (cut stream) is no body at all."""
    response = httpx.Response(500, stream=httpx.ByteStream(b"x"), request=REQUEST)
    assert parse_error_body(response) is None


def test_empty_answer_of_an_operation_without_response_is_none() -> None:
    """A 202/204 answer with no (or any) body gives None, never a parse error."""
    assert parse_response(answer(204, b""), None) is None
    assert parse_response(answer(202, b"not json"), None) is None


@pytest.mark.parametrize(
    ("tp", "content", "path"),
    [
        pytest.param(SmsResponse, b"not json", "$", id="not-json"),
        pytest.param(tuple[SmsResponse, ...], b"{}", "$", id="object-for-array"),
        pytest.param(SmsResponse, b"[]", "$", id="array-for-object"),
    ],
)
def test_answers_of_the_wrong_shape(tp: object, content: bytes, path: str) -> None:
    """A body that is not JSON, or not the declared object or array, is ResponseValidationError."""
    with pytest.raises(ResponseValidationError) as info:
        parse_response(answer(200, content), tp)
    assert info.value.path == path


def test_array_answer_is_a_tuple_of_objects() -> None:
    """tuple[X, ...] structures each item of a JSON array."""
    body = reference_examples()["send-sms"][0]
    result = structure_response([body, body], tuple[SmsResponse, ...])
    assert isinstance(result, tuple)
    assert [r.umid for r in result] == [body["umid"], body["umid"]]
    assert structure_response([], tuple[SmsResponse, ...]) == ()


@pytest.mark.parametrize(
    ("data", "cls", "path"),
    [
        pytest.param(
            {"status": "succeeded", "data": ["https://x", 5]},
            LogExportStatus,
            "$.data[1]",
            id="renamed-field-item",
        ),
        pytest.param(
            {"subAccounts": [{"subAccountId": "a"}, {"subAccountId": 5}]},
            PriceList,
            "$.subAccounts[1].subAccountId",
            id="object-in-array-field",
        ),
    ],
)
def test_error_paths_use_wire_names_and_indexes(data: object, cls: type, path: str) -> None:
    """The path of a bad value names 8x8's key (wire renames included) and the array index."""
    with pytest.raises(ResponseValidationError) as info:
        structure_response(data, cls)
    assert info.value.path == path
    assert path in str(info.value)


class Color(enum.Enum):
    RED = "red"


@attrs.frozen(kw_only=True)
class Query:
    subaccount_id: str | None = None
    flag: bool | None = None
    when: date | None = None
    at: datetime | None = None
    color: Color | None = None
    many: tuple[str, ...] | None = None
    count: int | None = None


def test_query_values_are_written_as_text_under_wire_names() -> None:
    """Enums by value, booleans lower case, dates and datetimes as on the wire, lists repeated."""
    query = Query(
        subaccount_id="acme&co_hq",
        flag=False,
        when=date(2026, 1, 2),
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        color=Color.RED,
        many=("SG", "PH"),
        count=0,
    )
    assert encode_query(query) == [
        ("subAccountId", "acme&co_hq"),
        ("flag", "false"),
        ("when", "2026-01-02"),
        ("at", "2026-01-02T03:04:05Z"),
        ("color", "red"),
        ("many", "SG"),
        ("many", "PH"),
        ("count", "0"),
    ]
    assert encode_query(Query()) == []


def test_cli_json_comes_from_the_converters() -> None:
    """What the CLI prints: wire names, decimals as text, the same layout everywhere."""
    body = reference_examples()["send-sms"][0]
    sms = structure_response(body, SmsResponse)
    data = jsonable(sms)
    assert data["umid"] == body["umid"]
    assert dumps_for_humans({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'
    assert dumps_for_humans({"a": 1}, indent=None) == '{"a": 1}'


def test_interrupted_document_is_what_the_helpers_would_print() -> None:
    """The Ctrl-C document, written out in _cli to stay import-free, equals the helpers' output."""
    error = {"type": "Interrupted", "message": "Interrupted.", "exit_code": EXIT_INTERRUPTED}
    assert dumps_for_humans({"error": error}) + "\n" == INTERRUPTED_DOCUMENT
