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
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..otp_core import OtpService, OtpSettings, Reply

__all__ = ["create_app"]


class OtpRequest(BaseModel):
    """``POST /otp``."""

    phone: str


class VerifyRequest(BaseModel):
    """``POST /otp/verify``."""

    umid: str
    code: str


def _json(reply: Reply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status)


def create_app(settings: OtpSettings | None = None) -> FastAPI:
    """The app, configured from the environment unless ``settings`` are given.

    Raises:
        ConfigError: The environment is missing something (every problem named).
    """
    service = OtpService(settings or OtpSettings.from_env(os.environ))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(title="OTP example", lifespan=lifespan)
    # A mount answers its bare path with a redirect: 8x8 is given the URL with the slash.
    app.mount("/webhooks/8x8", service.receiver)

    @app.post("/otp")
    async def send_otp(body: OtpRequest, request: Request) -> JSONResponse:
        # The connection's address; behind a proxy, take it from the proxy's header instead.
        client_ip = request.client.host if request.client else None
        return _json(await service.send(body.phone, client_ip=client_ip))

    @app.get("/otp/{umid}/delivery")
    async def otp_delivery(umid: str, timeout: float = 10.0) -> JSONResponse:
        return _json(await service.delivery(umid, timeout=timeout))

    @app.post("/otp/verify")
    async def verify_otp(body: VerifyRequest) -> JSONResponse:
        return _json(await service.verify(body.umid, body.code))

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    return app
