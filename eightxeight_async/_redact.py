"""Redacted copies of requests and responses, and server text made safe for a message.

What an error holds must never leak a secret, live or pickled: the copies made here keep the
method, URL, status and non-secret headers, and a bounded body prefix (none for a 2xx answer,
which echoes the phone number). Server text is escaped and cut before it reaches a message.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Iterable
from typing import Any

import httpx

__all__ = [
    "MAX_ERROR_BODY",
    "MAX_SERVER_TEXT",
    "clean_server_text",
    "is_redacted",
    "mask_numbers",
    "redact_link",
    "redacted_request",
    "redacted_response",
    "request_of",
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


# A phone-like run of digits: 7 or more (the shortest number 8x8 accepts), an optional "+",
# standing alone: a run inside a word (a random hex id such as "7bf30c1215366b7f") is no number,
# and masking it would spoil an id the user has to copy.
_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z_])\+?[0-9]{7,}(?![0-9A-Za-z_])")
# Credentials a server may echo: an HTTP auth scheme followed by its token.
_AUTH_RE = re.compile(r"\b(Bearer|Basic)(\s+)[^\s\"',;]+", re.IGNORECASE)


def mask_numbers(text: str) -> str:
    """Mask every phone-like run of digits (7 or more, optional ``+``) in ``text``.

    A run counts only when it stands alone: not inside a word or a hex id (``"7bf3012345678ad"``
    is left whole), so that ids a user must copy stay usable.

    Each keeps its first 3 and last 2 characters, as ``mask_phone`` does: ``"b1/+6591234567"``
    becomes ``"b1/+65*******67"``. For ids that may hold a number (a batch message's
    ``client_message_id`` is ``"{client_batch_id}/{destination}"``) wherever they are shown.
    """
    return _NUMBER_RE.sub(lambda m: m[0][:3] + "*" * (len(m[0]) - 5) + m[0][-2:], text)


def _mask_secrets(value: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            value = value.replace(secret, "***")
    value = _AUTH_RE.sub(lambda m: f"{m[1]}{m[2]}***", value)
    return mask_numbers(value)


def clean_server_text(
    value: str,
    limit: int = MAX_SERVER_TEXT,
    *,
    secrets: Iterable[str] = (),
    redact: bool = True,
) -> str:
    r"""Make a server-provided string safe to put in an error message.

    Secrets a server may echo are masked first (with ``redact``): each of ``secrets`` (the
    client's API key) wherever it appears, the token of ``Bearer <token>`` / ``Basic <token>``,
    and phone-like digit runs (:func:`mask_numbers`). Then every character
    ``str.isprintable()`` refuses becomes its ``\x..`` / ``\u....`` escape: controls (C0, DEL,
    C1; ESC starts ANSI sequences), format characters (bidi overrides, zero-width), lone
    surrogates, line and paragraph separators, unassigned code points. The result is cut at
    ``limit`` characters with an ellipsis.

    Args:
        value: The text as the server sent it.
        limit: The most characters to keep.
        secrets: Exact strings to mask (the API key).
        redact: Whether to mask secrets and numbers; off only for an id the user must copy
            (an ``errorId``, a job id), which is escaped all the same.

    Returns:
        One printable line.
    """
    if redact:
        value = _mask_secrets(value, secrets)
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


def redacted_request(request: httpx.Request | None) -> httpx.Request | None:
    """A copy of ``request`` with its method, URL and non-secret headers, and no body."""
    if request is None:
        return None
    if request in _REDACTED:
        return request
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SECRET_HEADERS]
    copy = httpx.Request(request.method, request.url, headers=headers)
    _REDACTED.add(copy)
    return copy


def redacted_response(response: httpx.Response, *, keep_body: bool) -> httpx.Response:
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
        request=redacted_request(request_of(response)),
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


def request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # httpx raises it for a response built without a request
        return None


def is_redacted(value: object) -> bool:
    """Whether ``value`` is one of the copies made here (pickling passes those on as they are)."""
    try:
        return value in _REDACTED
    except TypeError:  # not weak-referenceable, so not ours
        return False


def redact_link(link: str) -> str:
    """A download link fit for a repr or a message: its origin and path, the token hidden.

    8x8's log export links end in a secret token (``.../messages/download/<token>``) and a
    signed link may carry its signature in the query: the last path segment becomes ``***``
    and a query or fragment ``?***``. What cannot be parsed is hidden whole.
    """
    try:
        url = httpx.URL(link)
    except (httpx.InvalidURL, ValueError, TypeError):
        return "***"
    if not url.scheme or not url.host:
        return "***"
    path = url.path
    head, slash, last = path.rstrip("/").rpartition("/")
    shown = f"{head}/***" if slash and last else path
    port = f":{url.port}" if url.port else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    tail = "?***" if url.query or url.fragment else ""
    return f"{url.scheme}://{host}{port}{shown}{tail}"
