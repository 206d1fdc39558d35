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

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ..otp_core import (
    MAX_BODY,
    OtpService,
    OtpSettings,
    Reply,
    configure_logging,
    json_object,
    seconds,
    settings_from_env,
)

__all__ = ["create_app"]


def _json(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status)


async def _body(request: web.Request) -> dict[str, Any] | Reply:
    """The request's JSON object (up to MAX_BODY bytes), or the answer to give instead."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return Reply(413, {"error": f"the body is over {MAX_BODY} bytes"})
    data = json_object(raw)
    return Reply(422, {"error": "the body must be a JSON object"}) if data is None else data


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Aiohttp's own errors (404, 405...) in the app's shape, ``{"error": ...}``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json(Reply(exc.status, {"error": exc.reason}))


def create_app(settings: OtpSettings | None = None) -> web.Application:
    """The app, configured from the environment unless ``settings`` are given.

    Started without its configuration it prints what is missing and exits with status 2.
    """
    configure_logging()
    service = OtpService(settings or settings_from_env(os.environ))
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
        if isinstance(body, Reply):
            return _json(body)
        if "phone" not in body:
            return _json(Reply(422, {"error": 'expected {"phone": "+..."}'}))
        return _json(await service.send(body["phone"], client_ip=request.remote))

    async def otp_delivery(request: web.Request) -> web.Response:
        wait = seconds(request.query.get("timeout", "10"))
        if wait is None:
            return _json(Reply(422, {"error": "timeout must be a number of seconds"}))
        return _json(await service.delivery(request.match_info["umid"], timeout=wait))

    async def verify_otp(request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, Reply):
            return _json(body)
        return _json(await service.verify(body.get("umid"), body.get("code")))

    app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
    app.cleanup_ctx.append(run_service)
    # 8x8 posts to the URL as registered: with or without the trailing slash. Every method
    # reaches the receiver, which answers anything but POST with 405.
    app.router.add_route("*", "/webhooks/8x8/", webhook)
    app.router.add_route("*", "/webhooks/8x8", webhook)
    app.router.add_post("/otp", send_otp)
    app.router.add_get("/otp/{umid}/delivery", otp_delivery)
    app.router.add_post("/otp/verify", verify_otp)
    return app
