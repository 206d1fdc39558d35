"""AsyncSmsClient: configuration, lifecycle, and the four endpoint methods."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_SUBACCOUNT_ID,
    RateLimits,
    Region,
    RetryPolicy,
    pool_limits,
)
from ._converters import decode_json, encode_json, structure_response, unstructure_request
from ._errors import RateLimitError, ResponseValidationError, ValidationError
from ._http import (
    HttpSender,
    TransportTypes,
    VerifyTypes,
    build_http_client,
    build_ssl_context,
)
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

TimeoutTypes = float | httpx.Timeout

_SENDS = "sends"
_DETAILS = "details"


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


def _timeout(value: object, field: str = "timeout") -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return httpx.Timeout(float(value))
    raise ValidationError(field, "a number of seconds greater than 0, or an httpx.Timeout")


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
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        rate_limiter: RateLimiter | None = None,
        transport: TransportTypes = "httpx",
        verify: VerifyTypes = True,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        """Configure the client; nothing is connected until the first request.

        Args:
            api_key: The 8x8 API key; else the ``EIGHTXEIGHT_API_KEY`` variable.
            subaccount_id: The default subaccount; else ``EIGHTXEIGHT_SUBACCOUNT_ID``. Every
                method can override it.
            region: The region the account lives in (its host); ignored when a base URL is set.
            base_url: A host to use instead of the region's (the sandbox, a proxy); else
                ``EIGHTXEIGHT_BASE_URL``.
            timeout: Seconds, or an ``httpx.Timeout``; finite by default.
            retry: When and how to retry (see :class:`RetryPolicy`).
            rate_limits: The client-side limits per subaccount.
            rate_limiter: The limiter backend; an in-process one by default.
            transport: ``"httpx"`` (httpcore's pool) or ``"aiohttp"`` (extra ``[aiohttp]``).
            verify: ``True``, a CA bundle path, or an ``ssl.SSLContext`` that refuses TLS < 1.3.
            http_client: An ``httpx.AsyncClient`` to use as is (its own TLS settings apply); the
                client never closes it.
            max_connections: Connections in the pool, all kept alive; requests beyond it wait
                in the SDK rather than in httpcore's queue (ignored with ``http_client``).

        Raises:
            ValidationError: When a setting breaks a rule (a missing API key included).
        """
        self._api_key = check_api_key(
            api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        )
        sub = subaccount_id if subaccount_id is not None else os.environ.get(ENV_SUBACCOUNT_ID)
        self._subaccount_id = check_subaccount_id(sub) if sub else None
        try:
            self._region = Region(region)
        except ValueError:
            raise ValidationError("region", "one of 'APAC', 'NA', 'EU', 'ID'") from None
        url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL)
        self._base_url = check_base_url(url) if url else self._region.base_url
        self._timeout = _timeout(timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        self._rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self._owns_limiter = rate_limiter is None
        self._limiter: RateLimiter = rate_limiter or InProcessRateLimiter()
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValidationError("max_connections", "an integer of at least 1")
        if max_connections < 1:
            raise ValidationError("max_connections", "an integer of at least 1")
        if http_client is not None:
            if verify is not True:
                raise ValidationError("verify", "left as True when http_client is given")
            if transport != "httpx":
                raise ValidationError("transport", 'left as "httpx" when http_client is given')
            self._owns_http = False
            client = http_client
        else:
            self._owns_http = True
            client = build_http_client(
                ssl_context=build_ssl_context(verify),
                timeout=self._timeout,
                transport=transport,
                limits=pool_limits(max_connections),
            )
        # The aiohttp transport's own pool stays cheap under load; httpcore's needs the gate.
        gated = self._owns_http and transport == "httpx"
        self._sender = HttpSender(
            client,
            self._api_key,
            max_in_flight=max_connections if gated else None,
            owns_client=self._owns_http,
        )
        self._state = _State.UNOPENED

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
        """Close the connection pool (unless it was passed in). Calling it again does nothing."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._owns_http:
            await self._sender.client.aclose()
        if self._owns_limiter:
            await self._limiter.aclose()

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
        timeout: TimeoutTypes | None = None,
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
        timeout: TimeoutTypes | None = None,
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
        timeout: TimeoutTypes | None = None,
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
        timeout: TimeoutTypes | None = None,
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
        timeout: TimeoutTypes | None,
    ) -> httpx.Response:
        if self._state is _State.CLOSED:
            msg = f"Cannot call {endpoint}: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        request_timeout = self._timeout if timeout is None else _timeout(timeout)
        content = None if body is None else encode_json(body)
        limits = self._rate_limits
        if bucket == _DETAILS:
            rate, burst = limits.details_per_second, limits.details_burst
        else:
            rate, burst = limits.send_per_second, limits.send_burst
        key = f"{subaccount}:{bucket}"
        url = self._base_url + path
        policy = self._retry
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            # One token per attempt: a retry is a request too, as far as 8x8 counts.
            await self._limiter.acquire(key, rate=rate, burst=burst)
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
                if exc.retry_after:
                    await self._limiter.pause(key, min(exc.retry_after, policy.max_retry_after))
                raise

        return await retry_call(attempt, policy=policy, idempotent=idempotent)


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
