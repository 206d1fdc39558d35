"""Raw responses: the HTTP answer behind any call, for users who need its status or headers.

``client.with_raw_response.send_sms(...)`` calls ``client.send_sms(...)`` and returns a
:class:`RawResponse` holding both the parsed result and the answer it came from. The call
machinery records each successful answer in a context variable that only the wrapper sets, so
concurrent calls (each in its own task) never see each other's answers, and plain calls pay one
``ContextVar.get()``.
"""

# No "from __future__ import annotations": the package re-exports RawResponse with __module__ =
# "eightxeight_async", where typing.get_type_hints() could not resolve string annotations.
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Generic, ParamSpec, TypeVar

import attrs
import httpx

__all__ = ["REQUEST_ID_HEADERS", "RawResponse", "record_response", "with_raw"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: The headers :attr:`RawResponse.request_id` reads, first present wins. 8x8 documents none; these
#: are the usual names of a request or correlation id set by an API or its gateway.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-correlation-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-cf-id",
)


@attrs.frozen
class RawResponse(Generic[_T]):
    """The parsed result of a call and the HTTP answer it came from.

    Example::

        raw = await client.with_raw_response.send_sms(destination="+6591234567", text="Hi")
        print(raw.status_code, raw.request_id, raw.parsed.umid)
    """

    parsed: _T
    """What the plain method returns."""
    http_response: httpx.Response
    """The answer, its body read. For a method that makes several requests (``export_logs``),
    the last one."""
    attempts: int
    """How many attempts the call took (1 unless it was retried)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The answer's headers."""
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        """The request id the server or its gateway put in a header, if any.

        Read from the first of :data:`REQUEST_ID_HEADERS` present (``X-Request-Id``,
        ``X-Correlation-Id``, ``Request-Id``, ``X-Amzn-RequestId``, ``X-Amz-Cf-Id``); quote it to
        8x8 support. ``None`` when there is none.
        """
        headers = self.http_response.headers
        return next((headers[name] for name in REQUEST_ID_HEADERS if name in headers), None)


@attrs.define
class _Capture:
    response: httpx.Response | None = None
    attempts: int = 0


_CAPTURE: ContextVar[_Capture | None] = ContextVar("eightxeight_async_raw", default=None)


def record_response(response: httpx.Response, attempts: int) -> None:
    """Note a call's answer for the raw-response wrapper around it, if there is one."""
    capture = _CAPTURE.get()
    if capture is not None:
        capture.response = response
        capture.attempts = attempts


def with_raw(method: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[RawResponse[_T]]]:
    """Wrap a client method so that it returns a :class:`RawResponse` of its result.

    The wrapper keeps the method's signature for type checkers (``ParamSpec``), as the Stainless
    SDKs do.
    """

    @functools.wraps(method)
    async def raw(*args: _P.args, **kwargs: _P.kwargs) -> RawResponse[_T]:
        capture = _Capture()
        token = _CAPTURE.set(capture)
        try:
            parsed = await method(*args, **kwargs)
        finally:
            _CAPTURE.reset(token)
        if capture.response is None:  # a method that made no request: a bug of ours
            msg = f"{getattr(method, '__name__', 'the method')} made no HTTP request."
            raise RuntimeError(msg)
        return RawResponse(parsed, capture.response, capture.attempts)

    # help() and inspect.signature() show what the wrapper returns, not the method's own result
    # (functools.wraps copied the method's docstring and left __wrapped__ for inspect to follow).
    name = getattr(method, "__name__", "method")
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # a callable inspect cannot read: keep what wraps() set
        return raw
    returned = signature.return_annotation
    if isinstance(returned, str):
        try:  # the method's module resolves its own names (from __future__ import annotations)
            returned = typing.get_type_hints(method).get("return", returned)
        except Exception:  # noqa: BLE001 (a name only imported for type checkers: keep the text)
            returned = f"RawResponse[{returned}]"
    if returned is inspect.Signature.empty:
        wrapped: object = RawResponse
    elif isinstance(returned, str):
        wrapped = returned
    else:
        wrapped = RawResponse[returned]  # type: ignore[valid-type]
        # A new dict: wraps() shares the method's own, which must keep its annotation.
        raw.__annotations__ = {**getattr(method, "__annotations__", {}), "return": wrapped}
    raw.__signature__ = signature.replace(return_annotation=wrapped)  # type: ignore[attr-defined]
    raw.__doc__ = (
        f"Call ``{name}`` and return a :class:`RawResponse`: ``.parsed`` is its result, with the "
        "HTTP answer's status, headers and request id.\n\n" + (method.__doc__ or "")
    )
    return raw
