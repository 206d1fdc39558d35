"""Each injected fault meets the behaviour the contract promises, over real sockets."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Fault, Sandbox
from eightxeight_async.testing import retry_without_waiting

from .conftest import eventually

pytestmark = pytest.mark.integration

PHONE = "+6591234567"


async def test_429s_are_retried_after_retry_after(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """Two 429s then success: three requests, two waits of Retry-After (1 s)."""
    sandbox.faults.inject(Fault.RATE_LIMIT, 2)
    with retry_without_waiting() as waits:
        sent = await client.send_sms(destination=PHONE, text="hi")
    assert not sent.rejected
    assert sandbox.state.requests["send_sms"] == 3
    assert waits == [1.0, 1.0]


async def test_500s_are_retried_then_raised(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """500 / 2000 is retried up to max_attempts, then InternalServerError with code 2000."""
    sandbox.faults.inject(Fault.INTERNAL_ERROR, 10)
    with retry_without_waiting() as waits, pytest.raises(e.InternalServerError) as info:
        await client.send_sms(destination=PHONE, text="hi")
    assert info.value.code == 2000
    assert sandbox.state.requests["send_sms"] == RetryPolicy().max_attempts
    assert len(waits) == RetryPolicy().max_attempts - 1


async def test_dropped_send_is_outcome_unknown_with_one_request(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """A send whose connection drops after the request: SendOutcomeUnknownError, one request."""
    sandbox.faults.inject(Fault.DROP)
    with retry_without_waiting(), pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_sms(destination=PHONE, text="hi", client_message_id="drop-1")
    assert info.value.client_message_id == "drop-1"
    assert sandbox.state.requests["send_sms"] == 1


async def test_dropped_details_request_is_retried(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """get_message is harmless to repeat: a drop is retried and the call succeeds."""
    sent = await client.send_sms(destination=PHONE, text="hi")
    sandbox.faults.inject(Fault.DROP, endpoint="get_message")
    with retry_without_waiting():
        details = await client.get_message(sent.umid)
    assert details.umid == sent.umid
    assert sandbox.state.requests["get_message"] == 2


async def test_slow_send_times_out_as_outcome_unknown(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """A send that outlives its timeout is not replayed: SendOutcomeUnknownError."""
    sandbox.faults.inject(Fault.SLOW)
    with retry_without_waiting(), pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_sms(destination=PHONE, text="hi", timeout=0.2)
    assert "timed out" in str(info.value)
    assert sandbox.state.requests["send_sms"] == 1


async def test_slow_details_are_retried(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """A timed-out get_message is retried."""
    sent = await client.send_sms(destination=PHONE, text="hi")
    sandbox.faults.inject(Fault.SLOW, endpoint="get_message")
    with retry_without_waiting():
        details = await client.get_message(sent.umid, timeout=0.3)
    assert details.umid == sent.umid
    assert sandbox.state.requests["get_message"] == 2


async def test_426_is_not_retried(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """426 / code 1014 raises UpgradeRequiredError after one request."""
    sandbox.faults.inject(Fault.UPGRADE_REQUIRED)
    with retry_without_waiting() as waits, pytest.raises(e.UpgradeRequiredError) as info:
        await client.send_sms(destination=PHONE, text="hi")
    assert info.value.code == 1014
    assert info.value.response.headers["Upgrade"] == "TLS/1.3"
    assert sandbox.state.requests["send_sms"] == 1
    assert waits == []


async def test_tls12_only_server_is_tls_version_error_without_retry(
    caplog: pytest.LogCaptureFixture, transport: TransportTypes
) -> None:
    """Against a TLS 1.2-only server: TLSVersionError after one attempt, nothing sent."""
    async with Sandbox(tls12_only=True) as server:
        async with AsyncSmsClient(**server.client_kwargs(), transport=transport) as client:
            with (
                caplog.at_level(logging.DEBUG, logger="eightxeight_async"),
                pytest.raises(e.TLSVersionError),
            ):
                await client.send_sms(destination=PHONE, text="hi")
        assert sum(server.state.requests.values()) == 0
    attempts = [r for r in caplog.records if r.name == "eightxeight_async"]
    assert len(attempts) == 1
    assert "TLSVersionError" in attempts[0].getMessage()


async def test_wrong_ca_is_a_connection_error_without_retry(
    sandbox: Sandbox, transport: TransportTypes
) -> None:
    """A certificate the client does not trust is an APIConnectionError, never retried."""
    # The default verify=True trusts certifi's CAs, which do not know the sandbox's.
    async with AsyncSmsClient(
        api_key=sandbox.api_key,
        subaccount_id=sandbox.subaccount_id,
        base_url=sandbox.base_url,
        transport=transport,
    ) as client:
        with retry_without_waiting() as waits, pytest.raises(e.APIConnectionError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert type(info.value) is e.APIConnectionError
    assert "certificate" in str(info.value)
    assert waits == []


async def test_connection_refused_is_retried_then_raised(
    tmp_path: Path, transport: TransportTypes
) -> None:
    """Nothing listening: connection errors before sending are retried, then raised."""
    async with Sandbox(cert_dir=tmp_path) as server:
        kwargs = server.client_kwargs()
    async with AsyncSmsClient(**kwargs, transport=transport) as client:
        with retry_without_waiting() as waits, pytest.raises(e.APIConnectionError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert "nothing was sent" in str(info.value)
    assert len(waits) == RetryPolicy().max_attempts - 1


async def test_details_limit_holds_with_three_concurrent_callers(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """Three concurrent get_message calls after a send: three requests, and not one 429.

    The spacing itself is checked in virtual time (tests/test_ratelimit.py); this checks that
    the sandbox, which enforces 8x8's 1 request/s, agrees over real sockets.
    """
    sandbox.state.details_jitter = 0.2
    sent = await client.send_sms(destination=PHONE, text="hi")
    results = await asyncio.gather(*(client.get_message(sent.umid) for _ in range(3)))
    assert len(results) == 3
    assert sandbox.state.requests["get_message"] == 3
    assert sandbox.state.rate_limited[sandbox.subaccount_id] == 0


async def test_no_connection_leaks_after_faults_and_aclose(
    sandbox: Sandbox, transport: TransportTypes
) -> None:
    """After a run of faults and aclose(), the server sees every connection closed."""
    sandbox.state.details_per_second = 1000.0  # this test is about connections, not the limit
    client = AsyncSmsClient(
        **sandbox.client_kwargs(),
        rate_limits=RateLimits(details_per_second=1000, details_burst=10),
        transport=transport,
    )
    sent = await client.send_sms(destination=PHONE, text="hi")
    with retry_without_waiting():
        for fault in (Fault.RATE_LIMIT, Fault.INTERNAL_ERROR, Fault.DROP, Fault.SLOW):
            sandbox.faults.inject(fault, endpoint="get_message")
            await client.get_message(sent.umid, timeout=0.3)
        sandbox.faults.inject(Fault.DROP, endpoint="send_sms")
        with pytest.raises(e.SendOutcomeUnknownError):
            await client.send_sms(destination=PHONE, text="hi")
        await asyncio.gather(*(client.send_sms(destination=PHONE, text="x") for _ in range(20)))
    assert sandbox.open_connections > 0
    await client.aclose()
    await eventually(lambda: sandbox.open_connections == 0)


def connections_in_use(client: AsyncSmsClient) -> int:
    """Connections the client's pool has lent out, for either transport."""
    transport: Any = client._sender.client._transport
    pool = getattr(transport, "_pool", None)
    if pool is not None:
        return len([c for c in pool.connections if not c.is_idle() and not c.is_closed()])
    return len(transport.client.connector._acquired)


async def test_cancelled_request_releases_its_connection(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """A task cancelled mid-request frees its pool connection and does not block the next call."""
    sent = await client.send_sms(destination=PHONE, text="hi")
    sandbox.faults.inject(Fault.SLOW, endpoint="get_message")
    task = asyncio.create_task(client.get_message(sent.umid))
    await eventually(lambda: sandbox.state.requests["get_message"] == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert connections_in_use(client) == 0
    details = await client.get_message(sent.umid)
    assert details.umid == sent.umid
