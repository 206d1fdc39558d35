"""AsyncSmsClient: configuration, lifecycle, and the four endpoint methods."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import os
import ssl
import sys
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_CA_BUNDLE,
    ENV_SUBACCOUNT_ID,
    RateLimits,
    Region,
    RetryPolicy,
    pool_limits,
)
from ._converters import decode_json, encode_json, structure_response, unstructure_request
from ._errors import (
    APIConnectionError,
    RateLimitError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    ValidationError,
)
from ._http import HttpSender, build_http_client, build_ssl_context
from ._models import (
    Encoding,
    FeedbackRequest,
    MessageDetails,
    Outcome,
    SmsRequest,
    SmsResponse,
    SurveyRequest,
    Track,
)
from ._ratelimit import InProcessRateLimiter, RateLimiter
from ._retry import retry_call
from ._validators import check_api_key, check_base_url, check_path_id, check_subaccount_id

__all__ = ["AsyncSmsClient"]

_T = TypeVar("_T")

_SENDS = "sends"
_DETAILS = "details"

_OTHER_LOOP = (
    "This AsyncSmsClient was first used in another event loop (a second asyncio.run?). An "
    "AsyncSmsClient belongs to the event loop that first used it; create one per loop, e.g. in "
    "your app's lifespan."
)
_CLOSED_BEFORE_SEND = (
    "The AsyncSmsClient was closed with aclose() before this request was sent; nothing was sent."
)
_CLOSED_BEFORE_RETRY = (
    "The AsyncSmsClient was closed with aclose() before the request could be tried again; the "
    "retry was not sent (the failed attempt is the cause)."
)
_CLOSED_IN_FLIGHT = (
    "The AsyncSmsClient was closed with aclose() while the request was in flight; 8x8 may have "
    "received it."
)
#: How long aclose() waits for the calls it stopped to unwind before closing the pool anyway.
_ABORT_GRACE = 10.0

# Where a call is, for aclose(): waiting (limiter, backoff: nothing of this attempt was sent), or
# inside HttpSender.send (the request may be on the wire).
_WAITING = 0
_SENDING = 1


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


def _timeout(value: object, field: str = "timeout") -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return httpx.Timeout(float(value))
    raise ValidationError(field, "a finite number of seconds greater than 0, or an httpx.Timeout")


class AsyncSmsClient:
    """The asyncio client for the 8x8 SMS API.

    Create one per application and share it: it holds one connection pool, one TLS context and
    the rate-limit buckets. Use it as an async context manager, or call :meth:`aclose`.

    Example::

        async with AsyncSmsClient(api_key="...", subaccount_id="acme_hq") as client:
            sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        subaccount_id: str | None = None,
        region: Region | str = Region.APAC,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        rate_limiter: RateLimiter | None = None,
        transport: Literal["httpx", "aiohttp"] = "httpx",
        verify: bool | str | os.PathLike[str] | ssl.SSLContext | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        proxy: str | httpx.Proxy | None = None,
    ) -> None:
        """Configure the client; nothing is connected until the first request.

        Args:
            api_key: The 8x8 API key; else the ``EIGHTXEIGHT_API_KEY`` variable.
            subaccount_id: The default subaccount; else ``EIGHTXEIGHT_SUBACCOUNT_ID``. Every
                method can override it.
            region: The region the account lives in (its host); ignored when a base URL is set.
            base_url: A host to use instead of the region's (the sandbox, a proxy); else
                ``EIGHTXEIGHT_BASE_URL``.
            timeout: Seconds, or an ``httpx.Timeout``; finite by default. Waiting for a
                connection is bounded by ``pool``; each attempt then ends within
                ``connect + read`` seconds, however slowly the server answers.
            retry: When and how to retry (see :class:`RetryPolicy`).
            rate_limits: The client-side limits per subaccount.
            rate_limiter: The limiter backend; an in-process one by default.
            transport: ``"httpx"`` (httpcore's pool) or ``"aiohttp"`` (extra ``[aiohttp]``).
            verify: ``True`` (certifi's CAs), a CA bundle path, or an ``ssl.SSLContext`` that
                refuses TLS < 1.3; else the path in ``EIGHTXEIGHT_CA_BUNDLE`` (the sandbox prints
                it), else ``True``.
            http_client: An ``httpx.AsyncClient`` to use as is (its own TLS settings apply); the
                client never closes it.
            max_connections: Connections in the pool, all kept alive; requests beyond it wait
                in the SDK rather than in httpcore's queue (ignored with ``http_client``).
            proxy: A proxy URL (``http://user:pass@proxy:3128``) or ``httpx.Proxy`` for
                requests to 8x8; else ``HTTPS_PROXY`` / ``ALL_PROXY``, with ``NO_PROXY``. HTTPS
                goes through it as a CONNECT tunnel: TLS 1.3 and the API key stay end to end.
                Loopback hosts (the sandbox) never use a proxy. Not with ``http_client``.

        Raises:
            ValidationError: When a setting breaks a rule (a missing API key included).
        """
        self._api_key = check_api_key(
            api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        )
        sub = subaccount_id if subaccount_id is not None else os.environ.get(ENV_SUBACCOUNT_ID)
        self._subaccount_id = check_subaccount_id(sub) if sub else None
        # Looked up rather than Region(region) in a try block: the ValueError it raises would stay
        # on the ValidationError's __context__, echoing the value.
        chosen = next((r for r in Region if r.value == region), None)
        if chosen is None:
            raise ValidationError("region", "one of 'APAC', 'NA', 'EU', 'ID'")
        self._region = chosen
        url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL)
        self._base_url = check_base_url(url) if url else self._region.base_url
        self._timeout = _timeout(timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        self._rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self._owns_limiter = rate_limiter is None
        self._limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else InProcessRateLimiter()
        )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValidationError("max_connections", "an integer of at least 1")
        if max_connections < 1:
            raise ValidationError("max_connections", "an integer of at least 1")
        if http_client is not None:
            if verify is not None and verify is not True:
                raise ValidationError("verify", "left out when http_client is given")
            if transport != "httpx":
                raise ValidationError("transport", 'left as "httpx" when http_client is given')
            if proxy is not None:
                raise ValidationError("proxy", "left as None when http_client is given")
            self._owns_http = False
            client = http_client
        else:
            self._owns_http = True
            client = build_http_client(
                ssl_context=_ssl_context(verify),
                timeout=self._timeout,
                transport=transport,
                limits=pool_limits(max_connections),
                proxy=proxy,
            )
        # Requests beyond the pool wait in the sender's gate, bounded by timeout.pool; for the
        # aiohttp transport the sender reads the pool size from the session itself.
        gated = self._owns_http and transport == "httpx"
        self._sender = HttpSender(
            client,
            self._api_key,
            max_in_flight=max_connections if gated else None,
            owns_client=self._owns_http,
        )
        self._state = _State.UNOPENED
        self._loop: asyncio.AbstractEventLoop | None = None
        # Every call in progress, by task, and where it is (_WAITING or _SENDING): aclose() stops
        # them. One dict write per call and two per attempt, no task of our own.
        self._calls: dict[asyncio.Task[Any], int] = {}
        # Calls aclose() cancelled, and where each was at that moment.
        self._stopped: dict[asyncio.Task[Any], int] = {}
        self._drained: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None

    def __repr__(self) -> str:
        return (
            f"<AsyncSmsClient base_url={self._base_url!r} subaccount_id={self._subaccount_id!r} "
            "api_key='***'>"
        )

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._base_url

    @property
    def subaccount_id(self) -> str | None:
        """The default subaccount, or ``None`` when every call must name one."""
        return self._subaccount_id

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._state is _State.CLOSED

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncSmsClient:
        self._bind()
        if self._state is _State.CLOSED:
            msg = "Cannot reopen an AsyncSmsClient once it has been closed; create a new one."
            raise RuntimeError(msg)
        if self._state is _State.OPENED:
            msg = "Cannot open an AsyncSmsClient more than once."
            raise RuntimeError(msg)
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every call in progress, then close the connection pool (unless it was passed in).

        No request starts once ``aclose()`` is called, retries included. Calls still waiting (for
        the rate limiter, a connection or a retry) end with ``APIConnectionError`` saying nothing
        was sent; requests already on the wire are abandoned and end with
        ``SendOutcomeUnknownError`` (sends) or ``APIConnectionError``. When ``aclose()`` returns,
        every connection of the client's own pool is closed. Calling it again does nothing.

        Raises:
            RuntimeError: When called from an event loop other than the one the client was used
                in.
        """
        if self._closed is not None:
            if self._loop is asyncio.get_running_loop():
                await self._closed.wait()  # a concurrent aclose() is still at work
            return
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            raise RuntimeError(_OTHER_LOOP)
        self._state = _State.CLOSED
        closed = self._closed = asyncio.Event()
        try:
            # Calls waiting for a token or a retry are stopped here; the sender ends the
            # attempts it holds with our errors (it knows whether their request had started to
            # go out), waits for them to let go of their connections, then closes its pool
            # when it is ours. Calls that left the sender for a backoff meanwhile are stopped
            # last.
            self._stop_calls(waiting_only=True)
            await self._sender.aclose(close_client=self._owns_http)
            await self._drain()
            if self._owns_limiter:
                await self._limiter.aclose()
        finally:
            closed.set()

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(_OTHER_LOOP)

    def _stop_calls(self, *, waiting_only: bool) -> None:
        current = asyncio.current_task()
        for task, where in self._calls.items():
            if task is current or task in self._stopped:
                continue
            if waiting_only and where != _WAITING:
                continue
            self._stopped[task] = where
            task.cancel()

    async def _drain(self) -> None:
        # No new call can start; stop whatever is left, and wait for it to unwind.
        self._stop_calls(waiting_only=False)
        if not self._calls.keys() - {asyncio.current_task()}:
            return
        drained = self._drained = asyncio.Event()
        # A call that will not unwind must not keep the pool open for ever.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drained.wait(), _ABORT_GRACE)

    # --- endpoints -----------------------------------------------------------------------------

    async def send_sms(
        self,
        *,
        destination: str,
        text: str,
        country: str | None = None,
        source: str | None = None,
        client_message_id: str | None = None,
        encoding: Encoding | str | None = None,
        scheduled: datetime | None = None,
        expiry: datetime | None = None,
        dlr_callback_url: str | None = None,
        client_ip: str | None = None,
        track: Track | str | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> SmsResponse:
        """Send one SMS.

        Args:
            destination: The phone number, international (``+`` optional) or national with
                ``country``.
            text: The message text.
            country: ISO 3166-1 alpha-2 code, to convert a national number.
            source: The sender id, at most 16 characters.
            client_message_id: Your reference (at most 350 characters); generated when omitted,
                so that an unknown outcome can always be looked up.
            encoding: ``AUTO`` (8x8's default), ``GSM7`` or ``UCS2``.
            scheduled: When to deliver; timezone-aware, at most 7 days ahead.
            expiry: When to give up if not yet sent; timezone-aware, in the future.
            dlr_callback_url: Where 8x8 posts the delivery receipt.
            client_ip: The end user's IP, for 8x8's per-IP limit.
            track: ``"Outcome"`` to track conversion (then call :meth:`send_feedback`).
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The accepted message; check ``rejected`` (8x8 can refuse in an HTTP 200).

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out.
            APIStatusError: 8x8 answered with an error (subclass by status).
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        request = SmsRequest(
            destination=destination,
            text=text,
            country=country,
            source=source,
            client_message_id=client_message_id or _new_client_message_id(),
            encoding=encoding,
            scheduled=scheduled,
            expiry=expiry,
            dlr_callback_url=dlr_callback_url,
            client_ip=client_ip,
            track=track,
        )
        sub = self._subaccount(subaccount_id)
        response = await self._call(
            "POST",
            f"/api/v1/subaccounts/{_segment(sub)}/messages",
            endpoint="send_sms",
            bucket=_SENDS,
            subaccount=sub,
            body=unstructure_request(request),
            is_send=True,
            client_message_id=request.client_message_id,
            timeout=timeout,
        )
        return _parse(response, SmsResponse)

    async def send_survey(
        self,
        survey_id: str,
        *,
        destination: str,
        country: str | None = None,
        template_body: str | None = None,
        template_variables: Mapping[str, str | int | float | bool] | None = None,
        source: str | None = None,
        client_message_id: str | None = None,
        encoding: Encoding | str | None = None,
        scheduled: datetime | None = None,
        expiry: datetime | None = None,
        dlr_callback_url: str | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> SmsResponse:
        """Send one SMS Engage survey invitation.

        Args:
            survey_id: The survey 8x8 created for you.
            destination: The phone number.
            country: ISO 3166-1 alpha-2 code (exactly 2 letters).
            template_body: The text, holding ``{{url:}}`` (the survey link); the survey's own
                template when omitted.
            template_variables: Values for the template's variables.
            source: The sender id, at most 16 characters.
            client_message_id: Your reference; generated when omitted.
            encoding: ``AUTO``, ``GSM7`` or ``UCS2``.
            scheduled: When to deliver; timezone-aware, at most 7 days ahead.
            expiry: When to give up; timezone-aware, in the future.
            dlr_callback_url: Where 8x8 posts the delivery receipt.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The accepted message; check ``rejected``.

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        check_path_id(survey_id, "survey_id")
        request = SurveyRequest(
            destination=destination,
            country=country,
            template_body=template_body,
            template_variables=template_variables,
            source=source,
            client_message_id=client_message_id or _new_client_message_id(),
            encoding=encoding,
            scheduled=scheduled,
            expiry=expiry,
            dlr_callback_url=dlr_callback_url,
        )
        sub = self._subaccount(subaccount_id)
        response = await self._call(
            "POST",
            f"/api/v1/subaccounts/{_segment(sub)}/surveys/{_segment(survey_id)}/messages",
            endpoint="send_survey",
            bucket=_SENDS,
            subaccount=sub,
            body=unstructure_request(request),
            is_send=True,
            client_message_id=request.client_message_id,
            timeout=timeout,
        )
        return _parse(response, SmsResponse)

    async def get_message(
        self,
        umid: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> MessageDetails:
        """Fetch the details and delivery status of one message.

        8x8 allows 1 request per second per subaccount here; the client waits its turn rather
        than collect 429s. Timeouts and disconnects are retried: reading is harmless.

        Args:
            umid: The message's id, from :meth:`send_sms`.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The message's details (``msisdn`` and ``body`` masked by 8x8).

        Raises:
            ValidationError: ``umid`` is empty; nothing was sent.
            NotFoundError: No such message for this subaccount (code 1300).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        check_path_id(umid, "umid")
        sub = self._subaccount(subaccount_id)
        response = await self._call(
            "GET",
            f"/api/v1/subaccounts/{_segment(sub)}/messages/{_segment(umid)}",
            endpoint="get_message",
            bucket=_DETAILS,
            subaccount=sub,
            body=None,
            idempotent=True,
            timeout=timeout,
        )
        return _parse(response, MessageDetails)

    async def send_feedback(
        self,
        umid: str,
        *,
        outcome: Outcome | str,
        timestamp: datetime | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Tell 8x8 whether a tracked message did its job (e.g. the OTP was entered).

        Call it within 15 minutes of the send, for messages sent with ``track="Outcome"``.

        Args:
            umid: The message's id, from :meth:`send_sms`.
            outcome: ``"success"`` or ``"failure"``.
            timestamp: When the action happened; timezone-aware.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
        """
        check_path_id(umid, "umid")
        request = FeedbackRequest(outcome=outcome, timestamp=timestamp)
        sub = self._subaccount(subaccount_id)
        await self._call(
            "POST",
            f"/api/v1/subaccounts/{_segment(sub)}/messages/{_segment(umid)}/feedback",
            endpoint="send_feedback",
            bucket=_SENDS,
            subaccount=sub,
            body=unstructure_request(request),
            timeout=timeout,
        )

    # --- plumbing ------------------------------------------------------------------------------

    def _subaccount(self, override: str | None) -> str:
        if override is not None:
            return check_subaccount_id(override)
        if self._subaccount_id is None:
            raise ValidationError(
                "subaccount_id",
                "given, as an argument, to the client, or in EIGHTXEIGHT_SUBACCOUNT_ID",
            )
        return self._subaccount_id

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        bucket: str,
        subaccount: str,
        body: dict[str, Any] | None,
        is_send: bool = False,
        idempotent: bool = False,
        client_message_id: str | None = None,
        timeout: float | httpx.Timeout | None,
    ) -> httpx.Response:
        if self._state is _State.CLOSED:
            msg = f"Cannot call {endpoint}: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        if asyncio.get_running_loop() is not self._loop:
            self._bind()
        request_timeout = self._timeout if timeout is None else _timeout(timeout)
        content = None if body is None else _encode(body)
        limits = self._rate_limits
        if bucket == _DETAILS:
            rate, burst = limits.details_per_second, limits.details_burst
        else:
            rate, burst = limits.send_per_second, limits.send_burst
        key = f"{subaccount}:{bucket}"
        url = self._base_url + path
        policy = self._retry
        attempts = 0
        last_error: BaseException | None = None
        calls = self._calls
        task = asyncio.current_task()

        async def attempt() -> httpx.Response:
            nonlocal attempts, last_error
            if self.is_closed:  # no retry starts once aclose() was called
                raise _closed_error(_WAITING, is_send, client_message_id, last_error)
            attempts += 1
            # One token per attempt: a retry is a request too, as far as 8x8 counts.
            await self._limiter.acquire(key, rate=rate, burst=burst)
            if self.is_closed:  # closed while this attempt waited for its token
                raise _closed_error(_WAITING, is_send, client_message_id, last_error)
            if task is not None:
                calls[task] = _SENDING
            try:
                return await self._sender.send(
                    method,
                    url,
                    content=content,
                    timeout=request_timeout,
                    endpoint=endpoint,
                    attempt=attempts,
                    is_send=is_send,
                    client_message_id=client_message_id,
                )
            except RateLimitError as exc:
                last_error = exc
                if task is not None:
                    calls[task] = _WAITING
                if exc.retry_after:
                    await self._limiter.pause(key, min(exc.retry_after, policy.max_retry_after))
                raise
            except Exception as exc:
                last_error = exc
                raise
            finally:
                if task is not None:
                    calls[task] = _WAITING

        if task is None:  # not in a task (a bare coroutine driven by hand): nothing to track
            return await retry_call(attempt, policy=policy, idempotent=idempotent)
        calls[task] = _WAITING
        try:
            return await retry_call(attempt, policy=policy, idempotent=idempotent)
        except asyncio.CancelledError:
            if task not in self._stopped:
                raise
            # Stopped by aclose(): unless the caller cancelled too, end with our error. Either
            # way our own cancellation is taken back, so the caller's count stays exact.
            if sys.version_info >= (3, 11) and task.uncancel() > 0:
                raise
            where = self._stopped[task]
            raise _closed_error(where, is_send, client_message_id, last_error) from last_error
        finally:
            del calls[task]
            if self._stopped:
                self._stopped.pop(task, None)
                if self._drained is not None and not calls:
                    self._drained.set()


def _closed_error(
    where: int, is_send: bool, client_message_id: str | None, last_error: BaseException | None
) -> APIConnectionError:
    """The error of a call that aclose() stopped; never retried."""
    error: APIConnectionError
    if where == _SENDING:
        if is_send and client_message_id is not None:
            error = SendOutcomeUnknownError(
                client_message_id=client_message_id, reason="the client was closed with aclose()"
            )
        else:
            error = APIConnectionError(_CLOSED_IN_FLIGHT, may_have_been_sent=True)
    elif isinstance(last_error, SendOutcomeUnknownError):
        # Waiting to replay an ambiguous send: the first try may still have been accepted.
        error = SendOutcomeUnknownError(
            client_message_id=last_error.client_message_id,
            reason="the connection failed, and the client was closed with aclose() before a retry,",
        )
    elif last_error is not None:
        error = APIConnectionError(_CLOSED_BEFORE_RETRY)
    else:
        error = APIConnectionError(_CLOSED_BEFORE_SEND)
    error._retryable = False  # the retry rules read it
    error.__cause__ = last_error  # the failure that led to the retry, if any
    return error


def _ssl_context(verify: bool | str | os.PathLike[str] | ssl.SSLContext | None) -> ssl.SSLContext:
    if verify is not None:
        return build_ssl_context(verify)
    path = os.environ.get(ENV_CA_BUNDLE)
    if not path:
        return build_ssl_context(True)
    try:
        return build_ssl_context(path)
    except ValidationError:
        raise ValidationError(
            "verify",
            f"a readable PEM CA bundle: {ENV_CA_BUNDLE}, used when verify is not given, names a "
            "file that is missing or unreadable",
        ) from None


def _encode(body: dict[str, Any]) -> bytes:
    try:
        return encode_json(body)
    except ValueError:
        # The validators refuse these values first, naming the argument; this is the backstop
        # that keeps a bare ValueError (and invalid JSON) from ever reaching the caller.
        field, rule = _unencodable(body)
        raise ValidationError(field, rule) from None


def _unencodable(body: Mapping[str, Any]) -> tuple[str, str]:
    for key, value in body.items():
        rule = _bad_json_value(value)
        if rule is not None:
            return _snake(key), rule
    return "request", "valid JSON (no NaN, infinity or lone surrogate)"


def _bad_json_value(value: object) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "valid Unicode text (no lone surrogates)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "finite numbers only (JSON has no NaN or Infinity)"
    if isinstance(value, Mapping):
        values: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        values = list(value)
    else:
        return None
    return next((rule for rule in map(_bad_json_value, values) if rule is not None), None)


def _snake(wire_name: str) -> str:
    # 8x8's camelCase field back to the argument name: templateVariables -> template_variables.
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in wire_name)


def _segment(value: str) -> str:
    # subAccountId may hold "&" and survey ids are free text: every path segment is encoded.
    return quote(value, safe="")


def _new_client_message_id() -> str:
    # 128 random bits from os.urandom, as uuid4 has, without building a UUID object.
    return os.urandom(16).hex()


def _parse(response: httpx.Response, cls: type[_T]) -> _T:
    try:
        data = decode_json(response.content)
    except ValueError:
        msg = f"8x8 returned a {cls.__name__} body that is not JSON (HTTP {response.status_code})."
        raise ResponseValidationError(msg, path="$", response=response) from None
    return structure_response(data, cls, response=response)
