"""The HTTP layer: one attempt of one request over the client's pool, and the facts of how it went.

:class:`HttpSender` sends a request and returns the answer, whatever its status (``_errors``
builds the error of an error answer, one level up). It turns every failure of an attempt into one
of our errors, stating whether the request may have reached the server (what a failure means is
decided in ``_transport_errors``): that fact is what keeps a retried send from becoming a
duplicate SMS. Whether to try again is not decided here. The pool itself is built in
``_transport``, the TLS context in ``_tls``.

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
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ._errors import (
    APIConnectionError,
    APIError,
    EightXEightError,
    ResponseValidationError,
    SendIds,
)
from ._reading import (
    MAX_ERROR_BODY_BYTES,
    MAX_RESPONSE_BYTES,
    BodyTooLarge,
    Undecodable,
    read_body,
    set_body,
)
from ._transport import TransportTypes, aiohttp_slots, uses_httpcore
from ._transport_errors import (
    StopReason,
    explain_failure,
    map_stop,
    redact_chain,
)
from ._version import __version__

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "HttpSender",
    "TransportTypes",
]

logger = logging.getLogger("eightxeight_async")

USER_AGENT = (
    f"eightxeight-async/{__version__} python/{sys.version_info.major}.{sys.version_info.minor} "
    f"httpx/{httpx.__version__}"
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
            max_in_flight = aiohttp_slots(client)
        self._gate = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._direct = owns_client
        self._traced = uses_httpcore(client)
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

    def auth_headers(self) -> dict[str, str]:
        """The headers every request of this sender carries, the bearer token included.

        ``Authorization``, ``User-Agent`` and ``Accept``: for a request made outside
        :meth:`send` (a download from 8x8's own origin). Never send them to another host.
        """
        return dict(self._headers)

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
        send: SendIds | None = None,
    ) -> httpx.Response:
        """Make one attempt and return the answer, whatever its status, its body read.

        Args:
            method: The HTTP method.
            url: The whole URL.
            content: The JSON body, or None.
            timeout: This attempt's timeout.
            endpoint: The operation's name, for the log.
            attempt: The attempt's number, for the log.
            send: The ids of a request that sends messages: a failure after its bytes may have
                gone out is then ``SendOutcomeUnknownError``. None for any other request.

        Returns:
            The response. An error answer keeps at most ``MAX_ERROR_BODY_BYTES`` of its body
            (none when it could not be decoded).

        Raises:
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
                permanent=True,
            ) from exc
        started = time.perf_counter()
        if self._closed:
            error: EightXEightError = self._stopped_error("closed", state, request, send)
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
                        raise self._stopped_error("closed", state, request, send)
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
            error = self._stopped_error(reason, state, request, send)
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            raise error from (None if own else exc)
        except EightXEightError as exc:  # already ours: the gate closed, an unreadable answer
            _log_attempt(method, endpoint, type(exc).__name__, attempt, started)
            raise
        except Exception as exc:  # every failure of a transport becomes ours
            error = await explain_failure(
                exc,
                request,
                connect_timeout=timeout.connect,
                answered=state.answered,
                traced=state.traced,
                headers_started=state.headers_started,
                send=send,
            )
            _log_attempt(method, endpoint, type(error).__name__, attempt, started)
            redact_chain(exc, error.request)
            raise error from exc
        _log_attempt(method, endpoint, response.status_code, attempt, started)
        return response

    async def _exchange(self, request: httpx.Request, state: _Attempt) -> httpx.Response:
        response = await self.client.send(request, stream=True)
        state.answered = True
        ok = 200 <= response.status_code < 300
        try:
            if ok:
                body = await read_body(response, MAX_RESPONSE_BYTES, truncate=False)
            else:
                body = await read_body(response, MAX_ERROR_BODY_BYTES, truncate=True)
        except (BodyTooLarge, Undecodable) as exc:
            set_body(response, b"")
            if not ok:
                return response  # an error answer keeps its status; its body is unreadable
            if isinstance(exc, BodyTooLarge):
                reason = f"it is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB"
            else:
                reason = str(exc)
            # The request was accepted (the status says so); only its answer is unusable.
            raise ResponseValidationError(
                f"8x8 accepted the request (HTTP {response.status_code}) but its answer could "
                f"not be read: {reason} ({type(exc).__name__}).",
                path="$",
                response=response,
            ) from None
        finally:
            await response.aclose()
        set_body(response, body)
        return response

    def _stopped_error(
        self, reason: StopReason, state: _Attempt, request: httpx.Request, send: SendIds | None
    ) -> APIError:
        # Nothing was sent when the request never got a slot, or httpcore's trace shows its
        # headers never started out; without a trace (aiohttp), only the slot is known.
        unsent = not state.slot or (self._traced and not state.headers_started)
        timeout = httpx.Timeout(**request.extensions["timeout"])
        return map_stop(
            reason,
            request,
            unsent=unsent,
            send=send,
            pool_seconds=timeout.pool,
            deadline_seconds=self._deadline(timeout),
        )


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
