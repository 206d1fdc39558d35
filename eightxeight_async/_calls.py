"""The call machinery: one operation, from its declaration to its parsed answer, and the lifecycle.

:class:`CallCore` is what an ``AsyncSmsClient`` and every client derived from it with
``with_options()`` share: the sender (the pool), the rate limiter, the event loop they belong to,
the calls in progress, and whether ``aclose()`` was called. Its :meth:`~CallCore.call` runs one
operation (``_operations``): it checks and encodes the request, then, inside the retry loop of
``_retry``, takes a token from the operation's bucket (``_ratelimit``), makes one attempt
(``_http``) and turns an error answer into its error (``_errors.error_from_response``); at the
end it parses the answer (``_converters``) and records it for a raw-response wrapper (``_raw``).
Along the way it tells ``_telemetry`` what happened (spans and measurements, when the application
uses OpenTelemetry).
:class:`OperationClient` is the client's side of it: the scope's id, then one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import attrs
import httpx

from ._config import ENV_ACCOUNT_ID, RateLimits, RetryPolicy
from ._converters import encode_request, parse_error_body, parse_response
from ._errors import (
    APIConnectionError,
    APIStatusError,
    RateLimitError,
    SendIds,
    SendOutcomeUnknownError,
    ValidationError,
    error_from_response,
)
from ._http import HttpSender
from ._operations import Operation, Scope
from ._ratelimit import BucketPlan, RateLimiter, bucket_for, on_rate_limited
from ._raw import record_response
from ._retry import CallKind, parse_retry_after, retry_call
from ._telemetry import GLOBAL, CallRecord, Telemetry
from ._validators import check_account_id, check_subaccount_id

__all__ = [
    "CallCore",
    "CallSettings",
    "OperationClient",
    "closed_error",
    "status_error",
    "to_timeout",
]

_R = TypeVar("_R")

OTHER_LOOP = (
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
WAITING = 0
SENDING = 1


class State(enum.Enum):
    """Where the shared lifecycle is: never opened, opened with ``async with``, closed."""

    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


NO_LOOP = (
    "eightxeight-async runs on asyncio only, and no asyncio event loop is running here (trio?): "
    "call the client from a coroutine run by asyncio (asyncio.run, or anyio's asyncio backend)."
)


def running_loop() -> asyncio.AbstractEventLoop:
    """The running asyncio loop, or a ``RuntimeError`` that says the SDK needs one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(NO_LOOP) from None


def to_timeout(value: object, field: str = "timeout") -> httpx.Timeout:
    """A timeout argument as an ``httpx.Timeout``.

    Raises:
        ValidationError: When it is neither a finite number of seconds above 0 nor a Timeout.
    """
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


@attrs.frozen
class CallSettings:
    """The settings of one client (a derived client has its own): where and how calls go."""

    base_url: str
    timeout: httpx.Timeout
    retry: RetryPolicy
    rate_limits: RateLimits


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error of an error answer, 8x8's error body and ``Retry-After`` read."""
    retry_after = (
        parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429
        else None
    )
    return error_from_response(response, parse_error_body(response), retry_after=retry_after)


def _send_ids(body: object) -> SendIds:
    # A send is named by its request's own reference: clientMessageId, or clientBatchId for a
    # batch (whose messages then carry theirs).
    batch = getattr(body, "client_batch_id", None)
    message = None if batch is not None else getattr(body, "client_message_id", None)
    return SendIds(client_message_id=message, client_batch_id=batch)


def closed_error(
    where: int, send: SendIds | None, last_error: BaseException | None
) -> APIConnectionError:
    """The error of a call that aclose() stopped; permanent, so never retried."""
    error: APIConnectionError
    if where == SENDING:
        if send is not None:
            error = SendOutcomeUnknownError(
                client_message_id=send.client_message_id,
                client_batch_id=send.client_batch_id,
                reason="the client was closed with aclose()",
                permanent=True,
            )
        else:
            error = APIConnectionError(_CLOSED_IN_FLIGHT, may_have_been_sent=True, permanent=True)
    elif isinstance(last_error, SendOutcomeUnknownError):
        # Waiting to replay an ambiguous send: the first try may still have been accepted.
        error = SendOutcomeUnknownError(
            client_message_id=last_error.client_message_id,
            client_batch_id=last_error.client_batch_id,
            reason="the connection failed, and the client was closed with aclose() before a retry,",
            permanent=True,
        )
    elif last_error is not None:
        error = APIConnectionError(_CLOSED_BEFORE_RETRY, permanent=True)
    else:
        error = APIConnectionError(_CLOSED_BEFORE_SEND, permanent=True)
    error.__cause__ = last_error  # the failure that led to the retry, if any
    return error


class CallCore:
    """The pool, the limiter and the lifecycle that a client and its derived clients share.

    Args:
        sender: The sender over the pool.
        limiter: The rate limiter.
        owns_http: Whether the pool is the SDK's own (closed by :meth:`aclose`).
        owns_limiter: Whether the limiter is the SDK's own (closed by :meth:`aclose`).
        telemetry: Where spans and measurements go; None for OpenTelemetry's global providers.
    """

    def __init__(
        self,
        sender: HttpSender,
        limiter: RateLimiter,
        *,
        owns_http: bool,
        owns_limiter: bool,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.sender = sender
        self.limiter = limiter
        self.telemetry = GLOBAL if telemetry is None else telemetry
        self.owns_http = owns_http
        self.owns_limiter = owns_limiter
        self.state = State.UNOPENED
        self.loop: asyncio.AbstractEventLoop | None = None
        # Every call in progress, by task, and where it is (WAITING or SENDING): aclose() stops
        # them. One dict write per call and two per attempt, no task of our own.
        self.calls: dict[asyncio.Task[Any], int] = {}
        # Calls aclose() cancelled, and where each was at that moment.
        self.stopped: dict[asyncio.Task[Any], int] = {}
        self._drained: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self.state is State.CLOSED

    # --- lifecycle -----------------------------------------------------------------------------

    def bind(self) -> None:
        """Tie the client to the running event loop on first use; refuse any other loop."""
        loop = running_loop()
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise RuntimeError(OTHER_LOOP)

    async def aclose(self) -> None:
        """Stop every call in progress, then close the pool and limiter the SDK made."""
        if self._closed is not None:
            if self.loop is running_loop():
                await self._closed.wait()  # a concurrent aclose() is still at work
            return
        if self.loop is not None and self.loop is not running_loop():
            raise RuntimeError(OTHER_LOOP)
        self.state = State.CLOSED
        closed = self._closed = asyncio.Event()
        try:
            # Calls waiting for a token or a retry are stopped here; the sender ends the
            # attempts it holds with our errors (it knows whether their request had started to
            # go out), waits for them to let go of their connections, then closes its pool
            # when it is ours. Calls that left the sender for a backoff meanwhile are stopped
            # last.
            self._stop_calls(waiting_only=True)
            await self.sender.aclose(close_client=self.owns_http)
            await self._drain()
            if self.owns_limiter:
                await self.limiter.aclose()
        finally:
            closed.set()

    def _stop_calls(self, *, waiting_only: bool) -> None:
        current = asyncio.current_task()
        for task, where in self.calls.items():
            if task is current or task in self.stopped:
                continue
            if waiting_only and where != WAITING:
                continue
            self.stopped[task] = where
            task.cancel()

    async def _drain(self) -> None:
        # No new call can start; stop whatever is left, and wait for it to unwind.
        self._stop_calls(waiting_only=False)
        if not self.calls.keys() - {asyncio.current_task()}:
            return
        drained = self._drained = asyncio.Event()
        # A call that will not unwind must not keep the pool open for ever.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drained.wait(), _ABORT_GRACE)

    @contextlib.asynccontextmanager
    async def tracked(self, name: str) -> AsyncIterator[None]:
        """Run a block that uses the pool outside :meth:`call` (a download) as a call.

        No block starts once ``aclose()`` was called, and ``aclose()`` stops one in progress:
        it then ends with ``APIConnectionError`` (permanent; it may have been received). Client
        calls made inside the block, in the same task, are tracked on their own and leave the
        block tracked.

        Args:
            name: What the block is, for the messages (e.g. ``"iter_log_records"``).

        Raises:
            RuntimeError: The client was closed, or belongs to another event loop.
        """
        if self.state is State.CLOSED:
            msg = f"Cannot call {name}: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        if running_loop() is not self.loop:
            self.bind()
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing can stop it but its own end
            yield
            return
        outer = self.calls.get(task)
        self.calls[task] = WAITING
        try:
            yield
        except asyncio.CancelledError:
            if task not in self.stopped:
                raise
            if sys.version_info >= (3, 11) and task.uncancel() > 0:
                raise
            msg = (
                f"The AsyncSmsClient was closed with aclose() while {name} was in progress; "
                "it was stopped."
            )
            raise APIConnectionError(msg, may_have_been_sent=True, permanent=True) from None
        finally:
            self._untrack(task, outer)

    def _untrack(self, task: asyncio.Task[Any], outer: int | None) -> None:
        if outer is not None:
            # A call made inside a tracked block (same task) leaves the block's entry as it
            # was; a stop by aclose() stays noted until the block ends, so that the task is
            # not cancelled twice while it unwinds.
            self.calls[task] = outer
            return
        del self.calls[task]
        if self.stopped:
            self.stopped.pop(task, None)
            if self._drained is not None and not self.calls:
                self._drained.set()

    # --- one call ------------------------------------------------------------------------------

    async def call(
        self,
        op: Operation[Any],
        settings: CallSettings,
        *,
        owner: str,
        path: Mapping[str, object] | None,
        body: object,
        query: object,
        timeout: float | httpx.Timeout | None,
    ) -> Any:
        """Run one operation and return its parsed answer.

        Args:
            op: The operation's declaration.
            settings: The calling client's settings.
            owner: The subaccount or account id of the path (checked by the client).
            path: The path parameters' values.
            body: The request object (a sequence of them for an array body), or None.
            query: The query object (of the class the operation declares), or None.
            timeout: This call's timeout, else the client's.

        Raises:
            ValidationError: A path parameter, the body or the timeout breaks a rule; nothing
                was sent.
            RuntimeError: The client was closed, or belongs to another event loop.
            EightXEightError: What the last attempt raised (see the client's methods).
        """
        target = op.target(owner, path, query)
        if op.array_body != isinstance(body, (list, tuple)) and body is not None:
            msg = f"{op.name} sends {'an array' if op.array_body else 'an object'} as its body"
            raise TypeError(msg)  # a bug of ours: the method and its declaration disagree
        content = None if body is None else encode_request(body)
        request_timeout = settings.timeout if timeout is None else to_timeout(timeout)
        send = _send_ids(body) if op.kind is CallKind.SEND else None
        if self.state is State.CLOSED:
            msg = f"Cannot call {op.name}: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        if running_loop() is not self.loop:
            self.bind()
        plan = bucket_for(op.bucket, owner, settings.rate_limits)
        # After the checks: a call refused before any I/O makes no span and no measurement.
        record = self.telemetry.start(op, settings.base_url, owner, path)
        try:
            response, attempts = await self._attempts(
                op,
                settings.base_url + target,
                content,
                request_timeout,
                send,
                plan,
                settings.retry,
                record,
            )
            result = parse_response(response, op.response)
        except BaseException as exc:
            if record is not None:
                record.finish(exc)
            raise
        if record is not None:
            record.finish(None, result)
        record_response(response, attempts)
        return result

    async def _attempts(
        self,
        op: Operation[Any],
        url: str,
        content: bytes | None,
        timeout: httpx.Timeout,
        send: SendIds | None,
        plan: BucketPlan,
        policy: RetryPolicy,
        record: CallRecord | None,
    ) -> tuple[httpx.Response, int]:
        attempts = 0
        last_error: BaseException | None = None
        calls = self.calls
        task = asyncio.current_task()
        limiter = self.limiter
        clock = asyncio.get_running_loop().time

        async def attempt() -> httpx.Response:
            nonlocal attempts, last_error
            if self.is_closed:  # no retry starts once aclose() was called
                raise closed_error(WAITING, send, last_error)
            attempts += 1
            # One token per attempt: a retry is a request too, as far as 8x8 counts.
            asked = clock() if record is not None else 0.0
            await limiter.acquire(plan.key, rate=plan.rate, burst=plan.burst)
            if self.is_closed:  # closed while this attempt waited for its token
                raise closed_error(WAITING, send, last_error)
            if record is not None:
                record.begin_attempt(attempts, clock() - asked)
            if task is not None:
                calls[task] = SENDING
            try:
                response = await self.sender.send(
                    op.method,
                    url,
                    content=content,
                    timeout=timeout,
                    endpoint=op.name,
                    attempt=attempts,
                    send=send,
                )
            except BaseException as exc:
                if isinstance(exc, Exception):
                    last_error = exc
                if record is not None:
                    record.end_attempt(None, exc)
                raise
            finally:
                if task is not None:
                    calls[task] = WAITING
            status = response.status_code
            if 200 <= status < 300:
                if record is not None:
                    record.end_attempt(status, None)
                return response
            error = last_error = status_error(response)
            paused = 0.0
            try:
                if isinstance(error, RateLimitError):
                    paused = await on_rate_limited(limiter, plan, error, policy)
            finally:
                if record is not None:
                    record.end_attempt(status, error, pause=paused)
            raise error

        on_retry = None if record is None else record.retry
        if task is None:  # not in a task (a bare coroutine driven by hand): nothing to track
            response = await retry_call(attempt, policy=policy, kind=op.kind, on_retry=on_retry)
            return response, attempts
        outer = calls.get(task)  # set when the call runs inside a tracked() block
        calls[task] = WAITING
        try:
            response = await retry_call(attempt, policy=policy, kind=op.kind, on_retry=on_retry)
        except asyncio.CancelledError:
            if task not in self.stopped:
                raise
            # Stopped by aclose(): unless the caller cancelled too, end with our error. Either
            # way our own cancellation is taken back, so the caller's count stays exact.
            if sys.version_info >= (3, 11) and task.uncancel() > 0:
                raise
            where = self.stopped[task]
            raise closed_error(where, send, last_error) from last_error
        finally:
            self._untrack(task, outer)
        return response, attempts


class OperationClient:
    """The part of ``AsyncSmsClient`` its method groups build on: running one operation.

    ``AsyncSmsClient`` sets these attributes; the groups of methods (``_client_messages`` and
    the like) call :meth:`_call` and nothing else.
    """

    _core: CallCore
    _settings: CallSettings
    _subaccount_id: str | None
    _account_id: str | None
    _account_from_env: bool
    _view_closed: bool
    _parent: OperationClient | None

    def _closed_view(self) -> bool:
        # Closed on its own with aclose(), or derived from a client that was (with_options).
        client: OperationClient | None = self
        while client is not None:
            if client._view_closed:
                return True
            client = client._parent
        return False

    def _subaccount(self, override: str | None) -> str:
        if override is not None:
            return check_subaccount_id(override)
        if self._subaccount_id is None:
            raise ValidationError(
                "subaccount_id",
                "given, as an argument, to the client, or in EIGHTXEIGHT_SUBACCOUNT_ID",
            )
        return self._subaccount_id

    def _account(self, override: str | None) -> str:
        if override is not None:
            return check_account_id(override)
        if self._account_id is None:
            raise ValidationError(
                "account_id", "given, as an argument, to the client, or in EIGHTXEIGHT_ACCOUNT_ID"
            )
        if self._account_from_env:
            # Read from the environment and checked only now, when an operation needs it.
            return check_account_id(self._account_id, ENV_ACCOUNT_ID)
        return self._account_id

    async def _call(
        self,
        op: Operation[_R],
        *,
        path: Mapping[str, object] | None = None,
        body: object = None,
        query: object = None,
        subaccount_id: str | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> _R:
        """Run ``op``: the one line every method ends with.

        ``subaccount_id`` / ``account_id`` override the client's for the operation's scope (an
        account operation's ``subaccount_id`` is a query parameter, passed in ``query``).
        """
        if op.scope is Scope.SUBACCOUNT:
            owner = self._subaccount(subaccount_id)
        else:
            owner = self._account(account_id)
        if self._closed_view():
            msg = f"Cannot call {op.name}: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        result: _R = await self._core.call(
            op,
            self._settings,
            owner=owner,
            path=path,
            body=body,
            query=query,
            timeout=timeout,
        )
        return result
