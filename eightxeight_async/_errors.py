"""The error tree of eightxeight-async.

Every error the SDK raises derives from :class:`EightXEightError`::

    EightXEightError
    ├── ValidationError(EightXEightError, ValueError)  .field .rule; raised before any I/O
    ├── APIError                                         .request
    │   ├── APIConnectionError                           transport failed; __cause__: httpx error
    │   │   ├── APITimeoutError
    │   │   ├── TLSVersionError                          no TLS 1.3 on the way; never retried
    │   │   └── SendOutcomeUnknownError                  a send may or may not have been accepted
    │   └── APIStatusError                               .status_code .code .error_id .timestamp
    │       ├── BadRequestError (400)
    │       ├── AuthenticationError (401)
    │       ├── PermissionDeniedError (403)
    │       ├── NotFoundError (404)
    │       ├── UpgradeRequiredError (426, code 1014)
    │       ├── RateLimitError (429)                     .retry_after
    │       └── InternalServerError (>= 500)
    └── ResponseValidationError                          a 2xx body we could not parse

Messages are sentences. None of them carries the API key, the message text or a full phone number:
they are built only from status codes, 8x8 codes, 8x8's own messages and ids.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "EightXEightError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "SendOutcomeUnknownError",
    "TLSVersionError",
    "UpgradeRequiredError",
    "ValidationError",
]


class EightXEightError(Exception):
    """The base of every error raised by eightxeight-async."""


class ValidationError(EightXEightError, ValueError):
    """An argument broke one of 8x8's documented rules; nothing was sent.

    Attributes:
        field: The Python argument name, e.g. ``"client_message_id"``.
        rule: A short phrase naming the rule, e.g. ``"at most 350 characters"``.
    """

    field: str
    rule: str

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"Invalid {field}: must be {rule}.")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.rule))


class APIError(EightXEightError):
    """A request to 8x8 failed.

    Attributes:
        request: The request that failed, or ``None`` when it was never built.
    """

    request: httpx.Request | None

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APIConnectionError(APIError):
    """The connection to 8x8 failed; ``__cause__`` holds the transport error."""

    # Read by the retry rules: whether the request may have reached the server, and whether the
    # failure can pass by itself (a refused certificate cannot).
    _may_have_been_sent: bool = False
    _retryable: bool = True

    def __init__(
        self,
        message: str = "The connection to 8x8 failed.",
        *,
        request: httpx.Request | None = None,
        may_have_been_sent: bool = False,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, request=request)
        self._may_have_been_sent = may_have_been_sent
        self._retryable = retryable


class APITimeoutError(APIConnectionError):
    """The request to 8x8 timed out."""

    def __init__(
        self,
        message: str = "The request to 8x8 timed out.",
        *,
        request: httpx.Request | None = None,
        may_have_been_sent: bool = False,
    ) -> None:
        super().__init__(message, request=request, may_have_been_sent=may_have_been_sent)


class TLSVersionError(APIConnectionError):
    """The server, or something on the path to it, cannot speak TLS 1.3. Never retried."""

    def __init__(
        self,
        message: str = (
            "The TLS handshake with 8x8 failed because the server or a proxy on the way does not "
            "offer TLS 1.3, which this client requires."
        ),
        *,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(message, request=request, retryable=False)


class SendOutcomeUnknownError(APIConnectionError):
    """A send may or may not have been accepted: the connection failed after the body went out.

    It is not retried unless ``RetryPolicy(replay_ambiguous_sends=True)``, because 8x8 has no
    idempotency key and a replay can deliver the message twice. Look the message up by
    ``client_message_id`` (delivery receipts, log export) before sending it again.

    Attributes:
        client_message_id: The ``clientMessageId`` that was sent (generated when the caller gave
            none).
    """

    client_message_id: str

    def __init__(
        self,
        *,
        client_message_id: str,
        reason: str = "the connection failed",
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(
            f"The send may or may not have been accepted by 8x8: {reason} after the request was "
            f"sent. Check for client_message_id={client_message_id!r} before sending it again.",
            request=request,
            may_have_been_sent=True,
        )
        self.client_message_id = client_message_id


class APIStatusError(APIError):
    """8x8 answered with an HTTP error status.

    Attributes:
        response: The HTTP response.
        status_code: The HTTP status code.
        code: 8x8's error code from the body (e.g. ``1002``), or ``None`` when the body had none.
        error_id: 8x8's ``errorId``, to quote to 8x8 support.
        timestamp: When 8x8 says the error happened, or ``None``.
        body: The decoded JSON body, or the raw text when it was not JSON.
    """

    response: httpx.Response
    status_code: int
    code: int | None
    error_id: str | None
    timestamp: datetime | None
    body: object

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object = None,
        code: int | None = None,
        error_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.body = body
        self.code = code
        self.error_id = error_id
        self.timestamp = timestamp


class BadRequestError(APIStatusError):
    """HTTP 400: 8x8 refused a parameter (codes 1000-1012 and others)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is wrong or missing, or it does not own the subaccount (1200, 1001)."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the account may not do this (e.g. code 1201, not in prepaid mode)."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such message or object (code 1300)."""


class UpgradeRequiredError(APIStatusError):
    """HTTP 426 (code 1014): 8x8 requires a newer TLS version. Never retried."""


class RateLimitError(APIStatusError):
    """HTTP 429: a rate limit was exceeded.

    Attributes:
        retry_after: The wait 8x8 asked for in seconds, or ``None`` when it sent no ``Retry-After``.
    """

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object = None,
        code: int | None = None,
        error_id: str | None = None,
        timestamp: datetime | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            response=response,
            body=body,
            code=code,
            error_id=error_id,
            timestamp=timestamp,
        )
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """HTTP 500 or above (8x8 code 2000 is its internal error)."""


class ResponseValidationError(EightXEightError):
    """8x8 answered with success, but the body is not what its documentation describes.

    Attributes:
        response: The HTTP response.
        path: The JSON path of the offending value, in wire names (e.g. ``"$.status.code"``).
    """

    response: httpx.Response | None
    path: str

    def __init__(self, message: str, *, path: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.response = response


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    426: UpgradeRequiredError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[APIStatusError]:
    """Return the error class for an HTTP error status.

    Args:
        status_code: An HTTP status of 400 or above.

    Returns:
        The most specific :class:`APIStatusError` subclass.
    """
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def make_status_error(
    response: httpx.Response,
    *,
    retry_after: float | None,
    parse_timestamp: Any,
) -> APIStatusError:
    """Build the typed error for an HTTP error response, parsing 8x8's error body when present.

    Args:
        response: The error response; its body must already be read.
        retry_after: The parsed ``Retry-After`` in seconds (used for 429 only).
        parse_timestamp: The SDK's lenient datetime parser (passed in: this module imports
            nothing of ours).

    Returns:
        The error, ready to raise.
    """
    body: object
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = response.text
    code: int | None = None
    message: str | None = None
    error_id: str | None = None
    timestamp: datetime | None = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        elif isinstance(raw_code, str) and raw_code.isdigit():
            code = int(raw_code)
        raw_message = body.get("message")
        message = raw_message if isinstance(raw_message, str) and raw_message else None
        raw_id = body.get("errorId")
        error_id = raw_id if isinstance(raw_id, str) and raw_id else None
        raw_ts = body.get("timestamp")
        if isinstance(raw_ts, str):
            try:
                timestamp = parse_timestamp(raw_ts)
            except ValueError:
                timestamp = None
    status = response.status_code
    detail = f"HTTP {status}" if code is None else f"HTTP {status}, code {code}"
    text = f"8x8 rejected the request ({detail})"
    if status >= 500:
        text = f"8x8 failed to handle the request ({detail})"
    text += f": {message}" if message else f": {response.reason_phrase or 'no message'}"
    if not text.endswith((".", "!", "?", ")")):
        text += "."
    if error_id:
        text += f" [errorId {error_id}]"
    cls = error_class_for_status(status)
    if cls is RateLimitError:
        return RateLimitError(
            text,
            response=response,
            body=body,
            code=code,
            error_id=error_id,
            timestamp=timestamp,
            retry_after=retry_after,
        )
    return cls(
        text,
        response=response,
        body=body,
        code=code,
        error_id=error_id,
        timestamp=timestamp,
    )
