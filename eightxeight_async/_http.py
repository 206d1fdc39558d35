"""The HTTP layer: the TLS 1.3 context, the connection pool, and one attempt of one request.

This is the only module that talks to httpx. It turns every failure of an attempt into one of our
errors (what a failure means is decided in ``_transport_errors``), and decides there whether the
request may have reached the server: that decision is what keeps a retried send from becoming a
duplicate SMS.

What ``timeout`` bounds, per attempt (``httpx.Timeout``: ``connect``, ``read``, ``write``,
``pool``):

- waiting for a connection slot: at most ``pool`` seconds, then ``APITimeoutError`` saying that
  nothing was sent (the request never left, so it may be retried);
- from the moment it has a slot, the whole exchange (connecting, TLS, sending, reading the whole
  answer): at most ``connect + read`` seconds, however the server trickles its bytes (none when
  ``read`` is None). With an injected ``http_client`` the slot is taken inside its transport, so
  there the whole attempt is bounded by ``pool + connect + read``;
- and, as httpx does, each single connect, write and read by its own value.

So with the default ``Timeout(15, connect=5, pool=10)`` a call makes its first attempt within
10 s of waiting for a connection plus 20 s on the wire; retries add their own attempts and waits.

A request that outlives its deadline ends as ``SendOutcomeUnknownError`` (a send) or
``APITimeoutError`` (anything else) once its bytes may have gone out, and as ``APITimeoutError``
"nothing was sent" when httpcore's trace shows the request headers were never written.

Answers are read as a stream, at most ``MAX_RESPONSE_BYTES`` read and at most as many inflated
(gzip and deflate are decoded here, a chunk at a time, never beyond the cap); error answers keep
at most ``MAX_ERROR_BODY_BYTES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import ssl
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, Union

import certifi
import httpx

from ._config import DEFAULT_LIMITS
from ._converters import decode_json, parse_datetime
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    EightXEightError,
    ValidationError,
    make_status_error,
)
from ._netbackend import install_closing_backend
from ._pool import install_linear_pool
from ._proxy import ProxyRouter, ProxyTypes, resolve_proxy
from ._reading import (
    MAX_ERROR_BODY_BYTES,
    MAX_RESPONSE_BYTES,
    BodyTooLarge,
    Undecodable,
    read_body,
    set_body,
)
from ._retry import parse_retry_after
from ._transport_errors import (
    FailureKind,
    StopReason,
    classify_transport_error,
    map_stop,
    map_transport_error,
    may_be_tls_reply,
    probe_speaks_tls,
    probe_tls_version,
    redact_chain,
    refine_after_probe,
    undecodable_body_error,
)
from ._version import __version__

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "HttpSender",
    "ProxyTypes",
    "TransportTypes",
    "VerifyTypes",
    "build_http_client",
    "build_ssl_context",
    "classify_transport_error",
    "map_transport_error",
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
    context: ssl.SSLContext | None = None
    if verify is True:
        context = ssl.create_default_context(cafile=certifi.where())
    elif isinstance(verify, (str, os.PathLike)):
        # The ValidationError is raised outside the except block: the OSError quotes the path,
        # and even `from None` would leave it reachable as __context__.
        with contextlib.suppress(OSError, ssl.SSLError):
            context = ssl.create_default_context(cafile=os.fspath(verify))
        if context is None:
            raise ValidationError("verify", "a readable PEM CA bundle")
    else:
        raise ValidationError("verify", "True, a CA bundle path or an SSLContext")
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def _direct_transport(
    transport: TransportTypes,
    ssl_context: ssl.SSLContext,
    limits: httpx.Limits,
    proxy: httpx.Proxy | None,
) -> httpx.AsyncBaseTransport:
    if transport == "httpx":
        pool_transport = None
        with contextlib.suppress(ImportError):  # socks5:// without httpx's [socks] extra
            pool_transport = httpx.AsyncHTTPTransport(
                verify=ssl_context, limits=limits, proxy=proxy
            )
        if pool_transport is None:
            raise ValidationError(
                "proxy", 'an http:// or https:// proxy (socks5:// needs "httpx[socks]")'
            )
        if proxy is None:
            install_linear_pool(pool_transport, ssl_context=ssl_context, limits=limits)
        install_closing_backend(pool_transport)
        return pool_transport
    if importlib.util.find_spec("httpx_aiohttp") is None:
        raise ValidationError(
            "transport",
            '"httpx", or "aiohttp" with its extra installed '
            '(pip install "eightxeight-async[aiohttp]")',
        )
    from ._aiohttp import SdkAiohttpTransport

    if proxy is not None and proxy.url.scheme not in ("http", "https"):
        raise ValidationError("proxy", 'an http:// or https:// proxy with transport="aiohttp"')
    return SdkAiohttpTransport(ssl_context=ssl_context, limits=limits, proxy=proxy)


def build_http_client(
    *,
    ssl_context: ssl.SSLContext,
    timeout: httpx.Timeout,
    transport: TransportTypes,
    limits: httpx.Limits = DEFAULT_LIMITS,
    proxy: ProxyTypes | None = None,
) -> httpx.AsyncClient:
    """Create the pool the client owns, on the chosen transport.

    Args:
        ssl_context: The TLS 1.3 context, used for 8x8 itself (inside a proxy's tunnel too).
        timeout: The default timeout of requests.
        transport: ``"httpx"`` or ``"aiohttp"``.
        limits: The pool's size and keep-alive.
        proxy: The proxy for ``https://`` requests; when None, ``HTTPS_PROXY`` / ``ALL_PROXY``
            and ``NO_PROXY`` are read, as httpx does. Loopback and ``http://`` requests never
            go through a proxy (see ``_proxy``).

    Raises:
        ValidationError: When ``transport`` is unknown, ``"aiohttp"`` without its extra, or the
            proxy URL unusable.
    """
    if transport not in ("httpx", "aiohttp"):
        raise ValidationError("transport", 'one of "httpx", "aiohttp"')
    resolved, no_proxy = resolve_proxy(proxy)
    direct = _direct_transport(transport, ssl_context, limits, None)
    if resolved is None:
        return httpx.AsyncClient(transport=direct, timeout=timeout, trust_env=False)
    proxied = _direct_transport(transport, ssl_context, limits, resolved)
    return httpx.AsyncClient(
        transport=ProxyRouter(proxied, direct, no_proxy), timeout=timeout, trust_env=False
    )


# --- one attempt -------------------------------------------------------------------------------

_HEADERS_STARTED = "http11.send_request_headers.started"


class _Attempt:
    """One attempt in flight: its task, its timer, and how far the request got.

    The timer cancels the task (as ``asyncio.timeout`` does, which Python 3.10 lacks); the
    CancelledError it causes is told from a caller's own cancellation by ``owns_cancel``.
    """

    __slots__ = (
        "_cancelling",
        "_handle",
        "answered",
        "headers_started",
        "slot",
        "stop",
        "task",
        "traced",
    )

    def __init__(self) -> None:
        # None when a caller drives the coroutine by hand, outside a task: no timer can stop it.
        self.task = asyncio.current_task()
        # Tasks count cancellation requests from Python 3.11. pytest-asyncio's backported Task on
        # 3.10 has the methods too, but anyio does not keep that count straight there.
        self._cancelling = 0
        if sys.version_info >= (3, 11) and self.task is not None:
            self._cancelling = self.task.cancelling()
        self._handle: asyncio.TimerHandle | None = None
        self.stop: StopReason | None = None
        self.slot = False
        self.headers_started = False
        self.traced = False
        self.answered = False

    async def trace(self, name: str, info: Mapping[str, Any]) -> None:
        """Note, from httpcore's trace, when the request's headers start going out."""
        self.traced = True
        if name == _HEADERS_STARTED and info["request"].method != b"CONNECT":
            self.headers_started = True

    def arm(self, delay: float, reason: StopReason) -> None:
        """Stop the attempt with ``reason`` after ``delay`` seconds."""
        if self.task is not None:
            self._handle = self.task.get_loop().call_later(delay, self.abort, reason)

    def disarm(self) -> None:
        """Cancel the timer, if any."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def abort(self, reason: StopReason) -> None:
        """Cancel the attempt's task, once, remembering why."""
        if self.stop is None and self.task is not None:
            self.stop = reason
            self.task.cancel()

    def foreign_cancel(self) -> bool:
        """Whether a CancelledError came from inside the transport, not from a cancel request."""
        if sys.version_info >= (3, 11) and self.task is not None:
            return self.stop is None and self.task.cancelling() <= self._cancelling
        return False  # Python 3.10 cannot tell: the CancelledError propagates as it is

    def owns_cancel(self) -> bool:
        """Whether the CancelledError being handled is this attempt's own stop, and only that."""
        if self.stop is None or self.task is None:
            return False
        if sys.version_info >= (3, 11):
            return self.task.uncancel() <= self._cancelling
        return True  # Python 3.10 cannot tell a concurrent caller's cancel apart


_URL_CACHE_SIZE = 256

#: How long the probe of a plain-HTTP port for TLS may take; http:// is only ever loopback.
_PROBE_SECONDS = 1.0


def _transport_of(client: httpx.AsyncClient) -> Any:
    transport = getattr(client, "_transport", None)
    return transport.proxied if isinstance(transport, ProxyRouter) else transport


def _uses_httpcore(client: httpx.AsyncClient) -> bool:
    """Whether the client's transport is httpcore's, whose trace tells when headers went out."""
    return isinstance(_transport_of(client), httpx.AsyncHTTPTransport)


def _aiohttp_slots(client: httpx.AsyncClient) -> int | None:
    """The pool size of the SDK's own aiohttp transport, else None."""
    transport = _transport_of(client)
    if type(transport).__name__ != "SdkAiohttpTransport":  # the extra may not be installed
        return None
    slots: int | None = transport.limits.max_connections
    return slots


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
        if not max_in_flight and owns_client:
            # aiohttp's pool is cheap to queue in, but a request queued there cannot be told
            # from one on the wire when the pool wait expires or the client closes; waiting
            # here makes "nothing was sent" certain.
            max_in_flight = _aiohttp_slots(client)
        self._gate = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._direct = owns_client
        self._traced = _uses_httpcore(client)
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
        self._in_flight: set[_Attempt] = set()
        self._closed = False
        self._idle: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<HttpSender client={self.client!r}>"

    # --- lifecycle -----------------------------------------------------------------------------

    def close_gate(self) -> None:
        """Refuse every request not yet holding a connection slot, now and from now on.

        Requests waiting at the gate are woken and raise ``APIConnectionError`` saying that the
        client was closed and nothing was sent; so do requests that arrive later. Requests
        already holding a slot are not touched (see :meth:`aclose`).
        """
        self._closed = True
        for attempt in list(self._in_flight):
            if not attempt.slot:
                attempt.abort("closed")

    async def aclose(self, *, close_client: bool) -> None:
        """Stop every attempt, wait for them to let go of their connections, close the pool.

        Each attempt in flight ends with our error: "closed, nothing was sent" when its request
        headers were never written, else ``SendOutcomeUnknownError`` for a send and
        ``APIConnectionError`` (may have been sent, not retried) for anything else. Calling it
        again only closes what is left.

        Args:
            close_client: Whether to close the ``httpx.AsyncClient`` too (not an injected one).
        """
        self.close_gate()
        for attempt in list(self._in_flight):
            attempt.abort("closed")
        if self._in_flight:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()
        if close_client:
            await self.client.aclose()

    # --- sending -------------------------------------------------------------------------------

    def _build(
        self,
        method: str,
        url: str,
        content: bytes | None,
        timeout: httpx.Timeout,
        attempt: _Attempt,
    ) -> httpx.Request:
        extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        if self._traced:
            extensions["trace"] = attempt.trace
        if not self._direct:
            return self.client.build_request(
                method,
                url,
                content=content,
                headers=self._json_headers if content is not None else self._headers,
                timeout=timeout,
                extensions=extensions,
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
            extensions=extensions,
        )

    def _deadline(self, timeout: httpx.Timeout) -> float | None:
        if timeout.read is None:
            return None
        seconds = (timeout.connect or 0.0) + timeout.read
        if self._gate is None and timeout.pool is not None:
            seconds += timeout.pool  # the slot is taken inside the transport, within this time
        return seconds

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
        """Make one attempt and return the 2xx response, its body read.

        Raises:
            APIStatusError: For any non-2xx status, with 8x8's error body parsed.
            APIConnectionError: For any transport failure (subclass tells which), a wait for a
                connection slot that outlived ``timeout.pool`` and an attempt that outlived its
                deadline included.
            ResponseValidationError: A 2xx answer that could not be read (corrupt compression,
                larger than ``MAX_RESPONSE_BYTES``).
        """
        state = _Attempt()
        try:
            request = self._build(method, url, content, timeout, state)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            # The base URL was validated in the constructor and every path segment is encoded,
            # so this is a bug of ours or a URL httpx changed its mind about; still, ours.
            raise APIConnectionError(
                f"The request URL for {endpoint} could not be built ({type(exc).__name__}); "
                "check the base URL. Nothing was sent.",
                retryable=False,
            ) from exc
        started = time.perf_counter()
        if self._closed:
            error: EightXEightError = self._stopped_error("closed", state, request, is_send, None)
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            raise error
        gate = self._gate
        self._in_flight.add(state)
        try:
            try:
                if gate is not None:
                    if gate.locked() and timeout.pool is not None:
                        state.arm(timeout.pool, "pool")
                    await gate.acquire()
                    state.slot = True
                    state.disarm()
                    if self._closed:  # closed while this request waited for its slot
                        raise self._stopped_error(
                            "closed", state, request, is_send, client_message_id
                        )
                else:
                    state.slot = True
                deadline = self._deadline(timeout)
                if deadline is not None:
                    state.arm(deadline, "deadline")
                response = await self._exchange(request, state)
            finally:
                state.disarm()
                if gate is not None and state.slot:
                    gate.release()
                self._in_flight.discard(state)
                if self._idle is not None and not self._in_flight:
                    self._idle.set()
        except asyncio.CancelledError as exc:
            own = state.owns_cancel()
            if own and state.stop is not None:
                reason: StopReason = state.stop
            elif state.foreign_cancel():
                # Nobody cancelled this task: a future inside the transport was cancelled
                # (aiohttp does that to requests waiting on a connector it closes).
                reason = "aborted"
            else:
                raise
            error = self._stopped_error(reason, state, request, is_send, client_message_id)
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            raise error from (None if own else exc)
        except EightXEightError as exc:  # already ours: the gate closed, an injected hook
            _log_attempt(method, endpoint, type(exc).__name__, attempt, started)
            raise
        except Exception as exc:  # every failure of a transport becomes ours
            error = await self._failure_error(
                exc, state, request, timeout, is_send=is_send, client_message_id=client_message_id
            )
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            redact_chain(exc, error.request if isinstance(error, APIError) else None)
            raise error from exc
        status = response.status_code
        _log_attempt(method, endpoint, status, attempt, started)
        if 200 <= status < 300:
            return response
        raise status_error(response)

    async def _exchange(self, request: httpx.Request, state: _Attempt) -> httpx.Response:
        response = await self.client.send(request, stream=True)
        state.answered = True
        try:
            if 200 <= response.status_code < 300:
                body = await read_body(response, MAX_RESPONSE_BYTES, truncate=False)
            else:
                body = await read_body(response, MAX_ERROR_BODY_BYTES, truncate=True)
        except (BodyTooLarge, Undecodable) as exc:
            set_body(response, b"")
            raise _BadAnswer(response, exc) from None
        finally:
            await response.aclose()
        set_body(response, body)
        return response

    def _stopped_error(
        self,
        reason: StopReason,
        state: _Attempt,
        request: httpx.Request,
        is_send: bool,
        client_message_id: str | None,
    ) -> APIError:
        # Nothing was sent when the request never got a slot, or httpcore's trace shows its
        # headers never started out; without a trace (aiohttp), only the slot is known.
        unsent = not state.slot or (self._traced and not state.headers_started)
        timeout = httpx.Timeout(**request.extensions["timeout"])
        return map_stop(
            reason,
            request,
            unsent=unsent,
            is_send=is_send,
            client_message_id=client_message_id,
            pool_seconds=timeout.pool,
            deadline_seconds=self._deadline(timeout),
        )

    async def _failure_error(
        self,
        exc: Exception,
        state: _Attempt,
        request: httpx.Request,
        timeout: httpx.Timeout,
        *,
        is_send: bool,
        client_message_id: str | None,
    ) -> EightXEightError:
        if isinstance(exc, _BadAnswer):
            return exc.error()
        https = request.url.scheme == "https"
        kind: FailureKind = classify_transport_error(exc, https=https)
        if kind == "tls_handshake_eof":
            version = await probe_tls_version(request.url, timeout.connect)
            kind = refine_after_probe(kind, version)
        elif (
            kind == "ambiguous"
            and not https
            and not state.answered
            and may_be_tls_reply(exc)
            and await probe_speaks_tls(request.url, _PROBE_SECONDS)
        ):
            # A plain-HTTP request to a TLS port: the server could not parse a byte of it.
            kind = "plain_to_tls"
        if kind == "ambiguous" and state.traced and not state.headers_started:
            # httpcore's trace ran for this request and its headers never started out: the
            # failure came while connecting (a proxy's CONNECT included), so nothing was sent.
            kind = "before_send"
        return map_transport_error(
            exc, request, is_send=is_send, client_message_id=client_message_id, kind=kind
        )


class _BadAnswer(Exception):
    """An answer that arrived but could not be read within the caps."""

    def __init__(self, response: httpx.Response, problem: Exception) -> None:
        super().__init__(type(problem).__name__)
        self.response = response
        self.problem = problem

    def error(self) -> EightXEightError:
        response = self.response
        status = response.status_code
        if isinstance(self.problem, BodyTooLarge):
            reason = f"it is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB"
        else:
            reason = str(self.problem)
        if 200 <= status < 300:
            return undecodable_body_error(response, reason, cause_name=type(self.problem).__name__)
        return status_error(response)


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


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error for an HTTP error answer whose body has been read (or cut)."""
    retry_after = (
        parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429
        else None
    )
    return make_status_error(
        response,
        retry_after=retry_after,
        parse_timestamp=parse_datetime,
        decode_json=decode_json,
    )
