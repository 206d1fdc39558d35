"""The OTP service of ``examples/fastapi_otp`` on aiohttp.web.

aiohttp.web is not ASGI: the ``WebhookReceiver`` is served through ``receiver.respond(...)``,
which makes the same checks and gives the same answers as the ASGI app. A cleanup context runs
one ``AsyncSmsClient`` and one ``DeliveryTracker`` for the app's life (``OtpService.running``).

The routes are those of the FastAPI example: ``POST /otp``, ``GET /otp/{umid}/delivery``,
``POST /otp/verify``, and 8x8's webhook at ``POST /webhooks/8x8/``.

Run it (the environment as ``examples/otp_core.py`` describes)::

    python -m examples.aiohttp_otp            # on OTP_HOST:OTP_PORT, 127.0.0.1:8000
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..otp_core import OtpService, OtpSettings, Reply

__all__ = ["create_app"]

#: The largest request body the OTP routes read (the webhook has the receiver's own limit).
MAX_BODY = 4 * 1024


def _json(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status)


async def _body(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when it is not one."""
    try:
        data = json.loads(await request.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def create_app(settings: OtpSettings | None = None) -> web.Application:
    """The app, configured from the environment unless ``settings`` are given.

    Raises:
        ConfigError: The environment is missing something (every problem named).
    """
    service = OtpService(settings or OtpSettings.from_env(os.environ))
    receiver = service.receiver

    async def run_service(app: web.Application) -> AsyncIterator[None]:
        async with service.running():
            yield

    async def webhook(request: web.Request) -> web.Response:
        answer = await receiver.respond(
            method=request.method,
            headers=request.headers,
            # Read in chunks, and only once the address and Authorization checks passed.
            body=request.content.iter_chunked(16 * 1024),
            client_host=request.remote,
        )
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def send_otp(request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None or "phone" not in body:
            return _json(Reply(422, {"error": 'expected {"phone": "+..."}'}))
        return _json(await service.send(body["phone"], client_ip=request.remote))

    async def otp_delivery(request: web.Request) -> web.Response:
        try:
            timeout = float(request.query.get("timeout", "10"))
        except ValueError:
            return _json(Reply(422, {"error": "timeout must be a number of seconds"}))
        return _json(await service.delivery(request.match_info["umid"], timeout=timeout))

    async def verify_otp(request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None:
            return _json(Reply(422, {"error": 'expected {"umid": "...", "code": "..."}'}))
        return _json(await service.verify(body.get("umid"), body.get("code")))

    app = web.Application(client_max_size=MAX_BODY)
    app.cleanup_ctx.append(run_service)
    # Every method reaches the receiver, which answers anything but POST with 405.
    app.router.add_route("*", "/webhooks/8x8/", webhook)
    app.router.add_route("*", "/webhooks/8x8", webhook)
    app.router.add_post("/otp", send_otp)
    app.router.add_get("/otp/{umid}/delivery", otp_delivery)
    app.router.add_post("/otp/verify", verify_otp)
    return app
