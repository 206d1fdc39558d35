"""AsyncSmsClient: configuration, lifecycle, ``with_options``, and one short method per operation.

Each method is a typed signature, a docstring and one ``self._call(...)`` with the operation's
declaration from ``_operations``; everything else a request needs (retries, rate limits, the
wire) happens in ``_calls`` and below.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from types import TracebackType
from typing import Literal

import httpx

from ._calls import OTHER_LOOP, CallCore, CallSettings, State, to_timeout
from ._client_account import AccountMethods
from ._client_batches import BatchMethods
from ._client_bulk import BulkMethods
from ._client_exports import ExportMethods
from ._client_messages import MessageMethods
from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    ENV_ACCOUNT_ID,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_SUBACCOUNT_ID,
    RateLimits,
    Region,
    RetryPolicy,
    pool_limits,
)
from ._errors import ValidationError
from ._http import HttpSender
from ._ratelimit import InProcessRateLimiter, RateLimiter
from ._raw import with_raw
from ._telemetry import MeterProvider, TracerProvider, telemetry_for
from ._tls import ssl_context_for
from ._transport import build_http_client
from ._validators import check_account_id, check_api_key, check_base_url, check_subaccount_id

__all__ = ["AsyncSmsClient", "AsyncSmsClientWithRawResponse"]


def _check_retry(value: object) -> RetryPolicy:
    # Checked here, not when a retry first happens: by then the request has gone out.
    if not isinstance(value, RetryPolicy):
        raise ValidationError("retry", "a RetryPolicy (or None for the default)")
    return value


def _check_rate_limits(value: object) -> RateLimits:
    if not isinstance(value, RateLimits):
        raise ValidationError("rate_limits", "a RateLimits (or None for the default)")
    return value


class AsyncSmsClient(MessageMethods, BatchMethods, ExportMethods, AccountMethods, BulkMethods):
    """The asyncio client for the 8x8 SMS API.

    Create one per application and share it: it holds one connection pool, one TLS context and
    the rate-limit buckets. Use it as an async context manager, or call :meth:`aclose`. For other
    settings on some calls, derive a client with :meth:`with_options`; for the HTTP answer behind
    a call, use :attr:`with_raw_response`. The methods come in groups, one module each
    (``_client_messages``...); this class adds the configuration and the lifecycle.

    Example::

        async with AsyncSmsClient(api_key="...", subaccount_id="acme_hq") as client:
            sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        subaccount_id: str | None = None,
        account_id: str | None = None,
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
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """Configure the client; nothing is connected until the first request.

        Args:
            api_key: The 8x8 API key; else the ``EIGHTXEIGHT_API_KEY`` variable.
            subaccount_id: The default subaccount; else ``EIGHTXEIGHT_SUBACCOUNT_ID``. Every
                subaccount method can override it.
            account_id: The account of the account methods (prices, balance, webhooks), a GUID;
                else ``EIGHTXEIGHT_ACCOUNT_ID``. Every account method can override it.
            region: The region the account lives in (its host); ignored when a base URL is set.
            base_url: A host to use instead of the region's (the sandbox, a proxy); else
                ``EIGHTXEIGHT_BASE_URL``.
            timeout: Seconds, or an ``httpx.Timeout``; finite by default. Waiting for a
                connection is bounded by ``pool``; each attempt then ends within
                ``connect + read`` seconds, however slowly the server answers.
            retry: When and how to retry (see :class:`RetryPolicy`).
            rate_limits: The client-side limits per subaccount and account.
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
            tracer_provider: OpenTelemetry's ``TracerProvider`` for this client's spans; else
                the global one (``trace.set_tracer_provider``).
            meter_provider: The ``MeterProvider`` for its measurements; else the global one.

        Raises:
            ValidationError: When a setting breaks a rule (a missing API key included).
        """
        # A bad value from a variable is named by the variable: the caller passed no argument.
        if api_key is not None:
            api_key = check_api_key(api_key)
        else:
            env_key = os.environ.get(ENV_API_KEY)
            api_key = check_api_key(env_key, ENV_API_KEY if env_key else "api_key")
        if subaccount_id is not None:  # an explicit "" is refused, an empty variable is unset
            self._subaccount_id: str | None = check_subaccount_id(subaccount_id)
        else:
            sub = os.environ.get(ENV_SUBACCOUNT_ID)
            self._subaccount_id = check_subaccount_id(sub, ENV_SUBACCOUNT_ID) if sub else None
        # An explicit account id is checked now; one from the environment only when an account
        # operation needs it (OperationClient._account), so that a bad variable cannot break an
        # app that never calls one, and its error then names the variable.
        if account_id is not None:
            self._account_id: str | None = check_account_id(account_id)
            self._account_from_env = False
        else:
            self._account_id = os.environ.get(ENV_ACCOUNT_ID) or None
            self._account_from_env = self._account_id is not None
        # Looked up rather than Region(region) in a try block: the ValueError it raises would stay
        # on the ValidationError's __context__, echoing the value.
        chosen = next((r for r in Region if r.value == region), None)
        if chosen is None:
            raise ValidationError("region", "one of 'APAC', 'NA', 'EU', 'ID'")
        if base_url is not None:  # an explicit "" is refused, not taken as "the region's"
            url: str | None = check_base_url(base_url)
        else:
            env_url = os.environ.get(ENV_BASE_URL)
            url = check_base_url(env_url, ENV_BASE_URL) if env_url else None
        request_timeout = to_timeout(timeout)
        self._settings = CallSettings(
            base_url=url if url is not None else chosen.base_url,
            timeout=request_timeout,
            retry=_check_retry(retry) if retry is not None else RetryPolicy(),
            rate_limits=(
                _check_rate_limits(rate_limits) if rate_limits is not None else RateLimits()
            ),
        )
        if rate_limiter is not None and not isinstance(rate_limiter, RateLimiter):
            raise ValidationError(
                "rate_limiter", "an object implementing RateLimiter (acquire, pause, aclose)"
            )
        telemetry = telemetry_for(tracer_provider, meter_provider)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ValidationError("http_client", "an httpx.AsyncClient")
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
            owns_http = False
            client = http_client
        else:
            owns_http = True
            client = build_http_client(
                ssl_context=ssl_context_for(verify),
                timeout=request_timeout,
                transport=transport,
                limits=pool_limits(max_connections),
                proxy=proxy,
            )
        # Requests beyond the pool wait in the sender's gate, bounded by timeout.pool; for the
        # aiohttp transport the sender reads the pool size from the session itself.
        gated = owns_http and transport == "httpx"
        sender = HttpSender(
            client,
            api_key,
            max_in_flight=max_connections if gated else None,
            owns_client=owns_http,
        )
        self._core = CallCore(
            sender,
            rate_limiter if rate_limiter is not None else InProcessRateLimiter(),
            owns_http=owns_http,
            owns_limiter=rate_limiter is None,
            telemetry=telemetry,
        )
        self._parent = None
        self._view_closed = False

    def __repr__(self) -> str:
        return (
            f"<AsyncSmsClient base_url={self.base_url!r} subaccount_id={self._subaccount_id!r} "
            "api_key='***'>"
        )

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._settings.base_url

    @property
    def subaccount_id(self) -> str | None:
        """The default subaccount, or ``None`` when every call must name one."""
        return self._subaccount_id

    @property
    def account_id(self) -> str | None:
        """The default account of the account methods, or ``None`` when every call must name one.

        One read from ``EIGHTXEIGHT_ACCOUNT_ID`` is shown as it is; it is checked when an
        account method first needs it.
        """
        return self._account_id

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called (on this client, or on one it derives from)."""
        return self._closed_view() or self._core.is_closed

    @property
    def _sender(self) -> HttpSender:
        # The shared sender, for tests that look at the pool.
        return self._core.sender

    # --- derived clients and raw responses -----------------------------------------------------

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        subaccount_id: str | None = None,
        account_id: str | None = None,
        rate_limits: RateLimits | None = None,
    ) -> AsyncSmsClient:
        """Return a client with other settings that shares this one's pool, limiter and lifecycle.

        Deriving is cheap (no connection, no task): derive per call site if that reads better.
        The derived client sends over the same connections and draws from the same rate-limit
        buckets (a bucket is the subaccount's or account's, whichever client calls). Closing
        this client stops the derived clients' calls too. ``aclose()`` on a derived client (or
        leaving its ``async with``) only ends that client: its later calls raise
        ``RuntimeError``, while the pool, the limiter and the other clients carry on.

        Args:
            timeout: Replaces the timeout.
            retry: Replaces the retry policy.
            subaccount_id: Replaces the default subaccount.
            account_id: Replaces the default account.
            rate_limits: Replaces the limits. Buckets are shared: a subaccount called through
                clients with different limits gets whichever limits the latest call brought.

        Returns:
            The derived client; ``None`` arguments keep this client's setting.

        Raises:
            ValidationError: When a setting breaks a rule.
        """
        if self.is_closed:
            # A derived client shares the lifecycle: a closed one must not come back to life.
            msg = "Cannot call with_options: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        derived = object.__new__(type(self))
        derived._core = self._core
        derived._settings = CallSettings(
            base_url=self._settings.base_url,
            timeout=self._settings.timeout if timeout is None else to_timeout(timeout),
            retry=self._settings.retry if retry is None else _check_retry(retry),
            rate_limits=(
                self._settings.rate_limits
                if rate_limits is None
                else _check_rate_limits(rate_limits)
            ),
        )
        derived._subaccount_id = (
            self._subaccount_id if subaccount_id is None else check_subaccount_id(subaccount_id)
        )
        if account_id is None:
            derived._account_id = self._account_id
            derived._account_from_env = self._account_from_env
        else:
            derived._account_id = check_account_id(account_id)
            derived._account_from_env = False
        derived._parent = self
        derived._view_closed = False
        return derived

    @functools.cached_property
    def with_raw_response(self) -> AsyncSmsClientWithRawResponse:
        """The client's methods, each returning a :class:`RawResponse` of its result.

        Every method but :meth:`iter_log_records` (an async iterator over many answers, with no
        one HTTP answer to return), with the same arguments.

        A ``RawResponse`` has ``.parsed`` (what the method returns), ``.status_code``,
        ``.headers``, ``.request_id``, ``.http_response`` and ``.attempts``.

        Example::

            raw = await client.with_raw_response.get_message(umid)
            details, request_id = raw.parsed, raw.request_id
        """
        return AsyncSmsClientWithRawResponse(self)

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncSmsClient:
        core = self._core
        core.bind()
        if self.is_closed:
            msg = "Cannot reopen an AsyncSmsClient once it has been closed; create a new one."
            raise RuntimeError(msg)
        if self._parent is None:
            if core.state is State.OPENED:
                msg = "Cannot open an AsyncSmsClient more than once."
                raise RuntimeError(msg)
            core.state = State.OPENED
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

        On a client made by :meth:`with_options` it only ends that client (its later calls raise
        ``RuntimeError``); the pool and the other clients are untouched.

        Raises:
            RuntimeError: When called from an event loop other than the one the client was used
                in.
        """
        if self._parent is not None:
            core = self._core
            if core.loop is not None and core.loop is not asyncio.get_running_loop():
                raise RuntimeError(OTHER_LOOP)
            self._view_closed = True
            return
        await self._core.aclose()


class AsyncSmsClientWithRawResponse:
    """The client's methods, each returning a :class:`RawResponse` of its usual result.

    Reached as ``client.with_raw_response``. It has every method of the client but
    ``iter_log_records`` (an async iterator over many answers, with no one HTTP answer to
    return). Each takes the same arguments as the client's; ``.parsed`` holds what the client's
    method returns (for ``export_logs``, the answer is the last poll's).
    """

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client
        # One line per method of AsyncSmsClient (tests check that none is missing).
        self.send_sms = with_raw(client.send_sms)
        self.send_survey = with_raw(client.send_survey)
        self.get_message = with_raw(client.get_message)
        self.send_feedback = with_raw(client.send_feedback)
        self.send_batch = with_raw(client.send_batch)
        self.send_survey_batch = with_raw(client.send_survey_batch)
        self.cancel_message = with_raw(client.cancel_message)
        self.cancel_batch = with_raw(client.cancel_batch)
        self.delete_pii = with_raw(client.delete_pii)
        self.start_log_export = with_raw(client.start_log_export)
        self.get_log_export = with_raw(client.get_log_export)
        self.cancel_log_export = with_raw(client.cancel_log_export)
        self.export_logs = with_raw(client.export_logs)
        self.get_prices = with_raw(client.get_prices)
        self.get_balance = with_raw(client.get_balance)
        self.list_webhooks = with_raw(client.list_webhooks)
        self.set_webhook = with_raw(client.set_webhook)
        self.delete_webhooks = with_raw(client.delete_webhooks)
