r"""The error tree of eightxeight-async.

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
they are built only from status codes, 8x8 codes, 8x8's own messages and ids. Text that comes from
the server is escaped (control, format and line-separator characters become ``\x..`` escapes) and
cut at 200 characters, so a hostile answer cannot forge log lines or repaint a terminal.

Errors never hold the secrets of the request that failed: ``.request`` is a copy with the method,
the URL and the headers less ``Authorization``, ``Proxy-Authorization`` and ``Cookie``, and no body;
``.response`` is a copy with the status, the headers less ``Set-Cookie`` and at most
:data:`MAX_ERROR_BODY` bytes of body (none at all for a 2xx answer, which echoes the phone number).
Every error pickles and unpickles (process pools, task queues), carrying only those copies.
"""

import contextlib
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

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

#: How many bytes of an error response's body an error keeps (8x8's error bodies are ~200 bytes).
MAX_ERROR_BODY = 4096
#: How many characters of one server-provided string go into an error message.
MAX_SERVER_TEXT = 200

# Headers that carry credentials: never kept on an error, live or pickled.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Headers that describe the original body, which the copy on an error no longer has.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# The copies made here, so that pickling passes them on as they are (and an error's request
# stays the same object as its response's request).
_REDACTED: weakref.WeakSet[httpx.Request | httpx.Response] = weakref.WeakSet()


def clean_server_text(value: str, limit: int = MAX_SERVER_TEXT) -> str:
    r"""Make a server-provided string safe to put in an error message.

    Every character ``str.isprintable()`` refuses becomes its ``\x..`` / ``\u....`` escape:
    controls (C0, DEL, C1; ESC starts ANSI sequences), format characters (bidi overrides,
    zero-width), lone surrogates, line and paragraph separators, unassigned code points. The
    result is cut at ``limit`` characters with an ellipsis.

    Args:
        value: The text as the server sent it.
        limit: The most characters to keep.

    Returns:
        One printable line.
    """
    if value.isprintable() and len(value) <= limit:
        return value
    out: list[str] = []
    size = 0
    for ch in value:
        piece = ch if ch.isprintable() else ascii(ch)[1:-1]
        if size + len(piece) > limit:
            return "".join(out) + "\u2026"
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _redacted_request(request: httpx.Request | None) -> httpx.Request | None:
    """A copy of ``request`` with its method, URL and non-secret headers, and no body."""
    if request is None:
        return None
    if request in _REDACTED:
        return request
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SECRET_HEADERS]
    copy = httpx.Request(request.method, request.url, headers=headers)
    _REDACTED.add(copy)
    return copy


def _redacted_response(response: httpx.Response, *, keep_body: bool) -> httpx.Response:
    """A copy of ``response``: status, reason, non-secret headers, a bounded body prefix or none."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in _SECRET_HEADERS and k.lower() not in _BODY_HEADERS
    ]
    content = _content_of(response)[:MAX_ERROR_BODY] if keep_body else b""
    extensions: dict[str, Any] = {
        key: response.extensions[key]
        for key in ("http_version", "reason_phrase")
        if key in response.extensions
    }
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        content=content,
        request=_redacted_request(_request_of(response)),
        extensions=extensions,
    )
    with contextlib.suppress(RuntimeError):  # raised when the response was never closed
        copy.elapsed = response.elapsed
    _REDACTED.add(copy)
    return copy


def _content_of(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:  # a body left unread (too large, or the stream failed)
        return b""


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # httpx raises it for a response built without a request
        return None


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
            if value in _REDACTED:
                continue
            if isinstance(value, httpx.Request):
                state[key] = _redacted_request(value)
            elif isinstance(value, httpx.Response):
                state[key] = _redacted_response(
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
    """

    request: httpx.Request | None

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = _redacted_request(request)


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
        redacted = _redacted_response(response, keep_body=True)
        super().__init__(message, request=None)
        # The copy's request is already redacted: share it rather than copy it twice.
        self.request = _request_of(redacted)
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
        response: A redacted copy of the HTTP response: status and headers, without the body
            (a 2xx body echoes the destination number), or ``None``.
        path: The JSON path of the offending value, in wire names (e.g. ``"$.status.code"``).
    """

    response: httpx.Response | None
    path: str

    def __init__(self, message: str, *, path: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.response = None if response is None else _redacted_response(response, keep_body=False)


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


def _error_code(raw: object) -> int | None:
    # 8x8's codes are small integers; anything else (a bool, "²", a 4000-digit number) is no code.
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9:
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**31:
        return raw
    return None


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


def make_status_error(
    response: httpx.Response,
    *,
    retry_after: float | None,
    parse_timestamp: Callable[[str], datetime],
    decode_json: Callable[[bytes], object],
) -> APIStatusError:
    """Build the typed error for an HTTP error response, parsing 8x8's error body when present.

    Server text that reaches the message (8x8's ``message``, ``errorId``, the reason phrase) is
    escaped and cut (see :func:`clean_server_text`); the attributes keep it as sent, bounded.

    Args:
        response: The error response; its body should already be read (an unread one counts
            as empty).
        retry_after: The parsed ``Retry-After`` in seconds (used for 429 only).
        parse_timestamp: The SDK's lenient datetime parser (passed in: this module imports
            nothing of ours).
        decode_json: The SDK's JSON decoder, which raises ``ValueError`` for anything that is
            not JSON, nesting too deep included (``_converters.decode_json``; passed in, since
            _converters imports this module).

    Returns:
        The error, ready to raise.
    """
    content = _content_of(response)
    body: object = None
    parsed: object = None
    if content:
        try:
            parsed = decode_json(content)
        except ValueError:
            parsed = None
            body = content[:MAX_ERROR_BODY].decode(response.encoding or "utf-8", "replace")
        else:
            body = (
                parsed
                if len(content) <= MAX_ERROR_BODY and _shallow(parsed)
                else content[:MAX_ERROR_BODY].decode("utf-8", "replace")
            )
    code: int | None = None
    message: str | None = None
    error_id: str | None = None
    timestamp: datetime | None = None
    if isinstance(parsed, dict):
        code = _error_code(parsed.get("code"))
        raw_message = parsed.get("message")
        message = raw_message if isinstance(raw_message, str) and raw_message.strip() else None
        raw_id = parsed.get("errorId")
        error_id = raw_id[:MAX_SERVER_TEXT] if isinstance(raw_id, str) and raw_id else None
        raw_ts = parsed.get("timestamp")
        if isinstance(raw_ts, str):
            try:
                timestamp = parse_timestamp(raw_ts)
            except (ValueError, OverflowError):
                timestamp = None
    status = response.status_code
    detail = f"HTTP {status}" if code is None else f"HTTP {status}, code {code}"
    text = f"8x8 rejected the request ({detail})"
    if status >= 500:
        text = f"8x8 failed to handle the request ({detail})"
    reason = message or response.reason_phrase or "no message"
    text += f": {clean_server_text(reason)}"
    if not text.endswith((".", "!", "?", ")")):
        text += "."
    if error_id:
        text += f" [errorId {clean_server_text(error_id)}]"
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
