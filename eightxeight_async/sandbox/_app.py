"""The sandbox's ASGI application: 8x8's 17 SMS API operations and their answers.

Every answer has 8x8's JSON shape: an unknown path is 404 / code 1300, a known path with another
method 405 / code 2001, an unexpected failure 500 / code 2000. Routing works on the raw path, so a
path id holding an encoded ``/`` stays in its segment (and is then refused as an invalid id).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._account import delete_webhooks, get_balance, get_prices, list_webhooks, set_webhooks
from ._admin import admin_response
from ._batches import cancel_batch, cancel_message, delete_pii, send_batch, send_survey_batch
from ._exports import cancel_export, download_export, get_export, start_export
from ._faults import Fault, Faults
from ._messages import accept, check_subaccount, find_message
from ._rules import (
    JSONResponse,
    Rejected,
    authorized,
    check_feedback,
    check_sms,
    check_survey,
    error,
    path_id,
    read_json,
    stamp_2,
)
from ._state import CURRENCY, SandboxState

__all__ = ["SandboxApp", "build_app", "route"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_logger = logging.getLogger("eightxeight_async.sandbox")
_SHORT_URL = "https://8x8.to/sbx1234"  # 8x8's shortened survey links are always 21 characters


# --- the endpoints -----------------------------------------------------------------------------


async def send_sms(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages."""
    subaccount = check_subaccount(params[0], state)
    fields, text = check_sms(read_json(await request.body()))
    return JSONResponse(accept(state, subaccount, fields, text))


async def send_survey(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages."""
    subaccount = check_subaccount(params[0], state)
    path_id(params[1], "surveyId")
    fields, text = check_survey(read_json(await request.body()), _SHORT_URL)
    return JSONResponse(accept(state, subaccount, fields, text))


async def get_message(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/subaccounts/{subAccountId}/messages/{umid}."""
    subaccount = check_subaccount(params[0], state)
    if not state.details_allowed(subaccount):
        raise Rejected(
            error(
                429,
                429,
                "Quota exceeded. Please try again in 1 second(s).",
                headers={"Retry-After": "1"},
            )
        )
    message = find_message(state, subaccount, params[1])
    current = state.clock.mono()
    state_now = message.state_at(current, state.sent_after, state.delivered_after)
    # `price` is required in details: a message nothing was charged for costs 0.
    price = message.price(state_now) or {"total": 0.0, "perSms": 0.0, "currency": CURRENCY}
    body: dict[str, Any] = {
        "umid": message.umid,
        "subAccountId": message.subaccount_id,
        "direction": "outbound",
        "status": message.status(current, state.sent_after, state.delivered_after),
        # After DELETE .../pii the number is gone; both fields stay (the file requires them).
        "msisdn": "" if message.pii_deleted else f"+{message.destination[:-4]}xxxx",
        "source": message.source,
        "body": "" if message.pii_deleted else "**MASKED**",
        "encoding": message.encoding,
        "createdAt": stamp_2(message.created_at),
        "smsCount": message.sms_count,
        "price": price,
    }
    if message.country and len(message.country) == 2 and message.country.isascii():
        body["country"] = message.country.upper()  # "Two-letter country code"
    elif message.country_code:
        body["country"] = message.country_code
    if message.client_message_id is not None:
        body["clientMessageId"] = message.client_message_id
    if message.client_batch_id is not None:
        body["clientBatchId"] = message.client_batch_id
    if message.batch_id is not None:
        body["batchId"] = message.batch_id
    return JSONResponse(body)


async def send_feedback(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages/{umid}/feedback."""
    subaccount = check_subaccount(params[0], state)
    feedback = check_feedback(read_json(await request.body()))
    message = find_message(state, subaccount, params[1])
    message.feedback.append(feedback)
    return Response(status_code=200)


Handler = Callable[[SandboxState, Request, list[str]], Awaitable[Response]]

_SUB = "/api/v1/subaccounts/([^/]+)"
_ACCOUNT = "/api/v1/accounts/([^/]+)"

# Paths with a literal segment come before the paths whose id could take the same place.
_ROUTES: list[tuple[str, str, re.Pattern[str], Handler]] = [
    (name, method, re.compile(pattern), handler)
    for name, method, pattern, handler in (
        ("send_sms", "POST", f"{_SUB}/messages", send_sms),
        ("send_batch", "POST", f"{_SUB}/messages/batch", send_batch),
        ("cancel_batch", "DELETE", f"{_SUB}/messages/batch/([^/]+)", cancel_batch),
        ("start_log_export", "POST", f"{_SUB}/messages/exports", start_export),
        ("get_log_export", "GET", f"{_SUB}/messages/exports/([^/]+)", get_export),
        ("cancel_log_export", "DELETE", f"{_SUB}/messages/exports/([^/]+)", cancel_export),
        ("download_log_export", "GET", f"{_SUB}/messages/download/([^/]+)", download_export),
        ("send_survey", "POST", f"{_SUB}/surveys/([^/]+)/messages", send_survey),
        ("send_survey_batch", "POST", f"{_SUB}/surveys/([^/]+)/messages/batch", send_survey_batch),
        ("get_message", "GET", f"{_SUB}/messages/([^/]+)", get_message),
        ("cancel_message", "DELETE", f"{_SUB}/messages/([^/]+)", cancel_message),
        ("send_feedback", "POST", f"{_SUB}/messages/([^/]+)/feedback", send_feedback),
        ("delete_pii", "DELETE", f"{_SUB}/messages/([^/]+)/pii", delete_pii),
        ("get_prices", "GET", f"{_ACCOUNT}/prices", get_prices),
        ("get_balance", "GET", f"{_ACCOUNT}/balance", get_balance),
        ("list_webhooks", "GET", f"{_ACCOUNT}/webhooks", list_webhooks),
        ("set_webhook", "POST", f"{_ACCOUNT}/webhooks", set_webhooks),
        ("delete_webhooks", "DELETE", f"{_ACCOUNT}/webhooks", delete_webhooks),
    )
]


def route(method: str, raw_path: str) -> tuple[str, Handler, list[str]] | list[str]:
    """The endpoint for a request, or the methods the path allows (empty: no such path).

    ``raw_path`` is the path as sent, still percent-encoded, so an encoded ``/`` cannot move a
    path id into the next segment.
    """
    allowed: list[str] = []
    for name, route_method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(raw_path)
        if match is None:
            continue
        if method == route_method:
            return name, handler, list(match.groups())
        allowed.append(route_method)
    return allowed


# --- the outer ASGI layer: routing, auth, counting and faults -----------------------------------


class SandboxApp:
    """The ASGI app: routes, counts requests, applies faults and auth, then runs the endpoint."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to set up or tear down
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = _Body(receive)
        try:
            await self._handle(scope, body, send)
        except _DroppedConnection:
            raise
        except Exception:  # a sandbox bug must still answer in 8x8's shape
            _logger.exception("The sandbox failed on a request")
            await _answer(error(500, 2000, "Internal server error"), scope, body, send)

    async def _handle(self, scope: Scope, receive: _Body, send: Send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        if path.startswith("/_sandbox/"):
            response = await admin_response(self.state, Request(scope, receive), path)
            await _answer(response, scope, receive, send)
            return
        found = route(scope["method"], path)
        if isinstance(found, list):
            if found:
                response = error(
                    405,
                    2001,
                    f"The method {scope['method']} is not allowed here; use {', '.join(found)}.",
                    headers={"Allow": ", ".join(found)},
                )
            else:
                response = error(404, 1300, "Object wasn't found or is already expired")
            await _answer(response, scope, receive, send)
            return
        endpoint, handler, params = found
        self.state.requests[endpoint] += 1
        self.state.note_arrival(params[0], endpoint)
        fault = self.state.faults.draw(endpoint)
        if fault is Fault.DROP:
            await receive.drain()
            await _drop_connection(send)
            return
        if fault is Fault.SLOW:
            # Slow to answer, not slow to arrive: the request is handled (and rate-limited) now.
            send = _delayed(send, self.state.faults.slow_seconds)
        await _answer(
            await self._respond(fault, scope, receive, handler, params), scope, receive, send
        )

    async def _respond(
        self, fault: Fault | None, scope: Scope, receive: _Body, handler: Handler, params: list[str]
    ) -> Response:
        injected = _fault_response(fault, self.state.faults)
        if injected is not None:
            return injected
        request = Request(scope, receive)
        if not authorized(request.headers.get("authorization", ""), self.state.api_key):
            return error(401, 1200, "Request was not authenticated properly")
        try:
            return await handler(self.state, request, params)
        except Rejected as rejected:
            return rejected.response


def _fault_response(fault: Fault | None, faults: Faults) -> Response | None:
    if fault is Fault.RATE_LIMIT:
        seconds = faults.retry_after
        return error(
            429,
            429,
            f"Quota exceeded. Please try again in {seconds} second(s).",
            headers={"Retry-After": str(seconds)},
        )
    if fault is Fault.INTERNAL_ERROR:
        return error(500, 2000, "Internal server error")
    if fault is Fault.UPGRADE_REQUIRED:
        return error(
            426,
            1014,
            "TLS 1.3+ is required for Singapore-bound messages. Detected: TLSv1.2",
            headers={"Upgrade": "TLS/1.3"},
        )
    return None


async def _answer(response: Response, scope: Scope, receive: _Body, send: Send) -> None:
    """Send ``response`` after reading whatever is left of the request body."""
    await receive.drain()
    await response(scope, receive, send)


def _delayed(send: Send, seconds: float) -> Send:
    async def delayed_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return delayed_send


class _Body:
    """The request's ``receive``, noting when the body has been read in full.

    An answer sent before the body was read (a fault, a 401) reads the rest first; reading
    again after the last part would wait for the client to disconnect.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain(self) -> None:
        """Read and drop the rest of the body."""
        while not self.done:
            await self()


class _DroppedConnection(Exception):
    """Raised after a response start so that the server closes the connection mid-answer."""


async def _drop_connection(send: Send) -> None:
    # uvicorn's `send` is a bound method of the request cycle, which holds the transport:
    # closing it gives the client a connection closed with no answer at all.
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if isinstance(transport, asyncio.Transport):
        transport.abort()  # close() would wait for a TLS close_notify the client never sends
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise _DroppedConnection


def build_app(state: SandboxState) -> SandboxApp:
    """Build the ASGI app over ``state``."""
    return SandboxApp(state)
