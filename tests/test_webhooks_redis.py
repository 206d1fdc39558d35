"""RedisDedupe against a real redis-server on 127.0.0.1 (started and stopped by the tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

pytest.importorskip("redis")

from eightxeight_async.webhooks import RedisDedupe, WebhookEvent, WebhookReceiver

from .redis_support import RedisServer


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """One redis-server for the module's tests (each test uses its own prefix)."""
    redis = RedisServer().start()
    try:
        yield redis
    finally:
        redis.cleanup()


@pytest.fixture
async def stores(
    server: RedisServer, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[RedisDedupe, RedisDedupe]]:
    """Two stores on two clients, as two receiver processes would have."""
    prefix = f"t:{request.node.name}:"
    first = RedisDedupe.from_url(server.url, prefix=prefix)
    second = RedisDedupe.from_url(server.url, prefix=prefix, ttl=5)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_dedupe_is_shared_between_processes(
    stores: tuple[RedisDedupe, RedisDedupe],
) -> None:
    """A key one process recorded is a duplicate for the other."""
    first, second = stores
    assert await first.first_seen("receipt:u1:delivered")
    assert not await second.first_seen("receipt:u1:delivered")
    assert await second.first_seen("receipt:u1:read")


async def test_redis_dedupe_keys_expire(stores: tuple[RedisDedupe, RedisDedupe]) -> None:
    """Each key is stored with the store's ttl, so Redis forgets it."""
    import redis.asyncio

    _, second = stores
    assert await second.first_seen("inbound:u2")
    client = second._redis
    assert isinstance(client, redis.asyncio.Redis)
    ttl_ms = await client.pttl(second._prefix + "inbound:u2")
    assert 0 < ttl_ms <= 5000


async def test_receivers_sharing_redis_hand_a_duplicate_on_once(
    stores: tuple[RedisDedupe, RedisDedupe],
) -> None:
    """A receipt posted to two receivers (two processes) reaches one handler once."""
    events: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        events.append(event)

    receipt = {
        "namespace": "SMS",
        "eventType": "outbound_message_status_changed",
        "payload": {"umid": "u3", "status": {"state": "delivered"}},
    }
    for store in stores:
        receiver = WebhookReceiver(handler, authorization="Basic x", dedupe=store)
        transport = httpx.ASGITransport(app=receiver)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.post(
                "/", content=json.dumps(receipt).encode(), headers={"Authorization": "Basic x"}
            )
        await receiver.drain()
        assert answer.status_code == 200
    assert len(events) == 1


def test_redis_dedupe_refuses_a_short_ttl() -> None:
    """A ttl under 1 second (or NaN) is a ValueError."""
    with pytest.raises(ValueError, match="ttl"):
        RedisDedupe(object(), ttl=0.5)
    with pytest.raises(ValueError, match="ttl"):
        RedisDedupe(object(), ttl=float("nan"))
