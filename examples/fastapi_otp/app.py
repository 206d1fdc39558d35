"""An OTP service on FastAPI: send a code, receive its delivery receipt, verify, give feedback.

The lifespan runs one ``AsyncSmsClient`` and one ``DeliveryTracker`` (``OtpService.running``);
the ``WebhookReceiver`` is mounted at ``/webhooks/8x8/`` and feeds the tracker the delivery
receipts 8x8 posts there.

=================================  ===============================================================
``POST /otp {"phone": ...}``       Sends a 6-digit code (kept here with an expiry, never logged);
                                   201 ``{"umid", "expires_in"}``.
``GET /otp/{umid}/delivery``       Waits (``?timeout=`` seconds, at most 30) for the final state:
                                   200 ``{"state", "via", ...}``, or 202 when still pending.
``POST /otp/verify``               ``{"umid", "code"}``: 200 ``{"verified": ...}``; the outcome is
                                   reported to 8x8 with ``send_feedback`` (success / failure).
``POST /webhooks/8x8/``            8x8's webhook (the receiver: Authorization checked).
=================================  ===============================================================

Run it (the environment as ``examples/otp_core.py`` describes)::

    python -m examples.fastapi_otp            # uvicorn on OTP_HOST:OTP_PORT, 127.0.0.1:8000
    uvicorn --factory examples.fastapi_otp.app:create_app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..otp_core import (
    MAX_BODY,
    ConfigError,
    OtpService,
    OtpSettings,
    Reply,
    configure_logging,
    json_object,
    seconds,
    settings_from_env,
)

__all__ = ["create_app"]


def _json(reply: Reply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status)


async def _body(request: Request) -> dict[str, Any] | Reply:
    """The request's JSON object (read up to MAX_BODY bytes), or the answer to give instead."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return Reply(413, {"error": f"the body is over {MAX_BODY} bytes"})
    data = json_object(bytes(raw))
    return Reply(422, {"error": "the body must be a JSON object"}) if data is None else data


class PlainStartupErrors:
    """Reports a ConfigError of the lifespan as its message alone, not a traceback.

    Starlette reports a failed startup with the traceback, which buries the setting to fix.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failed = False
        """Whether the startup failed: ``python -m examples.fastapi_otp`` then exits 2."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_plainly(message: Message) -> None:
            if message["type"] != "lifespan.startup.failed":  # sent below, without traceback
                await send(message)

        try:
            await self.app(scope, receive, send_plainly)
        except ConfigError as exc:
            self.failed = True
            await send({"type": "lifespan.startup.failed", "message": str(exc)})


def create_app(settings: OtpSettings | None = None) -> PlainStartupErrors:
    """The app, configured from the environment unless ``settings`` are given.

    Started without its configuration it prints what is missing and exits with status 2.
    """
    configure_logging()
    service = OtpService(settings or settings_from_env(os.environ))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(title="OTP example", lifespan=lifespan)
    # 8x8 posts to the URL as registered: serve it with and without the trailing slash (a
    # mount alone would answer the bare path with a redirect, which 8x8 does not follow).
    app.mount("/webhooks/8x8", service.receiver)
    app.router.routes.append(Route("/webhooks/8x8", service.receiver))

    # Every error in the same shape as the app's own answers, the request not echoed.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _json(Reply(exc.status_code, {"error": str(exc.detail)}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(Reply(422, {"error": "malformed request"}))

    @app.post("/otp")
    async def send_otp(request: Request) -> JSONResponse:
        body = await _body(request)
        if isinstance(body, Reply):
            return _json(body)
        if "phone" not in body:
            return _json(Reply(422, {"error": 'expected {"phone": "+..."}'}))
        # The connection's address; behind a proxy, take it from the proxy's header instead.
        client_ip = request.client.host if request.client else None
        return _json(await service.send(body["phone"], client_ip=client_ip))

    @app.get("/otp/{umid}/delivery")
    async def otp_delivery(umid: str, timeout: str = "10") -> JSONResponse:
        wait = seconds(timeout)
        if wait is None:
            return _json(Reply(422, {"error": "timeout must be a number of seconds"}))
        return _json(await service.delivery(umid, timeout=wait))

    @app.post("/otp/verify")
    async def verify_otp(request: Request) -> JSONResponse:
        body = await _body(request)
        if isinstance(body, Reply):
            return _json(body)
        return _json(await service.verify(body.get("umid"), body.get("code")))

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    return PlainStartupErrors(app)
