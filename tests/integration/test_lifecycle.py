"""The client's lifecycle over real sockets: aclose() with calls in flight, connections after
failed retries, the second event loop, and the sandbox's CA bundle from the environment."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import attrs
import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Fault, Sandbox
from eightxeight_async.testing import retry_without_waiting

from .conftest import eventually

pytestmark = pytest.mark.integration

PHONE = "+6591234567"


def connections_in_use(client: AsyncSmsClient) -> int:
    """Connections the client's pool has lent out (or requests it holds), for either transport."""
    transport: Any = client._sender.client._transport
    proxied = getattr(transport, "proxied", None)  # a proxy router wraps the pool
    if proxied is not None:
        transport = proxied
    pool = getattr(transport, "_pool", None)
    if pool is not None:
        busy = [c for c in pool.connections if not c.is_idle() and not c.is_closed()]
        return len(busy) + len(pool._requests)
    return len(transport.client.connector._acquired)


def total_requests(sandbox: Sandbox) -> int:
    return sum(sandbox.state.requests.values())


async def test_aclose_with_sends_in_flight_and_queued(
    sandbox: Sandbox, transport: TransportTypes
) -> None:
    """aclose() ends every call with our error, closes every connection, and nothing more
    reaches the server once it has returned."""
    sandbox.faults.share_slow = 1.0
    sandbox.faults.slow_seconds = 1.0  # answers that would come after aclose()
    client = AsyncSmsClient(
        **sandbox.client_kwargs(),
        transport=transport,
        max_connections=4,
        rate_limits=RateLimits(send_per_second=100.0, send_burst=6),
    )
    calls = [
        asyncio.create_task(
            client.send_sms(destination=PHONE, text="hi", client_message_id=f"m{i}")
        )
        for i in range(30)
    ]
    await eventually(lambda: total_requests(sandbox) >= 4)
    await client.aclose()
    arrived = total_requests(sandbox)
    results = await asyncio.gather(*calls, return_exceptions=True)
    kinds = Counter(type(r).__name__ for r in results)
    assert set(kinds) <= {"SendOutcomeUnknownError", "APIConnectionError"}, kinds
    assert kinds["SendOutcomeUnknownError"] >= 4  # on the wire: the outcome is unknown
    for result in results:
        if type(result) is e.APIConnectionError:
            assert "closed with aclose() before this request was sent" in str(result)
            assert "nothing was sent" in str(result)
        else:
            assert "aclose" in str(result)
    # Ambiguous sends never outnumber what reached the server.
    assert kinds["SendOutcomeUnknownError"] <= arrived
    await eventually(lambda: sandbox.open_connections == 0)
    await asyncio.sleep(0.3)  # anything still on its way would arrive now
    assert total_requests(sandbox) == arrived


async def test_aclose_stops_a_details_call_waiting_for_its_token(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """A get_message queued behind the 1/s bucket is never sent once aclose() ran."""
    sent = await client.send_sms(destination=PHONE, text="hi")
    await client.get_message(sent.umid)
    waiting = asyncio.create_task(client.get_message(sent.umid))
    # Started and queued behind its token (an event, not a guess at how long that takes).
    await eventually(lambda: waiting in client._core.calls)
    await client.aclose()
    with pytest.raises(e.APIConnectionError, match="nothing was sent"):
        await waiting
    await eventually(lambda: sandbox.open_connections == 0)
    assert sandbox.state.requests["get_message"] == 1


@pytest.mark.parametrize(
    ("fault", "endpoint", "error"),
    [
        (Fault.INTERNAL_ERROR, "send_sms", e.InternalServerError),
        (Fault.INTERNAL_ERROR, "get_message", e.InternalServerError),
        (Fault.DROP, "get_message", e.APIConnectionError),
        (Fault.SLOW, "get_message", e.APITimeoutError),
        (Fault.DROP, "send_sms", e.SendOutcomeUnknownError),
        (Fault.SLOW, "send_sms", e.SendOutcomeUnknownError),
    ],
)
async def test_failed_attempts_leave_no_connection_checked_out(
    sandbox: Sandbox,
    transport: TransportTypes,
    fault: Fault,
    endpoint: str,
    error: type[Exception],
) -> None:
    """After every attempt failed (500s, drops, timeouts), the pool lends nothing out, and
    aclose() leaves the server with no open connection."""
    sandbox.state.details_per_second = 1000.0  # about connections, not the limit
    sandbox.faults.slow_seconds = 0.6  # beyond timeout=0.3, and over before teardown
    limits = RateLimits(details_per_second=1000.0, details_burst=10)
    async with AsyncSmsClient(
        **sandbox.client_kwargs(), transport=transport, rate_limits=limits, timeout=0.3
    ) as client:
        sent = await client.send_sms(destination=PHONE, text="hi")
        before = sandbox.state.requests[endpoint]
        sandbox.faults.inject(fault, RetryPolicy().max_attempts, endpoint=endpoint)
        call = (
            client.send_sms(destination=PHONE, text="hi")
            if endpoint == "send_sms"
            else client.get_message(sent.umid)
        )
        with retry_without_waiting(), pytest.raises(error):
            await call
        attempts = sandbox.state.requests[endpoint] - before
        assert attempts >= 1
        assert connections_in_use(client) == 0
        assert (await client.get_message(sent.umid)).umid == sent.umid  # the pool still works
        assert connections_in_use(client) == 0
    await eventually(lambda: sandbox.open_connections == 0)


def test_second_event_loop_is_refused_before_any_io(transport: TransportTypes) -> None:
    """A client used in one asyncio.run (a module-level client) and again in another raises
    the rule, not "Event loop is closed" or "bound to a different event loop"; the second
    sandbox never sees a request."""
    holder: dict[str, AsyncSmsClient] = {}

    async def first() -> None:
        async with Sandbox() as server:
            client = AsyncSmsClient(**server.client_kwargs(), transport=transport)
            holder["client"] = client
            await client.send_sms(destination=PHONE, text="hi")
            # The client stays open and bound to this loop; only its sockets are let go here,
            # so that none is left for the garbage collector to complain about.
            await client._sender.client.aclose()

    async def second() -> int:
        async with Sandbox() as server:
            client = holder["client"]
            # The same client, pointed at a live server.
            client._settings = attrs.evolve(client._settings, base_url=server.base_url)
            for _ in range(2):
                with pytest.raises(RuntimeError, match="belongs to the event loop that first"):
                    await client.send_sms(destination=PHONE, text="hi")
            with pytest.raises(RuntimeError, match="create one per loop"):
                await client.aclose()
            return total_requests(server)

    asyncio.run(first())
    assert asyncio.run(second()) == 0


async def test_ca_bundle_from_the_environment_reaches_the_sandbox(
    sandbox: Sandbox, transport: TransportTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's FastAPI example: the variables the sandbox prints are enough."""
    assert sandbox.ca_path is not None
    monkeypatch.setenv("EIGHTXEIGHT_CA_BUNDLE", str(sandbox.ca_path))
    monkeypatch.setenv("EIGHTXEIGHT_API_KEY", sandbox.api_key)
    monkeypatch.setenv("EIGHTXEIGHT_SUBACCOUNT_ID", sandbox.subaccount_id)
    monkeypatch.setenv("EIGHTXEIGHT_BASE_URL", sandbox.base_url)
    async with AsyncSmsClient(transport=transport) as client:
        sent = await client.send_sms(destination=PHONE, text="hi")
    assert not sent.rejected
