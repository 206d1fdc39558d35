"""The HTTP layer: the TLS 1.3 context, the connection pool, and one attempt of one request.

This is the only module that talks to httpx. It turns every transport failure into one of our
errors, and decides there whether the request may have reached the server: that decision is
what keeps a retried send from becoming a duplicate SMS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import sys
import time
from typing import Any, Literal, Union

import certifi
import httpx

from ._config import DEFAULT_LIMITS
from ._converters import parse_datetime
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    SendOutcomeUnknownError,
    TLSVersionError,
    ValidationError,
    make_status_error,
)
from ._pool import install_linear_pool
from ._retry import parse_retry_after
from ._version import __version__

__all__ = [
    "USER_AGENT",
    "HttpSender",
    "TransportTypes",
    "VerifyTypes",
    "build_http_client",
    "build_ssl_context",
    "classify_transport_error",
]

logger = logging.getLogger("eightxeight_async")

VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]
TransportTypes = Literal["httpx", "aiohttp"]

USER_AGENT = (
    f"eightxeight-async/{__version__} python/{sys.version_info.major}.{sys.version_info.minor} "
    f"httpx/{httpx.__version__}"
)

_TLS13_OK = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.MAXIMUM_SUPPORTED)


def build_ssl_context(verify: VerifyTypes) -> ssl.SSLContext:
    """Build the client's one SSL context, refusing anything below TLS 1.3.

    Args:
        verify: ``True`` (the certifi CA bundle), a path to a CA bundle, or a context of the
            caller's, which is used as is and must already refuse versions below TLS 1.3.

    Returns:
        The SSL context.

    Raises:
        ValidationError: When ``verify`` is ``False``, a path that cannot be loaded, or a context
            that allows TLS 1.2 or lower.
    """
    if isinstance(verify, ssl.SSLContext):
        if verify.minimum_version not in _TLS13_OK:
            raise ValidationError(
                "verify",
                "an SSLContext whose minimum_version is ssl.TLSVersion.TLSv1_3 (it is not "
                "modified for you)",
            )
        return verify
    if verify is False:
        raise ValidationError(
            "verify", "True, a CA bundle path or an SSLContext (certificate checks stay on)"
        )
    if verify is True:
        context = ssl.create_default_context(cafile=certifi.where())
    elif isinstance(verify, (str, os.PathLike)):
        try:
            context = ssl.create_default_context(cafile=os.fspath(verify))
        except (OSError, ssl.SSLError):
            raise ValidationError("verify", "a readable PEM CA bundle") from None
    else:
        raise ValidationError("verify", "True, a CA bundle path or an SSLContext")
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def build_http_client(
    *,
    ssl_context: ssl.SSLContext,
    timeout: httpx.Timeout,
    transport: TransportTypes,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.AsyncClient:
    """Create the pool the client owns, on the chosen transport.

    Raises:
        ValidationError: When ``transport`` is unknown, or ``"aiohttp"`` without its extra.
    """
    if transport == "httpx":
        pool_transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
        install_linear_pool(pool_transport)
        return httpx.AsyncClient(transport=pool_transport, timeout=timeout)
    if transport == "aiohttp":
        try:
            from httpx_aiohttp import AiohttpTransport
        except ImportError:
            raise ValidationError(
                "transport",
                '"httpx", or "aiohttp" with its extra installed '
                '(pip install "eightxeight-async[aiohttp]")',
            ) from None
        return httpx.AsyncClient(
            transport=AiohttpTransport(verify=ssl_context, limits=limits),
            timeout=timeout,
        )
    raise ValidationError("transport", 'one of "httpx", "aiohttp"')


# --- classifying transport failures ------------------------------------------------------------

_TLS_VERSION_REASONS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "WRONG_VERSION_NUMBER",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    }
)

FailureKind = Literal[
    "tls_version", "tls_handshake_eof", "tls_certificate", "config", "before_send", "ambiguous"
]


def _chain(exc: BaseException) -> list[BaseException]:
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
    if "ClientConnectorError" in names:
        # aiohttp reports a peer that hung up during the TLS handshake as a connector error
        # caused by a reset or an SSL EOF; only a probe can tell a TLS 1.2 server from the rest.
        causes = [*chain, getattr(err, "os_error", None)]
        if https and any(isinstance(e, (ssl.SSLError, ConnectionResetError)) for e in causes):
            return "tls_handshake_eof"
        return "before_send"
    if "ConnectionTimeoutError" in names:
        return "before_send"
    return "ambiguous"


def _is_timeout(exc: httpx.TransportError, chain: list[BaseException]) -> bool:
    aiohttp_error = _aiohttp_error(chain)
    if aiohttp_error is not None:
        return "Timeout" in type(aiohttp_error).__name__
    return isinstance(exc, httpx.TimeoutException)


def classify_transport_error(exc: httpx.TransportError) -> FailureKind:
    """Tell what a transport failure means for the request that was being sent.

    Returns:
        ``"tls_version"`` (no TLS 1.3 on the other side), ``"tls_handshake_eof"`` (the peer
        closed during the handshake: probe it), ``"tls_certificate"`` (verification
        failed), ``"config"`` (a URL or protocol that cannot work), ``"before_send"`` (nothing
        reached the server) or ``"ambiguous"`` (the server may have received the request).
    """
    chain = _chain(exc)
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return "tls_certificate"
        if isinstance(err, ssl.SSLError):
            reason = getattr(err, "reason", None) or ""
            if reason in _TLS_VERSION_REASONS or "protocol version" in str(err).lower():
                return "tls_version"
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
        try:
            https = exc.request.url.scheme == "https"
        except RuntimeError:  # raised by httpx when the error carries no request
            https = True
        return _aiohttp_kind(aiohttp_error, chain, https)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "config"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return "before_send"
    return "ambiguous"


_OLD_TLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"})


async def probe_tls_version(url: httpx.URL, timeout: float | None) -> str | None:
    """Learn which TLS version a server speaks, by a handshake that sends no data.

    Only called after a handshake failed, to tell "no TLS 1.3 there" from any other hang-up.
    Certificates are not checked: nothing is sent over this connection, and it closes at once.

    Returns:
        The negotiated version (e.g. ``"TLSv1.2"``), or None when even this handshake failed.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host = url.host
    port = url.port or 443
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host),
            timeout or 5.0,
        )
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        return None
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else None
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return version if isinstance(version, str) else None


def map_transport_error(
    exc: httpx.TransportError,
    request: httpx.Request,
    *,
    is_send: bool,
    client_message_id: str | None,
    kind: FailureKind | None = None,
) -> APIConnectionError:
    """Return the SDK error for a transport failure (raise it ``from exc``)."""
    kind = kind or classify_transport_error(exc)
    if kind == "tls_handshake_eof":
        kind = "before_send"
    name = type(exc).__name__
    if kind == "tls_version":
        return TLSVersionError(request=request)
    if kind == "tls_certificate":
        return APIConnectionError(
            "The TLS certificate of the server failed verification; check `verify` (a CA bundle "
            "path or SSLContext) and the base URL.",
            request=request,
            retryable=False,
        )
    if kind == "config":
        return APIConnectionError(
            f"The request could not be made ({name}); check the base URL.",
            request=request,
            retryable=False,
        )
    is_timeout = _is_timeout(exc, _chain(exc))
    if kind == "before_send":
        if is_timeout:
            return APITimeoutError(
                f"Connecting to 8x8 timed out ({name}); nothing was sent.", request=request
            )
        return APIConnectionError(
            f"Could not connect to 8x8 ({name}); nothing was sent.", request=request
        )
    if is_send and client_message_id is not None:
        reason = "the request timed out" if is_timeout else f"the connection failed ({name})"
        return SendOutcomeUnknownError(
            client_message_id=client_message_id, reason=reason, request=request
        )
    if is_timeout:
        return APITimeoutError(
            f"The request to 8x8 timed out ({name}).", request=request, may_have_been_sent=True
        )
    return APIConnectionError(
        f"The connection to 8x8 failed after the request was sent ({name}).",
        request=request,
        may_have_been_sent=True,
    )


_URL_CACHE_SIZE = 256


class HttpSender:
    """Sends one attempt of one request over a shared ``httpx.AsyncClient``.

    Args:
        client: The pool.
        api_key: The bearer token.
        max_in_flight: Requests handed to the pool at once; None for no limit here.
        owns_client: Whether the client is the SDK's own. Its requests are then built directly,
            skipping ``AsyncClient.build_request``, which merges default headers, cookies and
            URL parts on every call: about 50 µs a request, a fifth of what the aiohttp
            transport costs in all. An injected client keeps ``build_request``, so its own
            defaults still apply.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        max_in_flight: int | None = None,
        *,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        # httpcore's pool scans every connection and every waiting request on each change, so
        # its CPU cost per request grows with both. Requests beyond the pool's size wait here,
        # in a plain semaphore, instead of in the pool's queue.
        self._gate = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._direct = owns_client
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # What AsyncClient would add itself, for the requests built directly.
        transport_headers = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
        self._direct_headers = httpx.Headers({**transport_headers, **self._headers})
        self._direct_json_headers = httpx.Headers({**transport_headers, **self._json_headers})
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:
        return f"<HttpSender client={self.client!r}>"

    def _build(
        self, method: str, url: str, content: bytes | None, timeout: httpx.Timeout
    ) -> httpx.Request:
        if not self._direct:
            return self.client.build_request(
                method,
                url,
                content=content,
                headers=self._json_headers if content is not None else self._headers,
                timeout=timeout,
            )
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            # Send URLs repeat (one per subaccount); message URLs do not, and stop at the cap.
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[url] = parsed
        return httpx.Request(
            method,
            parsed,
            content=content,
            headers=self._direct_json_headers if content is not None else self._direct_headers,
            extensions={"timeout": timeout.as_dict()},
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        timeout: httpx.Timeout,
        endpoint: str,
        attempt: int,
        is_send: bool,
        client_message_id: str | None = None,
    ) -> httpx.Response:
        """Make one attempt and return the 2xx response.

        Raises:
            APIStatusError: For any non-2xx status, with 8x8's error body parsed.
            APIConnectionError: For any transport failure (subclass tells which).
        """
        request = self._build(method, url, content, timeout)
        started = time.perf_counter()
        try:
            if self._gate is None:
                response = await self.client.send(request)
            else:
                async with self._gate:
                    response = await self.client.send(request)
        except httpx.TransportError as exc:
            kind = classify_transport_error(exc)
            if kind == "tls_handshake_eof":
                version = await probe_tls_version(request.url, timeout.connect)
                kind = "tls_version" if version in _OLD_TLS else "before_send"
            error = map_transport_error(
                exc, request, is_send=is_send, client_message_id=client_message_id, kind=kind
            )
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            raise error from exc
        _log_attempt(method, endpoint, response.status_code, attempt, started)
        if 200 <= response.status_code < 300:
            return response
        retry_after = (
            parse_retry_after(response.headers.get("Retry-After"))
            if response.status_code == 429
            else None
        )
        raise make_status_error(response, retry_after=retry_after, parse_timestamp=parse_datetime)


def _log_attempt(method: str, endpoint: str, outcome: Any, attempt: int, started: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            method,
            endpoint,
            outcome,
            attempt,
            (time.perf_counter() - started) * 1000,
        )
