r"""The error tree of eightxeight-async.

Every error the SDK raises derives from :class:`EightXEightError`::

    EightXEightError
    ├── ValidationError(EightXEightError, ValueError)  .field .rule; raised before any I/O
    ├── APIError                                         .request
    │   ├── APIConnectionError                           transport failed; __cause__: httpx error
    │   │   ├── APITimeoutError
    │   │   ├── TLSVersionError                          no TLS 1.3 on the way; never retried
    │   │   ├── SendOutcomeUnknownError                  a send may or may not have been accepted
    │   │   └── RateLimiterUnavailableError              Redis of RedisRateLimiter (raise mode) down
    │   └── APIStatusError                               .status_code .code .error_id .timestamp
    │       ├── BadRequestError (400)
    │       ├── AuthenticationError (401)
    │       ├── PermissionDeniedError (403)
    │       │   └── NotPrepaidError (403, code 1201)     the balance of a post-paid account
    │       ├── NotFoundError (404)
    │       ├── UpgradeRequiredError (426, code 1014)
    │       ├── RateLimitError (429)                     .retry_after
    │       └── InternalServerError (>= 500)
    ├── ResponseValidationError                          a 2xx body we could not parse
    │   └── WebhookFormatError                           a webhook body that is not 8x8's
    │       └── LegacyWebhookError                       a Wavecell-format webhook body
    ├── LogExportError                                   an export job ended without a file
    │   └── LogExportTimeoutError                        export_logs' max_wait ran out
    └── DeliveryTimeoutError (also TimeoutError)         tracker.wait's timeout; .umid .last_status

Messages are sentences. None of them carries the API key, the message text or a full phone number:
they are built only from status codes, 8x8 codes, 8x8's own messages and ids. Text that comes from
the server is escaped (control, format and line-separator characters become ``\x..`` escapes) and
cut at 200 characters, so a hostile answer cannot forge log lines or repaint a terminal.

Errors never hold the secrets of the request that failed: ``.request`` is a copy with the method,
the URL and the headers less ``Authorization``, ``Proxy-Authorization`` and ``Cookie``, and no body;
``.response`` is a copy with the status, the headers less ``Set-Cookie`` and at most
:data:`MAX_ERROR_BODY` bytes of body (none at all for a 2xx answer, which echoes the phone number).
Every error pickles and unpickles (process pools, task queues), carrying only those copies (made
in ``_redact``).

Errors state facts; they decide nothing. Two facts drive the retry rules (which ``_retry`` alone
applies): :attr:`APIError.may_have_been_sent` (whether 8x8 may have received the request) and
:attr:`APIConnectionError.permanent` (a failure that cannot pass by itself: a TLS or certificate
problem, a wrong URL, a closed client). :func:`error_from_response` is the one place an HTTP
error answer becomes an error.
"""

from datetime import datetime
from typing import Any, NamedTuple

import attrs
import httpx

# The limits and clean_server_text are part of what this module offers its importers.
from ._redact import MAX_ERROR_BODY as MAX_ERROR_BODY
from ._redact import MAX_SERVER_TEXT as MAX_SERVER_TEXT
from ._redact import clean_server_text as clean_server_text
from ._redact import (
    is_redacted,
    mask_numbers,
    redacted_request,
    redacted_response,
    request_of,
)

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
    "NotPrepaidError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "SendOutcomeUnknownError",
    "TLSVersionError",
    "UpgradeRequiredError",
    "ValidationError",
]


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Rebuild a pickled error without calling its keyword-only ``__init__``."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class EightXEightError(Exception):
    """The base of every error raised by eightxeight-async.

    Every error pickles: ``pickle.loads(pickle.dumps(err))`` gives the same type, message and
    attributes. A request or response it holds travels as its redacted copy (see the module's
    documentation): no API key, no request body.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        for key, value in state.items():
            # The SDK's errors hold redacted copies already; this catches a raw request or
            # response that a subclass or a caller stored after construction.
            if is_redacted(value):
                continue
            if isinstance(value, httpx.Request):
                state[key] = redacted_request(value)
            elif isinstance(value, httpx.Response):
                state[key] = redacted_response(
                    value, keep_body=not isinstance(self, ResponseValidationError)
                )
        return (_restore, (type(self), self.args, state))


class ValidationError(EightXEightError, ValueError):
    """An argument broke one of 8x8's documented rules; nothing was sent.

    The message names the argument and the rule, never the value (values are phone numbers,
    message text and keys), and the error chains no exception that could show it.

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


class APIError(EightXEightError):
    """A request to 8x8 failed.

    Attributes:
        request: A redacted copy of the request that failed (method, URL, headers without
            ``Authorization``; no body), or ``None`` when it was never built.
        may_have_been_sent: Whether 8x8 may have received the request: always true for an
            :class:`APIStatusError` (8x8 answered); for a connection error, true when the
            failure came after the request's bytes may have gone out (a read timeout, a
            disconnect), false when it provably never left (refused, connect timeout, no free
            connection, closed before sending). A fact, not a decision: the retry rules combine
            it with the kind of call (a read is repeated, a send is not).
    """

    request: httpx.Request | None
    may_have_been_sent: bool = False

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = redacted_request(request)


class APIConnectionError(APIError):
    """The connection to 8x8 failed; ``__cause__`` holds the transport error.

    Attributes:
        permanent: Whether the failure cannot pass by itself, so that trying again is pointless:
            a server without TLS 1.3, a certificate that failed verification, a port that does
            (or does not) speak TLS against the URL's scheme, a URL that cannot be built, or a
            client closed with ``aclose()``. False for failures that may pass (refused, reset,
            timed out).

    Args:
        message: The sentence.
        request: The request that failed (kept as a redacted copy).
        may_have_been_sent: See :attr:`APIError.may_have_been_sent`.
        permanent: See :attr:`permanent`.
        retryable: The older spelling of ``not permanent``; when given, it wins.
    """

    permanent: bool = False

    def __init__(
        self,
        message: str = "The connection to 8x8 failed.",
        *,
        request: httpx.Request | None = None,
        may_have_been_sent: bool = False,
        permanent: bool = False,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.may_have_been_sent = may_have_been_sent
        self.permanent = permanent if retryable is None else not retryable


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
        super().__init__(message, request=request, permanent=True)


class SendIds(NamedTuple):
    """What names a send, for :class:`SendOutcomeUnknownError`: its message or batch reference."""

    client_message_id: str | None = None
    """The ``clientMessageId`` of a single send."""
    client_batch_id: str | None = None
    """The ``clientBatchId`` of a batch send."""


class SendOutcomeUnknownError(APIConnectionError):
    """A send may or may not have been accepted: the connection failed after the body went out.

    It is not retried unless ``RetryPolicy(replay_ambiguous_sends=True)``, because 8x8 has no
    idempotency key and a replay can deliver the message twice. Look the message up by
    ``client_message_id`` (delivery receipts, log export) before sending it again; for a batch,
    by ``client_batch_id``. ``may_have_been_sent`` is always true; ``permanent`` is true when the
    client was closed (then not even ``replay_ambiguous_sends`` replays it).

    Attributes:
        client_message_id: The ``clientMessageId`` that was sent (generated when the caller gave
            none); ``None`` for a batch send.
        client_batch_id: The ``clientBatchId`` of a batch send (generated when the caller gave
            none); ``None`` for a single send.
    """

    client_message_id: str | None
    client_batch_id: str | None

    def __init__(
        self,
        *,
        client_message_id: str | None = None,
        client_batch_id: str | None = None,
        reason: str = "the connection failed",
        request: httpx.Request | None = None,
        permanent: bool = False,
    ) -> None:
        # The ids may hold a number ("{client_batch_id}/{destination}"): masked in the message,
        # kept whole on the attributes.
        if client_batch_id is not None and client_message_id is None:
            look_for = f"client_batch_id={_masked_id(client_batch_id)!r}"
        else:
            look_for = f"client_message_id={_masked_id(client_message_id)!r}"
        super().__init__(
            f"The send may or may not have been accepted by 8x8: {reason} after the request was "
            f"sent. Check for {look_for} before sending it again.",
            request=request,
            may_have_been_sent=True,
            permanent=permanent,
        )
        self.client_message_id = client_message_id
        self.client_batch_id = client_batch_id


class APIStatusError(APIError):
    """8x8 answered with an HTTP error status.

    Attributes:
        response: A redacted copy of the response: status, reason, headers (less ``Set-Cookie``)
            and the first :data:`MAX_ERROR_BODY` bytes of the body. Its ``.request`` is the
            redacted request.
        status_code: The HTTP status code.
        code: 8x8's error code from the body (e.g. ``1002``), or ``None`` when the body had none.
        error_id: 8x8's ``errorId``, to quote to 8x8 support (as sent, at most 200 characters).
        timestamp: When 8x8 says the error happened, or ``None``.
        body: The decoded JSON body when it was JSON of at most 4 KiB (:data:`MAX_ERROR_BODY`
            bytes) nested at most 32 levels; otherwise the first 4 KiB of the body as text;
            ``None`` when it was empty. Never the whole of a large body.
    """

    response: httpx.Response
    status_code: int
    code: int | None
    error_id: str | None
    timestamp: datetime | None
    body: object
    may_have_been_sent = True  # 8x8 answered, so it received the request

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
        redacted = redacted_response(response, keep_body=True)
        super().__init__(message, request=None)
        # The copy's request is already redacted: share it rather than copy it twice.
        self.request = request_of(redacted)
        self.response = redacted
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
    """HTTP 403: the account may not do this (code 1201 is :class:`NotPrepaidError`)."""


class NotPrepaidError(PermissionDeniedError):
    """HTTP 403, code 1201 "Account not in prepaid mode": a post-paid account has no balance.

    Raised by ``get_balance`` for a post-paid account.
    """


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
        response: A redacted copy of the HTTP response: status and headers, without the body
            (a 2xx body echoes the destination number), or ``None``.
        path: The JSON path of the offending value, in wire names (e.g. ``"$.status.code"``).
    """

    response: httpx.Response | None
    path: str

    def __init__(self, message: str, *, path: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.response = None if response is None else redacted_response(response, keep_body=False)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    426: UpgradeRequiredError,
    429: RateLimitError,
}
# 8x8 codes that name a more specific class than their status does.
_CODE_CLASSES: dict[tuple[int, int], type[APIStatusError]] = {
    (403, 1201): NotPrepaidError,
}


def error_class_for_status(status_code: int, code: int | None = None) -> type[APIStatusError]:
    """Return the error class for an HTTP error status (and 8x8 code, when it has one).

    Args:
        status_code: An HTTP status of 400 or above.
        code: 8x8's error code from the body, if any.

    Returns:
        The most specific :class:`APIStatusError` subclass.
    """
    if code is not None:
        special = _CODE_CLASSES.get((status_code, code))
        if special is not None:
            return special
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


@attrs.frozen(kw_only=True)
class ErrorBody:
    """8x8's error body (``{"code", "message", "errorId", "timestamp"}``), read leniently.

    ``_converters.parse_error_body`` is the only place that reads it from the wire: a field of
    the wrong type, or a body that is not 8x8's, leaves the field ``None`` rather than fail.

    Attributes:
        code: 8x8's error code (e.g. 1002), or ``None``.
        message: 8x8's message, or ``None`` when absent or blank.
        error_id: 8x8's ``errorId`` (at most 200 characters), or ``None``.
        timestamp: When 8x8 says the error happened, or ``None``.
        document: What :attr:`APIStatusError.body` shows: the decoded JSON when it was JSON of
            at most :data:`MAX_ERROR_BODY` bytes nested at most 32 levels, else the first
            :data:`MAX_ERROR_BODY` bytes as text.
    """

    code: int | None = None
    message: str | None = None
    error_id: str | None = None
    timestamp: datetime | None = None
    document: object = None


def _masked_id(value: str | None) -> str | None:
    return None if value is None else mask_numbers(value)


def _credentials_of(response: httpx.Response) -> tuple[str, ...]:
    # The request this answer is to still carries its Authorization header (the error keeps a
    # redacted copy): its token is the client's API key, without a layer passing the key down.
    request = request_of(response)
    if request is None:
        return ()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip(),) if scheme and token.strip() else ()


def error_from_response(
    response: httpx.Response, body: ErrorBody | None, *, retry_after: float | None
) -> APIStatusError:
    """Build the typed error for an HTTP error answer: the one place that does.

    The message is a sentence: status, 8x8 code, 8x8's message and errorId. Server text that
    reaches it (8x8's ``message``, ``errorId``, the reason phrase) is escaped and cut (see
    :func:`clean_server_text`); the attributes keep it as sent, bounded.

    Args:
        response: The error answer (its body read, or cut to a bounded prefix).
        body: 8x8's error body as ``_converters.parse_error_body`` read it; ``None`` when the
            answer had no body.
        retry_after: The ``Retry-After`` wait in seconds (kept on a 429 only).

    Returns:
        The error, ready to raise.
    """
    facts = body if body is not None else ErrorBody()
    status = response.status_code
    code = facts.code
    detail = f"HTTP {status}" if code is None else f"HTTP {status}, code {code}"
    text = f"8x8 rejected the request ({detail})"
    if status >= 500:
        text = f"8x8 failed to handle the request ({detail})"
    reason = facts.message or response.reason_phrase or "no message"
    # A server may echo the request's credentials: the API key is masked wherever it appears.
    text += f": {clean_server_text(reason, secrets=_credentials_of(response))}"
    if not text.endswith((".", "!", "?", ")")):
        text += "."
    if facts.error_id:
        # The id is for 8x8 support and must stay whole: escaped, not masked.
        text += f" [errorId {clean_server_text(facts.error_id, redact=False)}]"
    cls = error_class_for_status(status, code)
    fields: dict[str, Any] = {
        "response": response,
        "body": facts.document,
        "code": code,
        "error_id": facts.error_id,
        "timestamp": facts.timestamp,
    }
    if cls is RateLimitError:
        return RateLimitError(text, retry_after=retry_after, **fields)
    return cls(text, **fields)
