"""The error tree, 8x8's error body on every status error, and messages that are sentences."""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import pickle
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import eightxeight_async as e
from eightxeight_async import _errors as errors_module
from eightxeight_async._converters import parse_error_body
from eightxeight_async._errors import (
    MAX_ERROR_BODY,
    MAX_SERVER_TEXT,
    clean_server_text,
    error_class_for_status,
    error_from_response,
)

from .conftest import API_KEY, PHONE, TEXT, openapi_examples, reference_examples


def build_error(resp: httpx.Response, *, retry_after: float | None) -> e.APIStatusError:
    """The error the SDK builds for an error answer: 8x8's body read, then the one function."""
    return error_from_response(resp, parse_error_body(resp), retry_after=retry_after)


def response(status: int, body: object = None, *, text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages")
    if text is not None:
        return httpx.Response(status, text=text, request=request)
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.BadRequestError),
        (401, e.AuthenticationError),
        (403, e.PermissionDeniedError),
        (404, e.NotFoundError),
        (409, e.APIStatusError),
        (410, e.APIStatusError),
        (422, e.APIStatusError),
        (426, e.UpgradeRequiredError),
        (429, e.RateLimitError),
        (500, e.InternalServerError),
        (502, e.InternalServerError),
        (503, e.InternalServerError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[e.APIStatusError]) -> None:
    """Each HTTP status has its class, as the README's table says."""
    assert error_class_for_status(status) is cls
    err = build_error(response(status), retry_after=None)
    assert type(err) is cls
    assert err.status_code == status


def test_tree_shape() -> None:
    """The error tree is the contract's."""
    assert issubclass(e.ValidationError, ValueError)
    assert issubclass(e.ValidationError, e.EightXEightError)
    for cls in (e.APITimeoutError, e.TLSVersionError, e.SendOutcomeUnknownError):
        assert issubclass(cls, e.APIConnectionError)
    assert issubclass(e.APIConnectionError, e.APIError)
    assert issubclass(e.APIStatusError, e.APIError)
    assert issubclass(e.ResponseValidationError, e.EightXEightError)
    assert not issubclass(e.ResponseValidationError, e.APIError)


ALL_ERROR_BODIES = [
    pytest.param(body, id=f"{page}-{i}")
    for page, bodies in reference_examples().items()
    for i, body in enumerate(bodies)
    if "errorId" in body
] + [
    pytest.param(body, id=path.split("/paths/")[-1][-60:])
    for path, body in openapi_examples("error")
]


@pytest.mark.parametrize("body", ALL_ERROR_BODIES)
def test_every_documented_error_body_is_parsed(body: dict[str, Any]) -> None:
    """code, message, errorId and timestamp of every example error body land on the error."""
    err = build_error(response(400, body), retry_after=None)
    assert err.code == body["code"]
    assert err.error_id == body["errorId"]
    assert err.body == body
    if isinstance(body.get("timestamp"), str):
        assert isinstance(err.timestamp, datetime)
        assert err.timestamp.tzinfo is not None
    if body.get("message"):
        assert body["message"] in str(err)
    assert f"code {body['code']}" in str(err)
    assert f"[errorId {body['errorId']}]" in str(err)


def test_message_is_a_sentence() -> None:
    """The message reads as the style guide shows."""
    body = reference_examples()["send-sms"][3]
    err = build_error(response(400, body), retry_after=None)
    assert str(err) == (
        "8x8 rejected the request (HTTP 400, code 1002): Invalid MSISDN format (not E.164 "
        "international number) [errorId b4478860-b76c-e811-814e-022a35cc1c71]"
    )
    assert err.timestamp == datetime(2018, 8, 4, 9, 25, 40, 923575, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("resp", "expected"),
    [
        pytest.param(
            response(500, text="<html>oops</html>"),
            "8x8 failed to handle the request (HTTP 500): Internal Server Error.",
            id="html",
        ),
        pytest.param(
            response(502), "8x8 failed to handle the request (HTTP 502): Bad Gateway.", id="empty"
        ),
        pytest.param(
            response(400, ["not", "an", "object"]),
            "8x8 rejected the request (HTTP 400): Bad Request.",
            id="list",
        ),
        pytest.param(
            response(400, {"code": "x", "errorId": 5}),
            "8x8 rejected the request (HTTP 400): Bad Request.",
            id="wrong-types",
        ),
        pytest.param(
            response(400, {"code": 1000, "timestamp": "never"}),
            "8x8 rejected the request (HTTP 400, code 1000): Bad Request.",
            id="bad-ts",
        ),
        pytest.param(
            response(400, {"code": "\u00b2", "message": "m"}),
            "8x8 rejected the request (HTTP 400): m.",
            id="superscript-code",
        ),
        pytest.param(
            response(400, {"code": 10**40, "message": "m"}),
            "8x8 rejected the request (HTTP 400): m.",
            id="huge-code",
        ),
        pytest.param(
            response(400, {"code": True, "message": "m", "errorId": "e"}),
            "8x8 rejected the request (HTTP 400): m. [errorId e]",
            id="bool-code",
        ),
    ],
)
def test_surprising_error_bodies_never_crash(resp: httpx.Response, expected: str) -> None:
    """Unparseable or oddly typed error bodies still give a typed error with a whole sentence."""
    err = build_error(resp, retry_after=None)
    assert str(err) == expected


def test_rate_limit_error_carries_retry_after() -> None:
    """RateLimitError.retry_after is the parsed header, as a float."""
    body = {
        "code": 429,
        "message": "Quota exceeded. Please try again in 1 second(s).",
        "errorId": "c8a41b47-57bf-ea11-8273-00155d466a31",
        "timestamp": "2020-07-06T07:07:00.30Z",
    }
    assert body in reference_examples()["get-message-details"]
    err = build_error(response(429, body), retry_after=1.0)
    assert isinstance(err, e.RateLimitError)
    assert err.retry_after == 1.0
    assert err.code == 429


def test_send_outcome_unknown_names_the_client_message_id() -> None:
    """The ambiguous-send error says what to look up before resending."""
    err = e.SendOutcomeUnknownError(client_message_id="cm-42", reason="the request timed out")
    assert err.client_message_id == "cm-42"
    assert "cm-42" in str(err)
    assert "may or may not" in str(err)


def test_validation_error_pickles() -> None:
    """ValidationError survives pickling (multiprocessing, task queues)."""
    import pickle

    err = pickle.loads(pickle.dumps(e.ValidationError("source", "at most 16 characters")))
    assert (err.field, err.rule) == ("source", "at most 16 characters")


EIGHT_BY_EIGHT_CODES = [
    (400, 1000, "Invalid parameter"),
    (400, 1001, "Provided subAccountId doesn't belongs to your account"),
    (400, 1002, "Invalid MSISDN format (not E.164 international number)"),
    (400, 1003, "Invalid Encoding"),
    (400, 1004, "Invalid Text"),
    (400, 1005, "Invalid Source"),
    (400, 1006, "Invalid Expiry"),
    (400, 1007, "Invalid SMS Template"),
    (400, 1008, "Invalid ID"),
    (400, 1009, "Invalid Country Code"),
    (400, 1010, "Parameter out of range"),
    (400, 1011, "Invalid Schedule Time"),
    (400, 1012, "Invalid Ip Address"),
    (426, 1014, "TLS 1.3+ is required for Singapore-bound messages. Detected: TLSv1.2"),
    (400, 1100, "Bulk limit reached"),
    (401, 1200, "Request was not authenticated properly"),
    (403, 1201, "Account not in prepaid mode"),
    (404, 1300, "Message not found."),
    (400, 1400, "Resending interval violation"),
    (500, 2000, "Internal Error"),
    (500, 2001, "Function not implemented"),
    (410, 2002, "Unsupported API version"),
    (400, 2003, "Unsupported product"),
    (400, 3009, "Too long ClientMessageId"),
    (400, 3020, "Invalid DR Callback URL"),
    (404, 4018, "Invalid jobId"),
    (429, 429, "Quota exceeded. Please try again in 1 second(s)."),
    (400, 9999, "A code 8x8 has not documented yet"),
]


@pytest.mark.parametrize(("status", "code", "message"), EIGHT_BY_EIGHT_CODES)
def test_every_8x8_code_lands_on_the_error(status: int, code: int, message: str) -> None:
    """Each documented code (and an unknown one) is kept on its status's error, message intact."""
    body = {
        "code": code,
        "message": message,
        "errorId": "id-1",
        "timestamp": "2020-06-18T06:42:57.20Z",
    }
    err = build_error(response(status, body), retry_after=None)
    assert type(err) is error_class_for_status(status, code)
    assert isinstance(err, error_class_for_status(status))
    assert err.code == code
    assert message.rstrip(".") in str(err)
    assert f"(HTTP {status}, code {code})" in str(err)


# --- server text in messages, bounded bodies ---------------------------------------------------

HOSTILE = "bad\nFAKE LOG LINE\r\x1b[31mred\x1b[0m\u2028\u202etxt.exe\x00\x85"


def test_server_text_is_escaped_in_messages() -> None:
    """8x8's message, errorId and reason phrase reach the message escaped: no line break, ANSI
    sequence, line separator or bidi override survives (log forging, terminal repainting)."""
    body = {"code": 1000, "message": HOSTILE, "errorId": "id\n2"}
    resp = httpx.Response(
        400,
        json=body,
        request=httpx.Request("GET", "https://sms.8x8.com/x"),
        extensions={"reason_phrase": b"Bad\x1bRequest"},
    )
    err = build_error(resp, retry_after=None)
    assert str(err) == (
        "8x8 rejected the request (HTTP 400, code 1000): bad\\nFAKE LOG LINE\\r\\x1b[31mred"
        "\\x1b[0m\\u2028\\u202etxt.exe\\x00\\x85. [errorId id\\n2]"
    )
    assert str(err).isprintable()
    # The attributes keep what 8x8 sent.
    assert err.error_id == "id\n2"
    assert err.body == body
    no_body = build_error(
        httpx.Response(
            503,
            request=httpx.Request("GET", "https://sms.8x8.com/x"),
            extensions={"reason_phrase": b"Down\r\nX-Fake: 1"},
        ),
        retry_after=None,
    )
    assert str(no_body) == "8x8 failed to handle the request (HTTP 503): Down\\r\\nX-Fake: 1."


def test_long_server_text_is_cut() -> None:
    """A 1 MB message from the server costs at most 200 characters of the error message."""
    body = {"code": 1000, "message": "A" * 1_000_000, "errorId": "B" * 5000}
    err = build_error(response(400, body), retry_after=None)
    assert str(err) == (
        "8x8 rejected the request (HTTP 400, code 1000): "
        + "A" * MAX_SERVER_TEXT
        + "\u2026. [errorId "
        + "B" * MAX_SERVER_TEXT
        + "]"
    )
    assert err.error_id == "B" * MAX_SERVER_TEXT


@given(st.text(), st.integers(min_value=1, max_value=300))
@example("0000000", 7)
def test_clean_server_text_leaves_one_safe_line(value: str, limit: int) -> None:
    """Whatever the server sends, the cleaned text has no unsafe character and a bounded size."""
    cleaned = clean_server_text(value, limit)
    assert len(cleaned) <= limit + 1
    assert cleaned.isprintable()
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in cleaned)
    # A printable short text comes back whole, unless it holds what is masked on purpose: a
    # phone-like run of 7+ digits, or a Bearer / Basic token (hypothesis found "0000000").
    masked = re.search(r"[0-9]{7}", value) or re.search(r"(?i)\b(bearer|basic)\s", value)
    if value.isprintable() and len(value) <= limit and not masked:
        assert cleaned == value


def test_large_error_body_keeps_only_a_prefix() -> None:
    """A 500's whole body no longer stays on the error: 4 KiB of text at most."""
    err = build_error(response(500, text="x" * 5_000_000), retry_after=None)
    assert err.body == "x" * MAX_ERROR_BODY
    assert len(err.response.content) == MAX_ERROR_BODY


def test_large_json_error_body_is_parsed_but_kept_as_a_prefix() -> None:
    """A big JSON error body still gives code and errorId, but .body is a text prefix."""
    body = {"code": 2000, "message": "Internal Error", "errorId": "e-1", "padding": "p" * 10_000}
    # Serialised here: httpx's json= spacing differs between releases (0.27 adds spaces).
    err = build_error(response(500, text=json.dumps(body, separators=(",", ":"))), retry_after=None)
    assert (err.code, err.error_id) == (2000, "e-1")
    assert isinstance(err.body, str)
    assert len(err.body) == MAX_ERROR_BODY
    assert err.body.startswith('{"code":2000')


@pytest.mark.parametrize("status", [400, 500])
def test_deeply_nested_error_body_is_a_typed_error(status: int) -> None:
    """A body nested 100,000 levels deep raised RecursionError; it is an error body like any."""
    content = "[" * 100_000 + "]" * 100_000
    err = build_error(response(status, text=content), retry_after=None)
    assert type(err) is error_class_for_status(status)
    assert err.body == "[" * MAX_ERROR_BODY
    assert err.code is None


def test_non_json_constants_are_not_json() -> None:
    """NaN in an error body is not JSON: the body is kept as text."""
    err = build_error(response(400, text='{"code": NaN}'), retry_after=None)
    assert err.body == '{"code": NaN}'
    assert err.code is None


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ERROR_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "code": JSON_VALUES,
        "message": JSON_VALUES,
        "errorId": JSON_VALUES,
        "timestamp": JSON_VALUES | st.datetimes().map(lambda d: d.isoformat()),
    },
)


@given(st.integers(min_value=400, max_value=599), ERROR_FIELDS | JSON_VALUES)
def test_any_json_error_body_gives_a_typed_error(status: int, body: object) -> None:
    """Whatever JSON an error body holds, the result is the status's error with a one-line
    message."""
    err = build_error(response(status, text=json.dumps(body)), retry_after=None)
    assert type(err) is error_class_for_status(status)
    assert str(err).isprintable()
    assert len(str(err)) < 600


@given(st.integers(min_value=400, max_value=599), st.binary(max_size=200))
def test_any_bytes_error_body_gives_a_typed_error(status: int, content: bytes) -> None:
    """Bytes that are not JSON (or not UTF-8) still give the status's error."""
    resp = httpx.Response(
        status, content=content, request=httpx.Request("GET", "https://sms.8x8.com/x")
    )
    err = build_error(resp, retry_after=None)
    assert type(err) is error_class_for_status(status)
    assert str(err).isprintable()


# --- secrets: redacted copies, pickling --------------------------------------------------------


def secret_request() -> httpx.Request:
    """A send as the SDK builds it: the bearer key in a header, the number and text in the body."""
    return httpx.Request(
        "POST",
        "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages",
        headers={"Authorization": f"Bearer {API_KEY}", "Cookie": "session=s3cr3t"},
        content=json.dumps({"destination": PHONE, "text": TEXT}).encode(),
    )


ERROR_BODY = {
    "code": 1002,
    "message": "Invalid MSISDN format (not E.164 international number)",
    "errorId": "b4478860-b76c-e811-814e-022a35cc1c71",
    "timestamp": "2018-08-04T09:25:40.923575Z",
}


def status_error(
    status: int, retry_after: float | None = None, code: int | None = None
) -> e.APIStatusError:
    resp = httpx.Response(
        status,
        json=ERROR_BODY if code is None else {**ERROR_BODY, "code": code},
        headers={"Set-Cookie": "session=s3cr3t", "X-Request-Id": "r-1"},
        request=secret_request(),
    )
    return build_error(resp, retry_after=retry_after)


def sample_errors() -> list[e.EightXEightError]:
    """One error of every exported class, built the way the SDK builds them."""
    ok_body = {"umid": 5, "destination": PHONE, "encoding": "GSM7", "status": {"code": "QUEUED"}}
    return [
        e.EightXEightError("Something failed."),
        e.ValidationError("source", "at most 16 characters"),
        e.APIError("A request failed.", request=secret_request()),
        e.APIConnectionError(
            "Reset.", request=secret_request(), may_have_been_sent=True, permanent=True
        ),
        e.APITimeoutError(request=secret_request(), may_have_been_sent=True),
        e.TLSVersionError(request=secret_request()),
        e.SendOutcomeUnknownError(
            client_message_id="cm-42", reason="the request timed out", request=secret_request()
        ),
        e.SendOutcomeUnknownError(
            client_batch_id="batch-7", reason="the request timed out", request=secret_request()
        ),
        status_error(400),
        status_error(401),
        status_error(403),
        status_error(403, code=1201),
        status_error(404),
        status_error(409),
        status_error(426),
        status_error(429, retry_after=1.5),
        status_error(500),
        e.ResponseValidationError(
            "8x8 returned a SmsResponse that does not match its documentation: $.umid is invalid.",
            path="$.umid",
            response=httpx.Response(
                200,
                json=ok_body,
                headers={"Set-Cookie": "session=s3cr3t", "X-Request-Id": "r-1"},
                request=secret_request(),
            ),
        ),
    ]


PUBLIC_ATTRIBUTES = (
    "status_code",
    "code",
    "error_id",
    "timestamp",
    "retry_after",
    "client_message_id",
    "field",
    "rule",
    "path",
    "body",
    "client_batch_id",
    "may_have_been_sent",
    "permanent",
)


def test_samples_cover_every_error_class() -> None:
    """The pickling tests below see every class of the error tree."""
    assert {type(err).__name__ for err in sample_errors()} == set(errors_module.__all__)


def assert_same_error(copy: BaseException, err: BaseException) -> None:
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.args == err.args
    for name in PUBLIC_ATTRIBUTES:
        assert getattr(copy, name, None) == getattr(err, name, None), name
    request = getattr(err, "request", None)
    if request is not None:
        assert (copy.request.method, copy.request.url) == (request.method, request.url)  # type: ignore[attr-defined]
    response = getattr(err, "response", None)
    if response is not None:
        assert copy.response.status_code == response.status_code  # type: ignore[attr-defined]
        assert copy.response.content == response.content  # type: ignore[attr-defined]
        assert copy.response.headers == response.headers  # type: ignore[attr-defined]


def assert_no_secret(data: bytes) -> None:
    assert API_KEY.encode() not in data
    assert b"s3cr3t" not in data
    assert TEXT.encode() not in data
    assert PHONE[3:].encode() not in data


@pytest.mark.parametrize("err", sample_errors(), ids=lambda err: type(err).__name__)
def test_every_error_pickles_without_secrets(err: e.EightXEightError) -> None:
    """Every error round-trips through pickle (type, message, attributes), and the pickle holds
    neither the API key, a cookie, the message text nor the phone number."""
    data = pickle.dumps(err)
    assert_no_secret(data)
    assert_same_error(pickle.loads(data), err)


@pytest.mark.parametrize("err", sample_errors(), ids=lambda err: type(err).__name__)
def test_live_errors_hold_only_redacted_copies(err: e.EightXEightError) -> None:
    """The raised error's request has no Authorization header and no body; its response no
    Set-Cookie, no 2xx body; its str and repr hold no secret."""
    request = getattr(err, "request", None)
    response = getattr(err, "response", None)
    for req in (request, getattr(response, "request", None)):
        if req is not None:
            assert "Authorization" not in req.headers
            assert "Cookie" not in req.headers
            assert req.content == b""
            assert req.url == "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages"
    if response is not None:
        assert "Set-Cookie" not in response.headers
        assert response.headers["X-Request-Id"] == "r-1"
        if isinstance(err, e.ResponseValidationError):
            assert response.content == b""
    for text in (str(err), repr(err)):
        assert_no_secret(text.encode())


def test_status_error_copy_keeps_status_reason_and_body() -> None:
    """The redacted response still answers .status_code, .reason_phrase, .headers and .json()."""
    err = status_error(429, retry_after=2.0)
    assert err.response.status_code == 429
    assert err.response.reason_phrase == "Too Many Requests"
    assert err.response.headers["X-Request-Id"] == "r-1"
    assert err.response.json() == ERROR_BODY
    assert err.request is err.response.request


def _raise_in_child(status: int) -> None:
    raise status_error(status)


def test_errors_cross_a_process_boundary() -> None:
    """An error raised in a worker process arrives whole in the parent (process pools)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_raise_in_child, 429)
        with pytest.raises(e.RateLimitError) as info:
            future.result(timeout=120)
    assert_same_error(info.value, status_error(429))
    assert info.value.response.json() == ERROR_BODY


@pytest.mark.parametrize("depth", [33, 500, 990])
def test_nested_error_body_still_pickles(depth: int) -> None:
    """A 400 body nested a few hundred levels parses as JSON but broke pickle (RecursionError);
    a body nested past 32 levels is kept as its text."""
    content = "[" * depth + "]" * depth
    err = build_error(response(400, text=content), retry_after=None)
    assert err.body == content
    assert_same_error(pickle.loads(pickle.dumps(err)), err)


def test_shallow_error_body_stays_parsed() -> None:
    """A body nested 32 levels (far past 8x8's 1) is still kept parsed."""
    body: object = {}
    for _ in range(31):
        body = [body]
    err = build_error(response(400, body), retry_after=None)
    assert err.body == body


def test_unread_error_body_counts_as_empty() -> None:
    """A response whose body was never read (a stream cut off) still gives its typed error."""
    resp = httpx.Response(
        503,
        stream=httpx.ByteStream(b"never read"),
        request=httpx.Request("GET", "https://sms.8x8.com/x"),
    )
    err = build_error(resp, retry_after=None)
    assert str(err) == "8x8 failed to handle the request (HTTP 503): Service Unavailable."
    assert err.body is None
    assert err.response.content == b""


def test_raw_request_stored_later_is_redacted_on_pickling() -> None:
    """A request a caller or subclass puts on an error itself is still pickled redacted."""
    err = e.APIConnectionError("Reset.")
    err.request = secret_request()
    data = pickle.dumps(err)
    assert_no_secret(data)
    assert pickle.loads(data).request.url == err.request.url


def test_unpickled_status_error_shares_its_request() -> None:
    """After a round trip the error's request is still its response's request."""
    copy = pickle.loads(pickle.dumps(status_error(400)))
    assert copy.request is copy.response.request
