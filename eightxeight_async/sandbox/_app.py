"""The sandbox's ASGI application: 8x8's four SMS endpoints, their rules and their error bodies."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._segments import count_segments
from ._faults import Fault, Faults

__all__ = ["TEST_NUMBERS", "SandboxState", "StoredMessage", "build_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SUBACCOUNT_RE = re.compile(r"[A-Za-z0-9\-._&]{3,50}")
_DESTINATION_RE = re.compile(r"\+{0,1}[1-9]{1}[0-9]{6,14}")
_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
_PRICE_PER_SMS = Decimal("0.0075")
_SHORT_URL = "https://8x8.to/sbx1234"  # 8x8's shortened survey links are always 21 characters

#: Destinations that end badly, so users can exercise those paths. Keys are digits without "+".
TEST_NUMBERS: dict[str, tuple[str, str | None, int | None, str | None]] = {
    "15550100001": ("undelivered", "rejected_by_operator", 15, "Invalid destination"),
    "15550100002": ("undelivered", "undelivered_to_recipient", 1, "Absent subscriber"),
    "15550100003": ("failed", None, None, "Invalid MSISDN format (not E.164 international number)"),
}

_ROUTES = [
    ("send_sms", "POST", re.compile(r"/api/v1/subaccounts/([^/]+)/messages")),
    ("send_survey", "POST", re.compile(r"/api/v1/subaccounts/([^/]+)/surveys/([^/]+)/messages")),
    ("get_message", "GET", re.compile(r"/api/v1/subaccounts/([^/]+)/messages/([^/]+)")),
    ("send_feedback", "POST", re.compile(r"/api/v1/subaccounts/([^/]+)/messages/([^/]+)/feedback")),
]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp_2(value: datetime) -> str:
    """``2020-06-17T04:17:21.06Z``: the form of message details."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 10000:02d}Z"


def _stamp_7(value: datetime) -> str:
    """``2017-04-19T02:31:19.4297387+00:00``: the form of error bodies (7 digits)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0+00:00"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An 8x8 error response."""
    body = {
        "code": code,
        "message": message,
        "errorId": str(uuid.uuid4()),
        "timestamp": _stamp_7(_now()),
    }
    return JSONResponse(body, status_code=status, headers=headers)


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@attrs.define
class StoredMessage:
    """A message the sandbox accepted, and how it will end."""

    umid: str
    subaccount_id: str
    destination: str
    source: str
    encoding: str
    sms_count: int
    created_at: datetime
    created_mono: float
    final_state: str
    detail: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    client_message_id: str | None = None
    dlr_callback_url: str | None = None
    country: str | None = None
    feedback: list[dict[str, Any]] = attrs.Factory(list)

    def status(self, now_mono: float, sent_after: float, delivered_after: float) -> dict[str, Any]:
        """The status object as it stands ``now_mono``."""
        age = now_mono - self.created_mono
        if self.final_state == "failed":
            return {"state": "failed", "timestamp": _stamp_2(self.created_at)}
        if age < sent_after:
            return {"state": "queued", "timestamp": _stamp_2(self.created_at)}
        if age < delivered_after:
            return {
                "state": "sent",
                "detail": "delivered_to_operator",
                "timestamp": _stamp_2(self.created_at + timedelta(seconds=sent_after)),
            }
        status: dict[str, Any] = {
            "state": self.final_state,
            "detail": self.detail,
            "timestamp": _stamp_2(self.created_at + timedelta(seconds=delivered_after)),
        }
        if self.error_code is not None:
            status["errorCode"] = self.error_code
            status["errorMessage"] = self.error_message
        return status

    def price(self) -> dict[str, Any] | None:
        """What the message cost; None when nothing was charged."""
        if self.final_state == "failed":
            return None
        return {
            "total": float(_PRICE_PER_SMS * self.sms_count),
            "perSms": float(_PRICE_PER_SMS),
            "currency": "EUR",
        }


@attrs.define(kw_only=True)
class SandboxState:
    """Everything the sandbox knows; tests read it to see what the server saw."""

    api_key: str
    subaccounts: frozenset[str]
    sent_after: float = 1.0
    delivered_after: float = 2.0
    details_per_second: float = 1.0
    details_jitter: float = 0.05
    """Slack granted to the 1 request/s rule, for scheduling jitter between client and server."""
    dlr_retry_delays: tuple[float, ...] = (1.0, 10.0, 30.0, 90.0)
    faults: Faults = attrs.Factory(Faults)
    messages: dict[str, StoredMessage] = attrs.Factory(dict)
    requests: Counter[str] = attrs.Factory(Counter)
    """Requests received per endpoint, faults included."""
    details_times: dict[str, list[float]] = attrs.Factory(lambda: defaultdict(list))
    """Monotonic arrival times of details requests answered 200, per subaccount."""
    rate_limited: Counter[str] = attrs.Factory(Counter)
    """429s the details rule sent, per subaccount."""
    dlr_attempts: list[tuple[str, str, int | None]] = attrs.Factory(list)
    """Each DLR delivery attempt: (umid, url, HTTP status or None on a connection failure)."""
    _last_details: dict[str, float] = attrs.Factory(dict)
    _tasks: set[asyncio.Task[None]] = attrs.Factory(set)
    _webhook_client: httpx.AsyncClient | None = None

    def schedule_dlr(self, message: StoredMessage) -> None:
        """Post the final delivery receipt to the message's ``dlrCallbackUrl`` when it is due."""
        task = asyncio.get_running_loop().create_task(self._deliver_dlr(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_dlr(self, message: StoredMessage) -> None:
        assert message.dlr_callback_url is not None
        await asyncio.sleep(self.delivered_after)
        status = message.status(time.monotonic() + 1e9, self.sent_after, self.delivered_after)
        payload: dict[str, Any] = {
            "umid": message.umid,
            "subAccountId": message.subaccount_id,
            "source": message.source,
            "destination": message.destination,
            "status": status,
            "smsCount": message.sms_count,
        }
        if message.client_message_id is not None:
            payload["clientMessageId"] = message.client_message_id
        price = message.price()
        if price is not None:
            payload["price"] = price
        body = {
            "namespace": "SMS",
            "eventType": "outbound_message_status_changed",
            "description": "SMS outbound message delivery receipt",
            "payload": payload,
        }
        if self._webhook_client is None:
            self._webhook_client = httpx.AsyncClient(timeout=5.0)
        # 8x8 tries once, then again after 1, 10, 30 and 90 seconds (scaled here).
        for delay in (0.0, *self.dlr_retry_delays):
            await asyncio.sleep(delay)
            try:
                answer = await self._webhook_client.post(message.dlr_callback_url, json=body)
            except httpx.HTTPError:
                self.dlr_attempts.append((message.umid, message.dlr_callback_url, None))
                continue
            self.dlr_attempts.append((message.umid, message.dlr_callback_url, answer.status_code))
            if answer.status_code < 400:
                return

    async def aclose(self) -> None:
        """Cancel pending receipts and close the webhook client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
            self._webhook_client = None

    def details_allowed(self, subaccount: str) -> bool:
        """Apply 8x8's 1 request/s per subaccount rule to one details request."""
        now = time.monotonic()
        last = self._last_details.get(subaccount)
        spacing = 1.0 / self.details_per_second - self.details_jitter
        if last is not None and now - last < spacing:
            self.rate_limited[subaccount] += 1
            return False
        self._last_details[subaccount] = now
        self.details_times[subaccount].append(now)
        return True


# --- request checks ----------------------------------------------------------------------------


def _check_subaccount(raw: str, state: SandboxState) -> str:
    subaccount = unquote(raw)
    if not _SUBACCOUNT_RE.fullmatch(subaccount):
        raise _Rejected(error(400, 1000, "Invalid subAccountId."))
    if subaccount not in state.subaccounts:
        raise _Rejected(error(400, 1001, "Provided subAccountId doesn't belongs to your account"))
    return subaccount


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _Rejected(error(400, 1000, "Invalid request body: not JSON.")) from None
    if not isinstance(body, dict):
        raise _Rejected(error(400, 1000, "Invalid request body: not a JSON object."))
    return body


def _optional_str(body: dict[str, Any], key: str, limit: int | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        code = {"clientMessageId": 3009, "source": 1005}.get(key, 1000)
        raise _Rejected(error(400, code, f"Invalid {key} value."))
    return value


def _check_common(body: dict[str, Any], *, survey: bool) -> dict[str, Any]:
    """The rules shared by SMS and survey sends; returns the cleaned fields."""
    destination = body.get("destination")
    if not isinstance(destination, str) or not _DESTINATION_RE.fullmatch(destination):
        raise _Rejected(error(400, 1002, "Invalid MSISDN format (not E.164 international number)"))
    country = body.get("country")
    if country is not None and (
        not isinstance(country, str)
        or (survey and not _COUNTRY_RE.fullmatch(country))
        or (not survey and len(country) > 2)
    ):
        raise _Rejected(error(400, 1009, "Invalid Country Code."))
    encoding = body.get("encoding", "AUTO")
    if encoding not in ("AUTO", "GSM7", "UCS2"):
        raise _Rejected(error(400, 1003, "Invalid Encoding."))
    scheduled = body.get("scheduled")
    if scheduled is not None:
        when = _parse_time(scheduled)
        if when is None or when - _now() > timedelta(days=7):
            raise _Rejected(error(400, 1011, "Invalid Schedule Time."))
    expiry = body.get("expiry")
    if expiry is not None and _parse_time(expiry) is None:
        raise _Rejected(error(400, 1006, "Invalid Expiry."))
    url = _optional_str(body, "dlrCallbackUrl")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Rejected(error(400, 3020, "Invalid DR Callback URL."))
    return {
        "destination": destination,
        "country": country,
        "encoding": encoding,
        "expiry": _parse_time(expiry),
        "source": body.get("source"),
        "client_message_id": _optional_str(body, "clientMessageId", 350),
        "dlr_callback_url": url,
    }


def _sms_response(
    umid: str, fields: dict[str, Any], encoding: str, code: str, description: str
) -> Response:
    body: dict[str, Any] = {
        "umid": umid,
        "destination": fields["destination"].lstrip("+"),
        "encoding": encoding,
        "status": {"code": code, "description": description},
    }
    if fields["client_message_id"] is not None:
        body["clientMessageId"] = fields["client_message_id"]
    return JSONResponse(body)


def _accept(
    state: SandboxState, subaccount: str, fields: dict[str, Any], text: str | None
) -> Response:
    """Queue a message, or reject it in a 200 as 8x8 does for some content problems."""
    umid = str(uuid.uuid4())
    source = fields["source"]
    encoding = "GSM7" if fields["encoding"] == "AUTO" else fields["encoding"]
    reject: str | None = None
    if not text:
        reject = "Text value is missing"
    elif source is not None and (not isinstance(source, str) or len(source) > 16):
        reject = "Invalid Source value. Reached max allowed limit"
    elif fields["expiry"] is not None and fields["expiry"] <= _now():
        reject = "Expiry time already reached"
    outcome = TEST_NUMBERS.get(
        fields["destination"].lstrip("+"), ("delivered", "delivered_to_recipient", None, None)
    )
    if reject is None and outcome[0] == "failed":
        reject = outcome[3]
    if reject is not None:
        return _sms_response(umid, fields, encoding, "REJECTED", reject)
    segments = count_segments(text or "", fields["encoding"])
    message = StoredMessage(
        umid=umid,
        subaccount_id=subaccount,
        destination=fields["destination"],
        source=source if isinstance(source, str) else "8x8",
        encoding=segments.encoding,
        sms_count=segments.parts,
        created_at=_now(),
        created_mono=time.monotonic(),
        final_state=outcome[0],
        detail=outcome[1],
        error_code=outcome[2],
        error_message=outcome[3],
        client_message_id=fields["client_message_id"],
        dlr_callback_url=fields["dlr_callback_url"],
        country=fields["country"],
    )
    state.messages[umid] = message
    if message.dlr_callback_url:
        state.schedule_dlr(message)
    return _sms_response(
        umid, fields, segments.encoding, "QUEUED", "SMS is accepted and queued for processing"
    )


# --- endpoints ---------------------------------------------------------------------------------


async def send_sms(request: Request) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages."""
    state: SandboxState = request.app.state.sandbox
    subaccount = _check_subaccount(request.path_params["subaccount"], state)
    body = await _json_body(request)
    fields = _check_common(body, survey=False)
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise _Rejected(error(400, 1004, "Invalid Text."))
    track = body.get("track")
    if track is not None and track not in ("None", "Outcome"):
        raise _Rejected(error(400, 1000, "Invalid track value."))
    client_ip = body.get("clientIp")
    if client_ip is not None:
        try:
            ipaddress.ip_address(client_ip)
        except (TypeError, ValueError):
            raise _Rejected(error(400, 1012, "Invalid Ip Address.")) from None
    return _accept(state, subaccount, fields, text)


async def send_survey(request: Request) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages."""
    state: SandboxState = request.app.state.sandbox
    subaccount = _check_subaccount(request.path_params["subaccount"], state)
    body = await _json_body(request)
    fields = _check_common(body, survey=True)
    template = body.get("templateBody", "Take our survey: {{url:}}")
    if not isinstance(template, str) or "{{url:" not in template:
        raise _Rejected(error(400, 1007, "Invalid SMS Template."))
    variables = body.get("templateVariables") or {}
    if not isinstance(variables, dict):
        raise _Rejected(error(400, 1007, "Invalid SMS Template."))
    text = re.sub(r"\{\{url:[^}]*\}\}", _SHORT_URL, template)
    for name, value in variables.items():
        text = text.replace("{{" + str(name) + "}}", str(value))
    return _accept(state, subaccount, fields, text)


async def get_message(request: Request) -> Response:
    """GET /api/v1/subaccounts/{subAccountId}/messages/{umid}."""
    state: SandboxState = request.app.state.sandbox
    subaccount = _check_subaccount(request.path_params["subaccount"], state)
    if not state.details_allowed(subaccount):
        raise _Rejected(
            error(
                429,
                429,
                "Quota exceeded. Please try again in 1 second(s).",
                headers={"Retry-After": "1"},
            )
        )
    message = _find(state, subaccount, request.path_params["umid"])
    body: dict[str, Any] = {
        "umid": message.umid,
        "subAccountId": message.subaccount_id,
        "direction": "outbound",
        "status": message.status(time.monotonic(), state.sent_after, state.delivered_after),
        "msisdn": _mask(message.destination),
        "source": message.source,
        "body": "**MASKED**",
        "encoding": message.encoding,
        "createdAt": _stamp_2(message.created_at),
        "smsCount": message.sms_count,
    }
    price = message.price()
    if price is not None:
        body["price"] = price
    if message.country:
        body["country"] = message.country.upper()
    if message.client_message_id is not None:
        body["clientMessageId"] = message.client_message_id
    return JSONResponse(body)


async def send_feedback(request: Request) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages/{umid}/feedback."""
    state: SandboxState = request.app.state.sandbox
    subaccount = _check_subaccount(request.path_params["subaccount"], state)
    body = await _json_body(request)
    outcome = body.get("outcome")
    if outcome not in ("success", "failure"):
        raise _Rejected(error(400, 1000, "Invalid outcome: must be success or failure."))
    timestamp = body.get("timestamp")
    if timestamp is not None and _parse_time(timestamp) is None:
        raise _Rejected(error(400, 1000, "Invalid timestamp."))
    message = _find(state, subaccount, request.path_params["umid"])
    message.feedback.append({"outcome": outcome, "timestamp": timestamp})
    return Response(status_code=200)


def _find(state: SandboxState, subaccount: str, umid: str) -> StoredMessage:
    if not _UUID_RE.fullmatch(umid):
        raise _Rejected(error(400, 1000, "Invalid umid."))
    message = state.messages.get(umid.lower())
    if message is None or message.subaccount_id != subaccount:
        raise _Rejected(error(404, 1300, "Message not found."))
    return message


def _mask(destination: str) -> str:
    digits = destination if destination.startswith("+") else f"+{destination}"
    return digits[:-4] + "xxxx"


# --- the outer ASGI layer: auth, counting and faults --------------------------------------------


def _endpoint_of(method: str, path: str) -> str | None:
    for name, route_method, pattern in _ROUTES:
        if method == route_method and pattern.fullmatch(path):
            return name
    return None


class SandboxApp:
    """The ASGI app: counts requests, applies faults and auth, then routes to the endpoints."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Starlette(
            routes=[
                Route("/api/v1/subaccounts/{subaccount}/messages", send_sms, methods=["POST"]),
                Route(
                    "/api/v1/subaccounts/{subaccount}/surveys/{survey}/messages",
                    send_survey,
                    methods=["POST"],
                ),
                Route(
                    "/api/v1/subaccounts/{subaccount}/messages/{umid}",
                    get_message,
                    methods=["GET"],
                ),
                Route(
                    "/api/v1/subaccounts/{subaccount}/messages/{umid}/feedback",
                    send_feedback,
                    methods=["POST"],
                ),
            ],
            exception_handlers={_Rejected: _rejected_handler},
        )
        self.router.state.sandbox = state

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _admin_response(self.state, Request(scope, receive))
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)  # lifespan
            return
        if scope["path"].startswith("/_sandbox/"):
            await self._admin(scope, receive, send)
            return
        endpoint = _endpoint_of(
            scope["method"], scope.get("raw_path", b"").decode() or scope["path"]
        )
        if endpoint is None:
            await error(404, 1300, "Object wasn't found or is already expired")(
                scope, receive, send
            )
            return
        self.state.requests[endpoint] += 1
        fault = self.state.faults.draw(endpoint)
        if fault is Fault.DROP:
            await _drain(receive)
            await _drop_connection(send)
            return
        if fault is Fault.SLOW:
            # Slow to answer, not slow to arrive: the request is handled (and rate-limited) now.
            send = _delayed(send, self.state.faults.slow_seconds)
        response: Response | None = None
        if fault is Fault.RATE_LIMIT:
            seconds = self.state.faults.retry_after
            response = error(
                429,
                429,
                f"Quota exceeded. Please try again in {seconds} second(s).",
                headers={"Retry-After": str(seconds)},
            )
        elif fault is Fault.INTERNAL_ERROR:
            response = error(500, 2000, "Internal server error")
        elif fault is Fault.UPGRADE_REQUIRED:
            response = error(
                426,
                1014,
                "TLS 1.3+ is required for Singapore-bound messages. Detected: TLSv1.2",
                headers={"Upgrade": "TLS/1.3"},
            )
        else:
            auth = Request(scope).headers.get("authorization", "")
            if auth != f"Bearer {self.state.api_key}":
                response = error(401, 1200, "Request was not authenticated properly")
        if response is not None:
            await _drain(receive)
            await response(scope, receive, send)
            return
        await self.router(scope, receive, send)


def _delayed(send: Send, seconds: float) -> Send:
    async def delayed_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return delayed_send


async def _admin_response(state: SandboxState, request: Request) -> Response:
    """``/_sandbox/faults`` (GET, POST) and ``/_sandbox/stats`` (GET), for run-time control."""
    if request.headers.get("authorization", "") != f"Bearer {state.api_key}":
        return error(401, 1200, "Request was not authenticated properly")
    faults = state.faults
    if request.url.path == "/_sandbox/faults" and request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
            if "inject" in body:
                faults.inject(
                    body["inject"], int(body.get("count", 1)), endpoint=body.get("endpoint")
                )
            for name in ("share_429", "share_500", "share_slow", "share_drop", "slow_seconds"):
                if name in body:
                    setattr(faults, name, float(body[name]))
            if body.get("clear"):
                faults.clear()
        except (TypeError, ValueError, AttributeError):  # not an object, or a bad value
            return error(400, 1000, "Invalid fault settings.")
    if request.url.path in ("/_sandbox/faults", "/_sandbox/stats") and request.method in (
        "GET",
        "POST",
    ):
        return JSONResponse(
            {
                "faults": {
                    "share_429": faults.share_429,
                    "share_500": faults.share_500,
                    "share_slow": faults.share_slow,
                    "share_drop": faults.share_drop,
                    "slow_seconds": faults.slow_seconds,
                    "queued": faults.queued(),
                },
                "requests": dict(state.requests),
                "rate_limited": dict(state.rate_limited),
                "messages": len(state.messages),
            }
        )
    return error(404, 1300, "Object wasn't found or is already expired")


async def _rejected_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Rejected)
    return exc.response


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


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
