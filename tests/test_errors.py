"""The error tree, 8x8's error body on every status error, and messages that are sentences."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

import eightxeight_async as e
from eightxeight_async._converters import parse_datetime
from eightxeight_async._errors import error_class_for_status, make_status_error

from .conftest import openapi_examples, reference_examples


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
    err = make_status_error(response(status), retry_after=None, parse_timestamp=parse_datetime)
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
    err = make_status_error(response(400, body), retry_after=None, parse_timestamp=parse_datetime)
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
    err = make_status_error(response(400, body), retry_after=None, parse_timestamp=parse_datetime)
    assert str(err) == (
        "8x8 rejected the request (HTTP 400, code 1002): Invalid MSISDN format (not E.164 "
        "international number) [errorId b4478860-b76c-e811-814e-022a35cc1c71]"
    )
    assert err.timestamp == datetime(2018, 8, 4, 9, 25, 40, 923575, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("resp", "expected"),
    [
        pytest.param(response(500, text="<html>oops</html>"), "8x8 failed to handle", id="html"),
        pytest.param(response(502), "HTTP 502", id="empty"),
        pytest.param(response(400, ["not", "an", "object"]), "HTTP 400", id="list"),
        pytest.param(response(400, {"code": "x", "errorId": 5}), "HTTP 400", id="wrong-types"),
        pytest.param(response(400, {"code": 1000, "timestamp": "never"}), "code 1000", id="bad-ts"),
    ],
)
def test_surprising_error_bodies_never_crash(resp: httpx.Response, expected: str) -> None:
    """Unparseable or oddly typed error bodies still give a typed error with a sentence."""
    err = make_status_error(resp, retry_after=None, parse_timestamp=parse_datetime)
    assert expected in str(err)
    assert str(err).endswith(".") or "[errorId" in str(err)


def test_rate_limit_error_carries_retry_after() -> None:
    """RateLimitError.retry_after is the parsed header, as a float."""
    body = {
        "code": 429,
        "message": "Quota exceeded. Please try again in 1 second(s).",
        "errorId": "c8a41b47-57bf-ea11-8273-00155d466a31",
        "timestamp": "2020-07-06T07:07:00.30Z",
    }
    assert body in reference_examples()["get-message-details"]
    err = make_status_error(response(429, body), retry_after=1.0, parse_timestamp=parse_datetime)
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
    err = make_status_error(
        response(status, body), retry_after=None, parse_timestamp=parse_datetime
    )
    assert type(err) is error_class_for_status(status)
    assert err.code == code
    assert message.rstrip(".") in str(err)
    assert f"(HTTP {status}, code {code})" in str(err)
