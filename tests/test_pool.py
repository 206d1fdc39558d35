"""The linear-time connection pool: the stock pool's decisions, without its repeated scans."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
from httpcore._async.connection_pool import AsyncPoolRequest

from eightxeight_async._pool import LinearConnectionPool, install_linear_pool

ORIGIN = httpcore.URL("https://sms.8x8.com/").origin
OTHER = httpcore.URL("https://sms.8x8.uk/").origin


class FakeConnection:
    """Just the connection interface the assignment pass reads."""

    def __init__(self, origin: Any = ORIGIN, *, idle: bool = True, expired: bool = False) -> None:
        self.origin = origin
        self.idle = idle
        self.expired = expired
        self.closed = False
        self.expiry_checks = 0

    def is_closed(self) -> bool:
        return self.closed

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.idle

    def has_expired(self) -> bool:
        self.expiry_checks += 1
        return self.expired

    def can_handle_request(self, origin: Any) -> bool:
        return bool(origin == self.origin)


def make_pool(max_connections: int = 3, keepalive: int | None = None) -> LinearConnectionPool:
    pool = LinearConnectionPool(
        max_connections=max_connections, max_keepalive_connections=keepalive or max_connections
    )
    created: list[FakeConnection] = []

    def create_connection(origin: Any) -> FakeConnection:
        connection = FakeConnection(origin, idle=False)
        created.append(connection)
        return connection

    pool.create_connection = create_connection  # type: ignore[method-assign,assignment]
    pool.created = created  # type: ignore[attr-defined]
    return pool


def queue(pool: LinearConnectionPool, url: str = "https://sms.8x8.com/x") -> Any:
    pool_request = AsyncPoolRequest(httpcore.Request("POST", url))
    pool._requests.append(pool_request)
    return pool_request


async def test_idle_connection_goes_to_one_request_only() -> None:
    """A newly idle connection is handed to one queued request, never to all of them."""
    pool = make_pool(max_connections=1)
    idle = FakeConnection()
    pool._connections = [idle]  # type: ignore[list-item]
    first, second = queue(pool), queue(pool)
    assert pool._assign_requests_to_connections() == []
    assert first.connection is idle
    assert second.connection is None  # stays queued: the stock pool would hand it `idle` too


async def test_new_connections_up_to_the_limit() -> None:
    """Below max_connections a queued request gets a new connection; at the limit it waits."""
    pool = make_pool(max_connections=2)
    requests = [queue(pool) for _ in range(3)]
    pool._assign_requests_to_connections()
    assert [r.connection is not None for r in requests] == [True, True, False]
    assert len(pool.created) == 2  # type: ignore[attr-defined]


async def test_reserved_connection_is_not_reassigned() -> None:
    """A connection assigned to a request that has not started yet is not handed out again."""
    pool = make_pool(max_connections=1)
    idle = FakeConnection()
    pool._connections = [idle]  # type: ignore[list-item]
    first = queue(pool)
    pool._assign_requests_to_connections()
    second = queue(pool)
    pool._assign_requests_to_connections()
    assert first.connection is idle
    assert second.connection is None


async def test_expired_connection_is_replaced_before_reuse() -> None:
    """An idle connection the server closed is dropped at reuse time and a new one opened."""
    pool = make_pool(max_connections=2)
    dead = FakeConnection(expired=True)
    pool._connections = [dead]  # type: ignore[list-item]
    pool._next_sweep = float("inf")  # no sweep: the check at reuse must catch it
    request = queue(pool)
    closing = pool._assign_requests_to_connections()
    assert closing == [dead]
    assert request.connection is pool.created[0]  # type: ignore[attr-defined]
    assert dead not in list(pool._connections)  # type: ignore[comparison-overlap]


def test_busy_connections_are_not_polled() -> None:
    """Expiry checks (a socket poll each) happen on idle connections only."""
    pool = make_pool(max_connections=3)
    busy = [FakeConnection(idle=False) for _ in range(3)]
    pool._connections = busy  # type: ignore[assignment]
    pool._assign_requests_to_connections()
    assert [c.expiry_checks for c in busy] == [0, 0, 0]


def test_keepalive_limit_evicts_oldest_idle() -> None:
    """Idle connections beyond max_keepalive_connections are closed, oldest first."""
    pool = make_pool(max_connections=4, keepalive=1)
    idle = [FakeConnection() for _ in range(3)]
    pool._connections = list(idle)  # type: ignore[arg-type]
    closing = pool._assign_requests_to_connections()
    assert closing == idle[:2]
    assert pool._connections == [idle[2]]  # type: ignore[comparison-overlap]


async def test_full_pool_replaces_idle_connection_to_other_origin() -> None:
    """With the pool full, an idle connection to another host makes room."""
    pool = make_pool(max_connections=1)
    other = FakeConnection(OTHER)
    pool._connections = [other]  # type: ignore[list-item]
    request = queue(pool)
    closing = pool._assign_requests_to_connections()
    assert closing == [other]
    assert request.connection is pool.created[0]  # type: ignore[attr-defined]


def test_closed_connections_are_forgotten() -> None:
    """Closed connections leave the pool."""
    pool = make_pool()
    gone = FakeConnection()
    gone.closed = True
    pool._connections = [gone]  # type: ignore[list-item]
    pool._assign_requests_to_connections()
    assert pool._connections == []


def test_install_replaces_only_the_stock_pool() -> None:
    """The pool is swapped on a plain transport, keeping its limits; anything else is left."""
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=7))
    assert install_linear_pool(transport)
    pool = transport._pool
    assert isinstance(pool, LinearConnectionPool)
    assert pool._max_connections == 7
    assert not install_linear_pool(transport)  # already ours
    assert not install_linear_pool(object())


async def test_client_uses_the_linear_pool() -> None:
    """AsyncSmsClient's own pool is the linear one."""
    from eightxeight_async import AsyncSmsClient

    async with AsyncSmsClient(api_key="k") as client:
        assert isinstance(client._sender.client._transport._pool, LinearConnectionPool)  # type: ignore[attr-defined]
