"""Helpers for the tests of the sandbox's batch, export and account routes (raw httpx, real TLS)."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs
import httpx

from eightxeight_async.sandbox import Sandbox

from .openapi_check import response_conforms as conforms

PHONE = "+6591234567"
UK_PHONE = "+447911123456"


@asynccontextmanager
async def raw_client(
    sandbox: Sandbox, *, key: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A bare httpx client on the sandbox's origin, TLS checked against its CA, with its key."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    async with httpx.AsyncClient(
        verify=context,
        base_url=sandbox.base_url,
        headers={"Authorization": f"Bearer {key or sandbox.api_key}"},
    ) as http:
        yield http


def sub_path(sandbox: Sandbox, tail: str = "") -> str:
    """``/api/v1/subaccounts/{sub}/messages`` + ``tail``."""
    return f"/api/v1/subaccounts/{sandbox.subaccount_id}/messages{tail}"


def account_path(sandbox: Sandbox, tail: str) -> str:
    """``/api/v1/accounts/{accountId}`` + ``tail``."""
    return f"/api/v1/accounts/{sandbox.account_id}{tail}"


def ahead(sandbox: Sandbox, **delta: float) -> str:
    """An RFC 3339 time ``delta`` after the sandbox's now."""
    when: datetime = sandbox.state.clock.now() + timedelta(**delta)
    return when.isoformat()


def checked(answer: httpx.Response, status: int, code: int | None = None) -> Any:
    """Assert the status (and 8x8's error code), that it matches the file; the JSON or None."""
    assert answer.status_code == status, answer.text
    conforms(answer)
    payload = answer.json() if answer.content else None
    if code is not None:
        assert isinstance(payload, dict)
        assert payload["code"] == code, payload
    return payload


@attrs.define
class Sink:
    """What a local webhook receiver got: JSON bodies and their ``Authorization`` headers."""

    bodies: list[Any] = attrs.Factory(list)
    authorizations: list[str | None] = attrs.Factory(list)
    tokens_asked: list[dict[str, str]] = attrs.Factory(list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/token":  # an OAuth token endpoint (client credentials)
            form = dict(httpx.QueryParams(body.decode()))
            self.tokens_asked.append({**form, "authorization": headers.get("authorization", "")})
            answer = json.dumps({"access_token": "tok-123", "token_type": "Bearer"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        self.bodies.append(json.loads(body))
        self.authorizations.append(headers.get("authorization"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
