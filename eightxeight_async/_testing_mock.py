"""``SmsMock``: the sandbox's imitation of 8x8 served in-process, through an httpx transport.

There is one imitation of 8x8 in this package, the sandbox (``eightxeight_async.sandbox``); the
mock runs its ASGI app inside the test's own event loop, with no socket, no TLS and no server, and
adds what a test of the user's code needs: a record of every request, scripted failures per
operation, and delivery receipts handed to a tracker or handler instead of posted over HTTP. Its
clock stands still unless the test moves it (:meth:`SmsMock.advance`), so nothing depends on how
fast the test runs.

This module needs the ``sandbox`` extra (starlette); ``eightxeight_async.testing`` imports it
only when one of its names is used.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import parse_qsl

import attrs
import httpx

from . import _clock
from ._converters import decode_json, encode_json
from ._errors import APIConnectionError, ValidationError
from ._webhook_models import DeliveryReceipt, parse_event

_SANDBOX_EXTRA = frozenset({"starlette", "uvicorn", "trustme", "click", "rich"})

try:
    from .sandbox._account import ACCOUNT_RE
    from .sandbox._app import SandboxApp, route
    from .sandbox._faults import ENDPOINTS, MAX_RETRY_AFTER
    from .sandbox._rules import SUBACCOUNT_RE
    from .sandbox._rules import error as _error_response
    from .sandbox._scheduler import SandboxClock
    from .sandbox._server import MAX_LIFECYCLE, _check_balance, _check_seconds
    from .sandbox._state import SandboxState
except ImportError as exc:  # tests/test_testing_plugin.py runs this without starlette
    if (exc.name or "").split(".")[0] not in _SANDBOX_EXTRA:
        raise
    msg = (
        'pip install "eightxeight-async[sandbox]": eightxeight_async.testing\'s SmsMock runs '
        "the sandbox in-process, which needs the sandbox extra"
    )
    raise ImportError(msg, name=exc.name) from exc

if TYPE_CHECKING:
    from ._client import AsyncSmsClient

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BASE_URL",
    "DEFAULT_SUBACCOUNT",
    "FAULTS",
    "FaultKind",
    "RecordedRequest",
    "SmsMock",
]

#: The key the mock accepts unless told another (``SmsMock(api_key=...)``).
DEFAULT_API_KEY = "test-api-key"
#: The subaccount the mock's key owns unless told others.
DEFAULT_SUBACCOUNT = "test_subaccount"
#: Where :meth:`SmsMock.client` points its client: a reserved name (RFC 2606) that never
#: resolves, so a request that escaped the mock would fail rather than reach anyone.
DEFAULT_BASE_URL = "https://sms.8x8.test"

FaultKind = Literal["rate_limit", "server_error", "timeout", "drop_before_send", "drop_after_send"]
"""A failure :meth:`SmsMock.fail` can script.

- ``rate_limit``: HTTP 429 with ``Retry-After`` and 8x8's quota body; 8x8 did nothing.
- ``server_error``: HTTP 500 with 8x8's code 2000 body; 8x8 did nothing.
- ``timeout``: 8x8 acted on the request, but no answer came in time (``httpx.ReadTimeout``).
- ``drop_before_send``: the connection failed before the request left (``httpx.ConnectError``);
  8x8 saw nothing.
- ``drop_after_send``: 8x8 acted on the request, then the connection closed before the answer
  (``httpx.RemoteProtocolError``).
"""
#: Every :data:`FaultKind`.
FAULTS: tuple[str, ...] = get_args(FaultKind)

# What RecordedRequest.operation can be: the endpoints, and "unknown" for any other path.
_OPERATIONS = (*ENDPOINTS, "unknown")

_CLOSED = "This SmsMock was closed with aclose(); make a new SmsMock for more requests."
_UNFINISHED = (
    "An async receipt handler of the SmsMock did not finish: its event loop stopped first. "
    "End the test (or the `async with SmsMock()` block) after `await mock.advance()`."
)

_ACTS = frozenset({"timeout", "drop_after_send"})  # faults after which 8x8 has acted


@attrs.frozen
class RecordedRequest:
    """One request the client made to the mock (each attempt of a retried call is one).

    The ``Authorization`` header is not kept. ``json`` (the body) is left out of the repr: it
    holds message texts and phone numbers.
    """

    operation: str
    """The operation's name as the client's method is named (``"send_sms"``, ``"get_balance"``
    ...), ``"download_log_export"`` for a log export file, ``"unknown"`` for any other path."""
    method: str
    """The HTTP method."""
    path: str
    """The URL path, percent-encoded as sent."""
    query: dict[str, str] = attrs.field(repr=False)
    """The query parameters (the last value of a repeated one)."""
    json: Any = attrs.field(repr=False)
    """The JSON body, decoded; None when the request had none."""
    fault: str | None = None
    """The scripted fault that answered it (a :data:`FaultKind`), or None."""


@attrs.define
class _Script:
    operation: str | None
    kind: str
    remaining: int
    retry_after: int


class _MockTransport(httpx.AsyncBaseTransport):
    """Records each request, applies the scripted faults, and hands the rest to the app."""

    def __init__(self, mock: SmsMock) -> None:
        self._mock = mock
        self._app = httpx.ASGITransport(app=SandboxApp(mock.state))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mock = self._mock
        if mock._closed:
            # Ours, so the client passes it on as it is: the mock was closed, not the client.
            msg = f"{_CLOSED} Nothing was sent."
            raise APIConnectionError(msg, request=request, permanent=True)
        mock._loop = asyncio.get_running_loop()  # for finish_pending()
        content = await request.aread()
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        found = route(request.method, path)
        operation = found[0] if isinstance(found, tuple) else "unknown"
        script = mock._draw(operation)
        body: Any = None
        if content:
            try:
                body = decode_json(content)
            except ValueError:
                body = content.decode("utf-8", "replace")
        mock.requests.append(
            RecordedRequest(
                operation=operation,
                method=request.method,
                path=path,
                query=dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)),
                json=body,
                fault=script.kind if script is not None else None,
            )
        )
        if script is not None and script.kind not in _ACTS:
            return _refusal(script, request)
        response = await self._app.handle_async_request(request)
        if script is None:
            return response
        await response.aread()  # 8x8 acted on it; the answer is what gets lost
        await response.aclose()
        if script.kind == "timeout":
            raise httpx.ReadTimeout("The mock's scripted timeout", request=request)
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response (the mock's scripted drop).",
            request=request,
        )

    async def aclose(self) -> None:
        await self._app.aclose()


def _refusal(script: _Script, request: httpx.Request) -> httpx.Response:
    if script.kind == "drop_before_send":
        raise httpx.ConnectError("The mock's scripted connection failure", request=request)
    if script.kind == "rate_limit":
        seconds = script.retry_after
        answer = _error_response(
            429,
            429,
            f"Quota exceeded. Please try again in {seconds} second(s).",
            headers={"Retry-After": str(seconds)},
        )
    else:
        answer = _error_response(500, 2000, "Internal server error")
    return httpx.Response(
        answer.status_code,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers],
        content=bytes(answer.body),
        request=request,
    )


class SmsMock:
    """8x8's SMS API in-process, for tests of your own code: no network, no sleeping.

    It is the sandbox (``eightxeight sandbox``) run inside your test's event loop: the 17
    operations answer as the sandbox does (8x8's bodies, codes and rules, the sandbox's test
    numbers). On top of that it records every request (:attr:`requests`), scripts failures per
    operation (:meth:`fail`), and hands each delivery receipt, parsed into the same
    :class:`~eightxeight_async.webhooks.DeliveryReceipt` a webhook receiver makes, to what you
    give :meth:`deliver_to` (a ``DeliveryTracker`` or any handler).

    Time stands still unless you move it: by default a message is delivered, and its receipt
    handed over, at once (as soon as the event loop runs after the answer, so the receipt may
    reach a handler before the send returns to your code, as it can with 8x8);
    ``SmsMock(delivered_after=30)`` keeps receipts back until ``await mock.advance(30)``.

    Example::

        mock = SmsMock()
        async with mock.client() as client:
            sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
        assert mock.requests[-1].json["text"] == "Your code is 123456"

    Args:
        api_key: The key the mock accepts; :meth:`client` uses it.
        subaccounts: The subaccounts the key owns (another gets 8x8's code 1001); the first is
            the default of :meth:`client`.
        account_id: The account of the account operations, a GUID; random when omitted.
        delivered_after: Seconds of mock time from a send to its final state and receipt
            (0 to 366 days); 0 delivers at once.
        start_balance: The prepaid balance in EUR; each part sent takes its price off it.
        postpaid: A post-paid account (``get_balance`` answers 403 / code 1201).

    Raises:
        ValidationError: An argument out of its range.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        subaccounts: Iterable[str] = (DEFAULT_SUBACCOUNT,),
        account_id: str | None = None,
        delivered_after: float = 0.0,
        start_balance: float | Decimal | str = Decimal("100"),
        postpaid: bool = False,
    ) -> None:
        self._closed = False
        # The sandbox's rules (and messages) for the settings both have.
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValidationError("api_key", "a non-empty string")
        owned = (subaccounts,) if isinstance(subaccounts, str) else tuple(subaccounts)
        if not owned or not all(isinstance(s, str) and SUBACCOUNT_RE.fullmatch(s) for s in owned):
            raise ValidationError(
                "subaccounts", "one or more ids of 3 to 50 of A-Z a-z 0-9 - . _ &"
            )
        if account_id is not None and (
            not isinstance(account_id, str) or not ACCOUNT_RE.fullmatch(account_id)
        ):
            raise ValidationError("account_id", "a GUID: 32 hex digits, dashes optional")
        delay = _check_seconds(
            "delivered_after",
            delivered_after,
            MAX_LIFECYCLE,
            "a number of seconds from 0 to 31622400 (366 days)",
        )
        balance = _check_balance(start_balance)
        if not isinstance(postpaid, bool):
            raise ValidationError("postpaid", "True or False")
        self.api_key = api_key
        self.subaccount_id = owned[0]
        """The default subaccount (the first of ``subaccounts``)."""
        self.account_id = account_id or str(uuid.uuid4())
        """The account id of the account operations."""
        self.base_url = DEFAULT_BASE_URL
        """The base URL :meth:`client` gives its client (any URL works through the transport)."""
        self.state = SandboxState(
            api_key=api_key,
            subaccounts=frozenset(owned),
            account_id=self.account_id,
            start_balance=balance,
            postpaid=postpaid,
            sent_after=0.0,
            delivered_after=delay,
            # Jobs end at once; the details rule (1 request/s) is left to scripted 429s, since
            # it would count real seconds while the mock's time stands still.
            export_queued_for=0.0,
            export_running_for=0.0,
            details_per_second=1e12,
            clock=SandboxClock(manual=True),
            receipt_sink=self._on_receipt,
        )
        """The sandbox's state (messages, batches, webhooks...), for what the mock itself
        does not show."""
        self.requests: list[RecordedRequest] = []
        """Every request, in order, faulted ones included."""
        self.receipts: list[DeliveryReceipt] = []
        """Every delivery receipt handed over, in order."""
        self._scripts: list[_Script] = []
        self._targets: list[Callable[[DeliveryReceipt], Any]] = []
        # Each async handler's task, and the awaitable it runs (closed unawaited if the task is
        # cancelled before it starts, so that Python does not warn "never awaited").
        self._tasks: dict[asyncio.Task[None], Awaitable[Any]] = {}
        self._errors: list[BaseException] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # where requests last came from
        self.transport: httpx.AsyncBaseTransport = _MockTransport(self)
        """The httpx transport that answers as 8x8; for an ``httpx.AsyncClient`` of your own."""
        self._http_client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        # Safe on a mock whose __init__ failed half-way (a debugger, a traceback's locals).
        state = getattr(self, "state", None)
        messages = len(state.messages) if state is not None else 0
        closed = " closed" if getattr(self, "_closed", False) else ""
        return (
            f"<SmsMock{closed} subaccount_id={getattr(self, 'subaccount_id', None)!r} "
            f"requests={len(getattr(self, 'requests', ()))} messages={messages} api_key='***'>"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(_CLOSED)

    @property
    def retry_waits(self) -> list[float]:
        """The retry waits skipped by the no-backoff mode that is on, in order.

        The mode (the ``sms_mock`` fixture's, or your ``retry_without_waiting()``) covers the
        whole process, not one mock: every client's waits are here, whichever mock it talks to,
        and two mocks in one test show the same list. Empty when the mode is off.
        """
        waits = _clock.retry_waits()
        return [] if waits is None else waits

    @property
    def limiter_waits(self) -> list[float]:
        """The client-side rate limiter's waits skipped by the no-backoff mode, in order.

        E.g. ``get_message``'s 1 request/s bucket: five calls in a row show four waits of about 1 s
        (less the real time that passed between the calls, which counts as it would).
        Process-wide, like :attr:`retry_waits`; empty when the mode is off.
        """
        waits = _clock.limiter_waits()
        return [] if waits is None else waits

    # --- the client side ---------------------------------------------------------------------

    @property
    def http_client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` over the mock: pass it as ``AsyncSmsClient(http_client=...)``.

        After :meth:`aclose` its requests fail with ``APIConnectionError`` saying the mock
        was closed.

        Raises:
            RuntimeError: The mock was closed.
        """
        self._check_open()
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(transport=self.transport)
        return self._http_client

    def client(self, **kwargs: Any) -> AsyncSmsClient:
        """An ``AsyncSmsClient`` talking to the mock.

        Args:
            **kwargs: Any ``AsyncSmsClient`` argument; ``api_key``, ``subaccount_id``,
                ``account_id``, ``base_url`` and ``http_client`` default to the mock's.

        Raises:
            RuntimeError: The mock was closed.
        """
        self._check_open()
        from ._client import AsyncSmsClient

        settings: dict[str, Any] = {
            "api_key": self.api_key,
            "subaccount_id": self.subaccount_id,
            "account_id": self.account_id,
            "base_url": self.base_url,
            "http_client": self.http_client,
            **kwargs,
        }
        return AsyncSmsClient(**settings)

    # --- what happened -----------------------------------------------------------------------

    @property
    def umids(self) -> list[str]:
        """The UMID of every message accepted so far (rejected ones included), in order."""
        return list(self.state.messages)

    def requests_for(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests of one operation (``"send_sms"`` ...), in order.

        Raises:
            ValidationError: ``operation`` is not an operation's name (nor ``"unknown"``).
        """
        if operation not in _OPERATIONS:
            raise ValidationError("operation", f"one of {', '.join(_OPERATIONS)}")
        return [r for r in self.requests if r.operation == operation]

    # --- scripted failures -------------------------------------------------------------------

    def fail(
        self,
        operation: str | None,
        fault: FaultKind,
        *,
        times: int = 1,
        retry_after: int = 1,
    ) -> None:
        """Answer the next ``times`` requests of ``operation`` with ``fault``.

        Scripts are used in the order they were made; a request takes the first one that
        matches its operation. Each attempt of a retried call is a request.

        Args:
            operation: The client method's name (``"send_sms"``, ``"get_message"`` ...,
                ``"download_log_export"``); None for any operation.
            fault: One of :data:`FaultKind` (see there what each looks like to the client).
            times: How many requests, 1 or more.
            retry_after: The ``Retry-After`` seconds of a ``rate_limit`` (0 to 86400).

        Raises:
            ValidationError: An unknown operation or fault, or a count out of range.
            RuntimeError: The mock was closed.
        """
        self._check_open()
        if operation is not None and operation not in ENDPOINTS:
            raise ValidationError("operation", f"None or one of {', '.join(ENDPOINTS)}")
        if fault not in FAULTS:
            raise ValidationError("fault", f"one of {', '.join(FAULTS)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValidationError("times", "a whole number of 1 or more")
        if (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, int)
            or not 0 <= retry_after <= MAX_RETRY_AFTER
        ):
            raise ValidationError("retry_after", f"a whole number from 0 to {MAX_RETRY_AFTER}")
        self._scripts.append(_Script(operation, fault, times, retry_after))

    def _draw(self, operation: str) -> _Script | None:
        for index, script in enumerate(self._scripts):
            if script.operation is None or script.operation == operation:
                script.remaining -= 1
                if script.remaining == 0:
                    del self._scripts[index]
                return script
        return None

    # --- receipts and time -------------------------------------------------------------------

    def deliver_to(self, target: Any) -> None:
        """Hand every delivery receipt from now on to ``target``.

        Args:
            target: A ``DeliveryTracker`` (its ``feed`` is called), or any callable taking the
                event, sync or async (a ``WebhookReceiver`` handler: it gets the parsed
                :class:`~eightxeight_async.webhooks.DeliveryReceipt`). An async handler runs
                as a task; :meth:`advance` and :meth:`aclose` wait for it to finish.

        Raises:
            ValidationError: ``target`` is neither.
            RuntimeError: The mock was closed.
        """
        self._check_open()
        feed = getattr(target, "feed", None)
        if callable(feed):
            self._targets.append(feed)
        elif callable(target):
            self._targets.append(target)
        else:
            raise ValidationError("target", "a DeliveryTracker or a callable taking an event")

    def _on_receipt(self, message: object, body: dict[str, Any]) -> None:
        try:
            event = parse_event(encode_json(body))
        except Exception as exc:  # noqa: BLE001 - a sandbox bug, raised by advance() / aclose()
            self._errors.append(exc)
            return
        if not isinstance(event, DeliveryReceipt):  # pragma: no cover - the sandbox's bug
            self._errors.append(TypeError(f"A receipt parsed as {type(event).__name__}"))
            return
        self.receipts.append(event)
        for target in list(self._targets):
            try:
                result = target(event)
            except Exception as exc:  # noqa: BLE001 - raised again by advance() / aclose()
                self._errors.append(exc)
                continue
            if inspect.isawaitable(result):
                task = asyncio.get_running_loop().create_task(_awaited(result))
                self._tasks[task] = result
                task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # Called by the task's done callback or by advance(), whichever comes first: the order
        # of a task's callbacks is not the same on every Python.
        awaitable = self._tasks.pop(task, None)
        if awaitable is None:
            return
        if task.cancelled():
            # Only the end of its event loop cancels it (asyncio.run, a test runner): the
            # handler did not finish, perhaps never started. Say so.
            _close_unstarted(awaitable)
            self._errors.append(RuntimeError(_UNFINISHED))
            return
        error = task.exception()
        if error is not None:
            self._errors.append(error)

    async def _settle(self) -> None:
        """Wait until every async handler task has finished, its errors noted."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))
            self._reap()

    def _reap(self) -> None:
        for task in [t for t in self._tasks if t.done()]:
            self._task_done(task)

    async def advance(self, seconds: float = 0.0) -> None:
        """Move the mock's time forward, then wait for every receipt handler to finish.

        Whatever fell due meanwhile happens, in order: messages are delivered (or fail, per
        the test numbers), scheduled messages go out, receipts are handed to the targets of
        :meth:`deliver_to`. ``advance(0)`` only hands over what is already due.

        The time of every ``DeliveryTracker`` on this event loop moves too: a ``wait``'s
        ``timeout`` and the tracker's ``poll_after`` / ``poll_every`` count the advanced
        seconds (on top of the real ones), so a test reaches them without sleeping.

        Raises:
            ValidationError: ``seconds`` negative, not a number, or more than 366 days.
            RuntimeError: The mock was closed, or no asyncio event loop is running.
            Exception: The first exception a receipt handler raised since the last check.
        """
        self._check_open()
        loop = _running_loop("SmsMock.advance")
        try:
            self.state.clock.advance(seconds)
        except ValueError as exc:
            raise ValidationError("seconds", str(exc)) from None
        if seconds:
            _clock.advance(loop, float(seconds))
        await asyncio.sleep(0)  # let receipts already due at once (call_soon) run
        await self._settle()
        self.raise_handler_errors()

    def raise_handler_errors(self) -> None:
        """Raise the earliest exception a receipt handler raised that was not raised yet, if any.

        Each is raised once; the next call raises the next.
        """
        if self._errors:
            raise self._errors.pop(0)

    # --- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for the receipt handlers still running, close the mock, report their errors.

        After it, the mock refuses new work (:meth:`client`, :meth:`fail`, :meth:`advance`
        ... raise ``RuntimeError``) and its clients' requests fail with
        ``APIConnectionError`` saying the mock was closed. Calling it again does nothing.

        Raises:
            Exception: The first exception a receipt handler raised that nobody saw.
        """
        if self._closed:
            return
        _running_loop("SmsMock.aclose")
        try:
            # Handlers may send, and so make receipts: until none is left.
            await self._finish()
        finally:
            self._closed = True
            await self.state.aclose()
            await self.transport.aclose()
        self.raise_handler_errors()

    def finish_pending(self) -> None:
        """Run the async receipt handlers still pending to their end, from outside the loop.

        For a synchronous fixture's teardown, after the test's coroutine returned: their event
        loop is still open but not running. Does nothing when there is nothing to run or the
        loop cannot be run from here (closed, or running in this or another thread).
        """
        self._reap()
        loops: set[asyncio.AbstractEventLoop | None] = {t.get_loop() for t in self._tasks}
        if len(loops) > 1 or self._closed:
            return
        loop = loops.pop() if loops else self._loop
        if loop is None or loop.is_closed() or loop.is_running():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop.run_until_complete(self._finish())

    async def _finish(self) -> None:
        self.state.clock.advance(0)  # receipts already due reach their handlers now
        await self._settle()

    def close_now(self) -> None:
        """Close the mock without an event loop (a sync fixture's teardown).

        Handlers still pending cannot finish any more: each is cancelled (its coroutine closed
        if it never started) and reported by :meth:`raise_handler_errors`.
        """
        self._closed = True
        self.state.clock.close()
        self._reap()
        for task, awaitable in list(self._tasks.items()):
            del self._tasks[task]
            self._errors.append(RuntimeError(_UNFINISHED))
            if task.get_loop().is_closed():
                _close_unstarted(awaitable)
            else:
                task.add_done_callback(functools.partial(_close_when_done, awaitable))
                task.cancel()

    async def __aenter__(self) -> SmsMock:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.aclose()
            return
        try:
            await self.aclose()
        except Exception as error:  # noqa: BLE001 - kept for raise_handler_errors()
            # The block's own exception goes on; it may well come from the handler's failure.
            self._errors.insert(0, error)


async def _awaited(result: Awaitable[None]) -> None:
    await result


def _close_when_done(awaitable: Awaitable[Any], task: asyncio.Task[None]) -> None:
    _close_unstarted(awaitable)


def _close_unstarted(awaitable: Awaitable[Any]) -> None:
    # A coroutine that never ran would warn "never awaited" when collected.
    if inspect.iscoroutine(awaitable) and inspect.getcoroutinestate(awaitable) == (
        inspect.CORO_CREATED
    ):
        awaitable.close()


def _running_loop(name: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        msg = (
            f"{name} needs a running asyncio event loop: eightxeight-async runs on asyncio "
            "only (under anyio, use its asyncio backend)."
        )
        raise RuntimeError(msg) from None


def mock_from_options(options: Mapping[str, Any], *, fixture: str = "sms_mock_options") -> SmsMock:
    """An :class:`SmsMock` made from a fixture's dict of options (the pytest plugin's path).

    Python's own error for an unknown keyword names neither the fixture the dict came from nor
    the options there are; a misspelt one (``delivered_afterr``) deserves both.

    Args:
        options: :class:`SmsMock`'s keyword arguments.
        fixture: The fixture that returned them, named in the error.

    Raises:
        TypeError: A name that is not one of :class:`SmsMock`'s options.
        ValidationError: An option's value out of its range (from :class:`SmsMock`).
    """
    valid = [
        name
        for name, parameter in inspect.signature(SmsMock.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = [name for name in options if name not in valid]
    if unknown:
        first = unknown[0]
        close = difflib.get_close_matches(str(first), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        names = ", ".join(repr(name) for name in unknown)
        msg = (
            f"The {fixture} fixture gave SmsMock an unknown option {names}{hint}; SmsMock's"
            f" options are: {', '.join(valid)}."
        )
        raise TypeError(msg)
    return SmsMock(**options)
