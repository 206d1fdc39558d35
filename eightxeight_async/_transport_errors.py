"""What a transport failure means for the request that was being sent.

Whatever a transport raises (httpx's errors, httpcore's, aiohttp's own exceptions that escape
httpx-aiohttp, ``ssl.SSLError``, ``OSError``, a closed session's ``RuntimeError``) comes here and
leaves as one of our errors. The question that matters is whether the request may have reached the
server: a send that may have been accepted is never replayed blindly (8x8 has no idempotency key),
while one that provably never left is safe to retry.

Two failures are configuration errors that look like something else from the wire:

- ``http://`` to a server that speaks TLS: the plain request is answered with a TLS alert record
  (or nothing at all), which an HTTP parser reports as a garbled status line after the request
  went out. The server could not have understood a single byte, so a probe that completes a TLS
  handshake with it turns "outcome unknown" into "this port speaks TLS, use https://".
- ``https://`` to a plain-HTTP server: OpenSSL reads the server's ``HTTP/1.1 400`` as a record with
  a wrong version number. That is not "no TLS 1.3" but "no TLS at all on this port".

The errors made here state facts (``may_have_been_sent``, ``permanent``); whether to try again is
``_retry``'s decision alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Literal

import httpx

from ._errors import (
    APIConnectionError,
    APITimeoutError,
    SendIds,
    SendOutcomeUnknownError,
    TLSVersionError,
    clean_server_text,
)
from ._tls import probe_speaks_tls, probe_tls_version

__all__ = [
    "FailureKind",
    "StopReason",
    "classify_transport_error",
    "describe_origin",
    "exception_chain",
    "explain_failure",
    "map_stop",
    "map_transport_error",
    "may_be_tls_reply",
    "redact_chain",
    "refine_after_probe",
]

FailureKind = Literal[
    "tls_version",
    "tls_handshake_eof",
    "tls_certificate",
    "not_tls",
    "plain_to_tls",
    "proxy",
    "config",
    "before_send",
    "closed",
    "ambiguous",
]

#: Why the SDK itself stopped an attempt: its wait for a connection slot outlived ``timeout.pool``,
#: it outlived its deadline, the client was closed, or the transport cancelled it from inside.
StopReason = Literal["pool", "deadline", "closed", "aborted"]

# OpenSSL reasons for "the peer offers no TLS version we accept".
_TLS_VERSION_REASONS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    }
)
# OpenSSL reasons for "what came back is not a TLS record at all" (a plain-HTTP answer, mostly).
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE"})

# aiohttp exceptions raised before a single byte of the request was written.
_AIOHTTP_BEFORE_SEND = frozenset(
    {"ClientConnectorError", "ConnectionTimeoutError", "ClientConnectorDNSError"}
)


def describe_origin(url: httpx.URL) -> str:
    """``scheme://host:port`` of a URL, for messages: no path, query or credentials."""
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}"


def _text(err: BaseException) -> str:
    # str() of a third-party exception can itself fail (aiohttp's ClientResponseError without
    # request info does); classification must not.
    try:
        return str(err)
    except Exception:  # noqa: BLE001
        return ""


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def redact_chain(exc: BaseException, redacted: httpx.Request | None) -> None:
    """Take the request's secrets out of a transport failure before it becomes our ``__cause__``.

    httpx's errors hold the request that failed, ``Authorization`` header included, and
    aiohttp's ``ClientResponseError`` holds its headers in ``request_info``: both would be
    reachable from our error as ``err.__cause__...``. The first gets the redacted copy our error
    already holds; the second a copy of its headers without the secret ones.
    """
    for err in exception_chain(exc):
        if isinstance(err, httpx.RequestError) and redacted is not None:
            err.request = redacted
        info = getattr(err, "request_info", None)
        replace = getattr(info, "_replace", None)
        headers = getattr(info, "headers", None)
        if replace is not None and headers is not None:
            from multidict import CIMultiDict, CIMultiDictProxy  # an aiohttp dependency

            kept = CIMultiDict(
                (k, v) for k, v in headers.items() if k.lower() not in _SECRET_HEADERS
            )
            with contextlib.suppress(AttributeError, TypeError):
                err.request_info = replace(headers=CIMultiDictProxy(kept))  # type: ignore[attr-defined]


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, outermost first (at most 16, cycles cut)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _aiohttp_error(chain: list[BaseException]) -> BaseException | None:
    return next((err for err in chain if type(err).__module__.startswith("aiohttp")), None)


def _aiohttp_kind(err: BaseException, chain: list[BaseException], https: bool) -> FailureKind:
    # httpx-aiohttp maps every aiohttp.ClientConnectionError, a server disconnect after the
    # request went out included, to httpx.ConnectTimeout: the aiohttp cause tells the truth.
    names = {cls.__name__ for cls in type(err).__mro__}
    if "ClientConnectorCertificateError" in names:
        return "tls_certificate"
    if "InvalidURL" in names or "NonHttpUrlClientError" in names:
        return "config"
    if names & _AIOHTTP_BEFORE_SEND:
        # aiohttp reports a peer that hung up during the TLS handshake as a connector error
        # caused by a reset or an SSL EOF; only a probe can tell a TLS 1.2 server from the rest.
        causes = [*chain, getattr(err, "os_error", None)]
        if https and any(isinstance(e, (ssl.SSLError, ConnectionResetError)) for e in causes):
            return "tls_handshake_eof"
        return "before_send"
    if "Connector is closed" in _text(err):
        return "closed"
    return "ambiguous"


def _ssl_kind(chain: list[BaseException]) -> FailureKind | None:
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return "tls_certificate"
        if isinstance(err, ssl.SSLError):
            reason = getattr(err, "reason", None) or ""
            if reason in _NOT_TLS_REASONS:
                return "not_tls"
            if reason in _TLS_VERSION_REASONS or "protocol version" in _text(err).lower():
                return "tls_version"
    return None


def classify_transport_error(exc: BaseException, *, https: bool | None = None) -> FailureKind:
    """Tell what a transport failure means for the request that was being sent.

    Args:
        exc: Whatever the transport raised: an ``httpx.HTTPError``, an aiohttp or httpcore
            exception, an ``ssl.SSLError``, an ``OSError``...
        https: Whether the request used TLS; read from the httpx error when omitted.

    Returns:
        ``"tls_version"`` (no TLS 1.3 on the other side), ``"tls_handshake_eof"`` (the peer
        closed during the handshake: probe it), ``"tls_certificate"`` (verification failed),
        ``"not_tls"`` (https to a port that does not speak TLS), ``"config"`` (a URL or
        protocol that cannot work), ``"closed"`` (the pool was closed before the request was
        written), ``"before_send"`` (nothing reached the server) or ``"ambiguous"`` (the server
        may have received the request).
    """
    chain = exception_chain(exc)
    ssl_kind = _ssl_kind(chain)
    if ssl_kind is not None:
        return ssl_kind
    if https is None:
        https = True
        if isinstance(exc, httpx.RequestError):
            with contextlib.suppress(RuntimeError):  # raised when the error carries no request
                https = exc.request.url.scheme == "https"
    if isinstance(exc, httpx.ConnectError) and any(
        isinstance(err, ssl.SSLEOFError)
        or getattr(err, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"
        for err in chain
    ):
        # The peer hung up in the middle of the handshake. Servers built on Python's asyncio (and
        # some middleboxes) do that instead of sending a protocol_version alert.
        return "tls_handshake_eof"
    aiohttp_error = _aiohttp_error(chain)
    if aiohttp_error is not None:
        return _aiohttp_kind(aiohttp_error, chain, https)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        # The request could not be put on the wire as built (h11 refuses before writing).
        return "config"
    if isinstance(exc, httpx.ProxyError):
        # The proxy refused or failed the CONNECT: the request never reached the origin.
        return "proxy"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return "before_send"
    if isinstance(exc, RuntimeError) and "closed" in _text(exc).lower():
        # aiohttp's "Session is closed", httpx's "Cannot send a request, as the client has been
        # closed": raised before anything was written.
        return "closed"
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return "before_send"
    return "ambiguous"


def _is_timeout(exc: BaseException, chain: list[BaseException]) -> bool:
    aiohttp_error = _aiohttp_error(chain)
    if aiohttp_error is not None:
        return "Timeout" in type(aiohttp_error).__name__
    return isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError))


_OLD_TLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"})


# How a TLS server's answer to plain HTTP looks to an HTTP parser: a record starting with the
# alert (0x15) or handshake (0x16) content type and version 3.x, shown in the parser's message;
# or a hang-up before any answer.
_TLS_RECORD_MARKS = ("\\x15\\x03", "\\x16\\x03")
_HANG_UP_NAMES = frozenset({"ServerDisconnectedError", "RemoteProtocolError", "ReadError"})


def may_be_tls_reply(exc: BaseException) -> bool:
    """Whether a failed plain-HTTP exchange may have met a TLS server (worth a probe)."""
    for err in exception_chain(exc):
        text = _text(err)
        if any(mark in text for mark in _TLS_RECORD_MARKS):
            return True
        if type(err).__name__ in _HANG_UP_NAMES and "status line" not in text.lower():
            return True
    return False


def refine_after_probe(kind: FailureKind, version: str | None) -> FailureKind:
    """The kind of a ``tls_handshake_eof`` once the probe told which TLS version answered."""
    if kind != "tls_handshake_eof":
        return kind
    return "tls_version" if version in _OLD_TLS else "before_send"


#: How long the probe of a plain-HTTP port for TLS may take; http:// is only ever loopback.
_PROBE_SECONDS = 1.0


async def explain_failure(
    exc: BaseException,
    request: httpx.Request,
    *,
    connect_timeout: float | None,
    answered: bool,
    traced: bool,
    headers_started: bool,
    send: SendIds | None,
) -> APIConnectionError:
    """The SDK error for a transport failure, probing the server when only a handshake can tell.

    Args:
        exc: What the transport raised.
        request: The request.
        connect_timeout: ``timeout.connect``, which bounds the TLS version probe.
        answered: Whether the response's head had arrived.
        traced: Whether httpcore's trace ran for this request.
        headers_started: Whether the trace saw the request headers start out.
        send: The ids of a send (its outcome is then unknown once it may have gone out), or None.
    """
    https = request.url.scheme == "https"
    kind: FailureKind = classify_transport_error(exc, https=https)
    if kind == "tls_handshake_eof":
        version = await probe_tls_version(request.url, connect_timeout)
        kind = refine_after_probe(kind, version)
    elif (
        kind == "ambiguous"
        and not https
        and not answered
        and may_be_tls_reply(exc)
        and await probe_speaks_tls(request.url, _PROBE_SECONDS)
    ):
        # A plain-HTTP request to a TLS port: the server could not parse a byte of it.
        kind = "plain_to_tls"
    if kind == "ambiguous" and traced and not headers_started:
        # httpcore's trace ran for this request and its headers never started out: the
        # failure came while connecting (a proxy's CONNECT included), so nothing was sent.
        kind = "before_send"
    return map_transport_error(exc, request, send=send, kind=kind)


def map_transport_error(
    exc: BaseException,
    request: httpx.Request,
    *,
    send: SendIds | None,
    kind: FailureKind | None = None,
) -> APIConnectionError:
    """Return the SDK error for a transport failure (raise it ``from exc``).

    Every message names the origin (``scheme://host:port``), never the path or a credential.

    Args:
        exc: What the transport raised.
        request: The request.
        send: The ids of a send, whose ambiguous failure is ``SendOutcomeUnknownError``; None
            for any other request.
        kind: The failure's kind, when already known (after a probe).
    """
    kind = kind or classify_transport_error(exc)
    if kind == "tls_handshake_eof":
        kind = "before_send"
    name = type(exc).__name__
    origin = describe_origin(request.url)
    if kind == "tls_version":
        return TLSVersionError(
            f"The TLS handshake with {origin} failed because the server or a proxy on the way "
            "does not offer TLS 1.3, which this client requires; nothing was sent.",
            request=request,
        )
    if kind == "tls_certificate":
        return APIConnectionError(
            f"The TLS certificate of {origin} failed verification; check `verify` (a CA bundle "
            "path or SSLContext) and the base URL. Nothing was sent.",
            request=request,
            permanent=True,
        )
    if kind == "not_tls":
        return APIConnectionError(
            f"The server at {origin} does not speak TLS on this port (it answered like a "
            "plain-HTTP server); check the base URL's scheme and port. Nothing was sent.",
            request=request,
            permanent=True,
        )
    if kind == "plain_to_tls":
        return APIConnectionError(
            f"The server at {origin} speaks TLS: use https:// in the base URL. The plain-HTTP "
            "request could not be understood by it, so nothing was accepted.",
            request=request,
            permanent=True,
        )
    if kind == "proxy":
        return APIConnectionError(
            f"The proxy did not open a tunnel to {origin} ({name}: {_short(exc)}); check "
            "`proxy` or HTTPS_PROXY. Nothing was sent.",
            request=request,
        )
    if kind == "config":
        return APIConnectionError(
            f"The request to {origin} could not be made ({name}); check the base URL.",
            request=request,
            permanent=True,
        )
    if kind == "closed":
        return APIConnectionError(
            "The AsyncSmsClient was closed with aclose() before this request was sent; "
            "nothing was sent.",
            request=request,
            permanent=True,
        )
    is_timeout = _is_timeout(exc, exception_chain(exc))
    if kind == "before_send":
        if is_timeout:
            return APITimeoutError(
                f"Connecting to {origin} timed out ({name}); nothing was sent.", request=request
            )
        return APIConnectionError(
            f"Could not connect to {origin} ({name}); nothing was sent.", request=request
        )
    if send is not None:
        reason = "the request timed out" if is_timeout else f"the connection failed ({name})"
        return SendOutcomeUnknownError(
            client_message_id=send.client_message_id,
            client_batch_id=send.client_batch_id,
            reason=reason,
            request=request,
        )
    if is_timeout:
        return APITimeoutError(
            f"The request to {origin} timed out ({name}).",
            request=request,
            may_have_been_sent=True,
        )
    return APIConnectionError(
        f"The connection to {origin} failed after the request was sent ({name}).",
        request=request,
        may_have_been_sent=True,
    )


def _short(exc: BaseException) -> str:
    # A proxy's status line, e.g. "407 Proxy Authentication Required"; printable ASCII only, so
    # that a hostile proxy cannot forge log lines.
    text = "".join(ch if " " <= ch <= "~" else "?" for ch in _text(exc)[:80])
    # Masked like any server text: a proxy may echo a "Basic <token>" or a number.
    return clean_server_text(text, 80) if text else "no reason given"


def map_stop(
    reason: StopReason,
    request: httpx.Request,
    *,
    unsent: bool,
    send: SendIds | None,
    pool_seconds: float | None,
    deadline_seconds: float | None,
) -> APIConnectionError:
    """Return the SDK error for an attempt the SDK stopped (see :data:`StopReason`).

    Args:
        reason: Why it was stopped.
        request: The request.
        unsent: Whether it is certain that no byte of the request was written.
        send: The ids of a send, or None for any other request.
        pool_seconds: ``timeout.pool``, for the message.
        deadline_seconds: The attempt's deadline, for the message.
    """
    origin = describe_origin(request.url)
    if reason == "pool":
        return APITimeoutError(
            f"No connection to {origin} was free within {pool_seconds} s (timeout.pool); "
            "nothing was sent.",
            request=request,
        )
    if reason == "closed":
        what = "The AsyncSmsClient was closed with aclose()"
        cause = "the client was closed with aclose()"
    elif reason == "aborted":
        what = f"The request to {origin} was cancelled inside the transport (its pool closed?)"
        cause = "the transport cancelled the request"
    else:
        what = f"The request to {origin} could not be sent within {deadline_seconds} s"
        cause = f"the request timed out (no complete answer within {deadline_seconds} s)"
    if unsent:
        if reason == "deadline":
            return APITimeoutError(f"{what}; nothing was sent.", request=request)
        return APIConnectionError(
            f"{what} before this request was sent; nothing was sent.",
            request=request,
            permanent=reason == "closed",
        )
    if send is not None:
        # Not even replay_ambiguous_sends replays into a closed client.
        return SendOutcomeUnknownError(
            client_message_id=send.client_message_id,
            client_batch_id=send.client_batch_id,
            reason=cause,
            request=request,
            permanent=reason == "closed",
        )
    if reason == "deadline":
        return APITimeoutError(
            f"The request to {origin} timed out: no complete answer within {deadline_seconds} s.",
            request=request,
            may_have_been_sent=True,
        )
    return APIConnectionError(
        f"The request to {origin} was in flight when {cause}; it may have been received.",
        request=request,
        may_have_been_sent=True,
        permanent=reason == "closed",
    )
