"""Regressions from a stranger's try of the issue-9 build, against real loopback servers.

- An ``http://`` download link to the sandbox's TLS port was reported as "failed after the
  request was sent (RemoteProtocolError)"; a base URL with the same mistake is told that the port
  speaks TLS and to use https://. The download now gets the same diagnosis.
- A server echoing the caller's API key, a bearer token or a phone number in its error message
  put them in the exception message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RetryPolicy
from eightxeight_async.sandbox import Sandbox

from .hostile import RawServer, answer, read_request

pytestmark = pytest.mark.integration

PHONE = "+6591234567"
KEY = "k-secret-key-XYZ"


async def test_http_download_link_to_a_tls_port_says_use_https() -> None:
    """The link's port speaks TLS: the error says so, as for a base URL, and names no token."""
    async with Sandbox() as sandbox, AsyncSmsClient(**sandbox.client_kwargs()) as client:
        link = (
            f"http://127.0.0.1:{sandbox.port}/api/v1/subaccounts/x/messages/download/tok-secret-9"
        )
        with pytest.raises(e.APIConnectionError) as info:
            async for _record in client.iter_log_records(link):
                pass
    message = str(info.value)
    assert "speaks TLS" in message
    assert "https://" in message
    assert "after the request was sent" not in message
    assert "tok-secret-9" not in message
    assert info.value.permanent


def _echoing(status: str, body: dict[str, Any]) -> Any:
    raw = answer(json.dumps(body).encode(), status=status)

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if await read_request(reader):
            server.count()
            writer.write(raw)
            await writer.drain()

    return handler


async def test_hostile_echo_of_key_token_and_number_is_masked() -> None:
    """The server echoes what it could have seen: none of it reaches the message."""
    body = {
        "code": 1000,
        "message": f"bad Bearer HOOKSECRET; your key {KEY}; number {PHONE}",
        "errorId": "e-1",
    }
    async with (
        RawServer(_echoing("400 Bad Request", body)) as server,
        AsyncSmsClient(
            api_key=KEY,
            subaccount_id="acme_hq",
            base_url=server.url,
            retry=RetryPolicy(max_attempts=1),
        ) as client,
    ):
        with pytest.raises(e.BadRequestError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    message = str(info.value)
    for secret in ("HOOKSECRET", KEY, PHONE, "91234567"):
        assert secret not in message, secret
    assert "[errorId e-1]" in message
