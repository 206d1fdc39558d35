"""The linear-time connection pool: the stock pool's decisions, without its repeated scans.

httpcore's own pool tests also run against it: scripts/httpcore-pool-tests.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore
import httpx
import pytest
from httpcore._async.connection_pool import AsyncPoolRequest

from eightxeight_async import _pool
from eightxeight_async._pool import LinearConnectionPool, install_linear_pool

ORIGIN = httpcore.URL("https://sms.8x8.com/").origin
OTHER = httpcore.URL("https://sms.8x8.uk/").origin


class FakeConnection:
    """Just the connection interface the assignment pass reads."""

    def __init__(
        self,
        origin: Any = ORIGIN,
        *,
        idle: bool = True,
        expired: bool = False,
        available: bool | None = None,
    ) -> None:
        self.origin = origin
        self.idle = idle
        self.available = available
        self.expired = expired
        self.closed = False
        self.expiry_checks = 0

    def is_closed(self) -> bool:
        return self.closed

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.idle if self.available is None else self.available

    def has_expired(self) -> bool:
        self.expiry_checks += 1
        return self.expired

    def can_handle_request(self, origin: Any) -> bool:
        return bool(origin == self.origin)


class FakeClock:
    """Stands in for the ``time`` module inside _pool."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_pool, "time", fake)
    return fake


def make_pool(
    max_connections: int = 3,
    keepalive: int | None = None,
    *,
    keepalive_expiry: float | None = None,
    http2: bool = False,
) -> LinearConnectionPool:
    pool = LinearConnectionPool(
        max_connections=max_connections,
        max_keepalive_connections=keepalive if keepalive is not None else max_connections,
        keepalive_expiry=keepalive_expiry,
        http2=http2,
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


# --- keep-alive expiry -------------------------------------------------------------------------


def test_zero_keepalive_expiry_closes_at_once(clock: FakeClock) -> None:
    """keepalive_expiry=0 closes a connection on the pass that sees it idle, sweep or not.

    httpcore's test_connection_pool_with_immediate_expiry failed here: the expiry of idle
    connections was only looked at once a second.
    """
    pool = make_pool(keepalive_expiry=0.0)
    pool._next_sweep = float("inf")
    done = FakeConnection(expired=True)
    pool._connections = [done]  # type: ignore[list-item]
    assert pool._assign_requests_to_connections() == [done]
    assert pool._connections == []


def test_idle_connection_closes_when_its_keepalive_is_up(clock: FakeClock) -> None:
    """The keep-alive time is checked on every pass; the socket poll waits until it is up."""
    pool = make_pool(keepalive_expiry=5.0)
    pool._next_sweep = float("inf")
    idle = FakeConnection()
    pool._connections = [idle]  # type: ignore[list-item]
    for _ in range(10):
        assert pool._assign_requests_to_connections() == []
        clock.now += 0.4  # four seconds in all
    assert idle.expiry_checks == 0
    clock.now += 1.5
    idle.expired = True
    assert pool._assign_requests_to_connections() == [idle]
    assert idle.expiry_checks == 1


async def test_reused_connection_starts_a_new_keepalive(clock: FakeClock) -> None:
    """A connection that served a request again is not taken for one idle since before."""
    pool = make_pool(max_connections=1, keepalive_expiry=5.0)
    pool._next_sweep = float("inf")
    connection = FakeConnection()
    pool._connections = [connection]  # type: ignore[list-item]
    pool._assign_requests_to_connections()  # first seen idle: due in 5 s
    clock.now += 4.0
    request = queue(pool)
    pool._assign_requests_to_connections()
    assert request.connection is connection
    assert connection.expiry_checks == 1  # the check at reuse
    pool._requests.remove(request)  # the request ran and released it, idle again now
    clock.now += 4.0  # 8 s after the first idle spell began, 4 s into this one
    pool._assign_requests_to_connections()
    assert connection.expiry_checks == 1


def test_sweep_still_finds_server_closes_without_keepalive_expiry(clock: FakeClock) -> None:
    """With no keep-alive limit, idle connections are still polled once a second."""
    pool = make_pool(keepalive_expiry=None)
    idle = FakeConnection()
    pool._connections = [idle]  # type: ignore[list-item]
    pool._assign_requests_to_connections()
    pool._assign_requests_to_connections()
    assert idle.expiry_checks == 1
    clock.now += _pool.SWEEP_INTERVAL
    idle.expired = True
    assert pool._assign_requests_to_connections() == [idle]


async def test_expiry_checks_per_request_stay_constant_at_256_in_flight(clock: FakeClock) -> None:
    """256 busy connections, one released and reused per request: one poll per request.

    The stock pass polls every connection on every pass (256 per request here).
    """
    pool = make_pool(max_connections=256, keepalive_expiry=5.0)
    connections = [FakeConnection(idle=False) for _ in range(256)]
    pool._connections = list(connections)  # type: ignore[arg-type]
    pool._assign_requests_to_connections()
    pool._next_sweep = float("inf")
    rounds = 1000
    for turn in range(rounds):
        released = connections[turn % 256]
        released.idle = True
        pool._assign_requests_to_connections()  # the release
        request = queue(pool)
        pool._assign_requests_to_connections()  # the next request
        assert request.connection is released
        released.idle = False
        pool._requests.remove(request)
        clock.now += 0.001
    assert sum(c.expiry_checks for c in connections) == rounds


# --- HTTP/2: a connection may carry several requests -------------------------------------------


async def test_http2_connection_is_shared() -> None:
    """With HTTP/2 on, an available busy connection takes further requests, as httpcore does."""
    pool = make_pool(max_connections=1, http2=True)
    shared = FakeConnection(idle=False, available=True)
    pool._connections = [shared]  # type: ignore[list-item]
    first, second = queue(pool), queue(pool)
    assert pool._assign_requests_to_connections() == []
    assert first.connection is shared
    assert second.connection is shared


async def test_http2_full_pool_keeps_looking_for_other_origins() -> None:
    """A request that must wait does not stop a later one for another origin being served."""
    pool = make_pool(max_connections=1, http2=True)
    shared = FakeConnection(OTHER, idle=False, available=True)
    pool._connections = [shared]  # type: ignore[list-item]
    waiting = queue(pool)
    served = queue(pool, "https://sms.8x8.uk/x")
    pool._assign_requests_to_connections()
    assert waiting.connection is None
    assert served.connection is shared


async def test_http2_idle_connection_is_checked_then_shared() -> None:
    """An idle HTTP/2 connection is checked for expiry once, then serves every queued request."""
    pool = make_pool(max_connections=1, http2=True)
    pool._next_sweep = float("inf")
    idle = FakeConnection()
    pool._connections = [idle]  # type: ignore[list-item]
    first, second = queue(pool), queue(pool)
    assert pool._assign_requests_to_connections() == []
    assert first.connection is idle
    assert second.connection is idle
    assert idle.expiry_checks == 1


async def test_http2_expired_idle_connection_is_replaced() -> None:
    """An expired idle HTTP/2 connection is closed at reuse and a new one opened."""
    pool = make_pool(max_connections=1, http2=True)
    pool._next_sweep = float("inf")
    dead = FakeConnection(expired=True)
    pool._connections = [dead]  # type: ignore[list-item]
    request = queue(pool)
    assert pool._assign_requests_to_connections() == [dead]
    assert request.connection is pool.created[0]  # type: ignore[attr-defined]


# --- installing the pool -----------------------------------------------------------------------

CONTEXT = ssl.create_default_context()
LIMITS = httpx.Limits(max_connections=7, max_keepalive_connections=5, keepalive_expiry=3.0)


def sdk_transport(**extra: Any) -> httpx.AsyncHTTPTransport:
    """The transport as build_http_client makes it, plus any setting it does not pass."""
    return httpx.AsyncHTTPTransport(verify=CONTEXT, limits=LIMITS, **extra)


def test_install_builds_the_pool_from_the_settings() -> None:
    """The pool is swapped on the SDK's transport, with its limits and SSL context."""
    transport = sdk_transport()
    assert install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    pool: Any = transport._pool
    assert type(pool) is LinearConnectionPool
    assert (pool._max_connections, pool._max_keepalive_connections) == (7, 5)
    assert pool._keepalive_expiry == 3.0
    assert pool._ssl_context is CONTEXT
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)  # ours now


@pytest.mark.parametrize(
    ("extra", "limits", "context"),
    [
        ({"http2": True}, LIMITS, CONTEXT),
        ({"retries": 2}, LIMITS, CONTEXT),
        ({"local_address": "127.0.0.1"}, LIMITS, CONTEXT),
        ({"uds": "/tmp/eightxeight.sock"}, LIMITS, CONTEXT),
        ({"socket_options": [(6, 1, 1)]}, LIMITS, CONTEXT),
        ({}, httpx.Limits(max_connections=8), CONTEXT),
        ({}, LIMITS, ssl.create_default_context()),
    ],
    ids=["http2", "retries", "local_address", "uds", "socket_options", "limits", "ssl_context"],
)
def test_install_refuses_any_setting_it_was_not_given(
    extra: dict[str, Any], limits: httpx.Limits, context: ssl.SSLContext
) -> None:
    """A transport whose pool holds any setting other than ours keeps the stock pool."""
    transport = sdk_transport(**extra)
    stock = transport._pool
    assert not install_linear_pool(transport, ssl_context=context, limits=limits)
    assert transport._pool is stock


@pytest.mark.skipif(not hasattr(httpcore, "Proxy"), reason="httpcore < 1.0.7 has no proxy setting")
def test_install_refuses_a_pool_with_a_proxy() -> None:
    """httpcore 1.0.7's ``proxy`` setting (which copying attributes by hand dropped) is kept."""
    transport = sdk_transport()
    stock = httpcore.AsyncConnectionPool(
        ssl_context=CONTEXT,
        proxy=httpcore.Proxy("http://127.0.0.1:3128/"),
        max_connections=7,
        max_keepalive_connections=5,
        keepalive_expiry=3.0,
    )
    transport._pool = stock
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    assert transport._pool is stock


def test_proxy_transport_keeps_its_pool() -> None:
    """httpx's proxy transports build another pool class: it stays."""
    transport = sdk_transport(proxy="http://127.0.0.1:3128")
    stock = transport._pool
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    assert transport._pool is stock
    assert not install_linear_pool(object(), ssl_context=CONTEXT, limits=LIMITS)  # type: ignore[arg-type]


def future_init(original: Any) -> Any:
    """A stock pool constructor with one more setting, as a later httpcore might have."""

    def __init__(self: Any, *args: Any, max_per_host: int | None = None, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._max_per_host = max_per_host

    return __init__


def test_install_refuses_a_pool_constructor_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new constructor parameter is a setting our pass may not honour: stock pool kept."""
    monkeypatch.setattr(
        httpcore.AsyncConnectionPool,
        "__init__",
        future_init(httpcore.AsyncConnectionPool.__init__),
    )
    transport = sdk_transport()
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    assert type(transport._pool) is httpcore.AsyncConnectionPool


def test_install_refuses_extra_state_in_the_stock_pool() -> None:
    """State the stock pool holds and ours would not (set by httpx, say): stock pool kept."""
    transport = sdk_transport()
    transport._pool._max_per_host = 2  # type: ignore[attr-defined]
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    assert type(transport._pool) is httpcore.AsyncConnectionPool


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (httpcore.AsyncConnectionPool, "_assign_requests_to_connections"),
        (httpcore.AsyncConnectionPool, "create_connection"),
        (AsyncPoolRequest, "is_queued"),
        (AsyncPoolRequest, "assign_to_connection"),
    ],
)
def test_install_refuses_a_pool_without_the_methods_it_relies_on(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    """Renamed internals keep the stock pool."""
    monkeypatch.delattr(owner, name)
    transport = sdk_transport()
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)
    assert type(transport._pool) is httpcore.AsyncConnectionPool


def test_install_refuses_when_httpcore_pool_was_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stock pool class that is not the one LinearConnectionPool extends is left alone."""

    class Other(httpcore.AsyncConnectionPool):
        pass

    monkeypatch.setattr(httpcore, "AsyncConnectionPool", Other)
    transport = sdk_transport()
    assert type(transport._pool) is Other
    assert not install_linear_pool(transport, ssl_context=CONTEXT, limits=LIMITS)


async def test_client_uses_the_linear_pool() -> None:
    """AsyncSmsClient's own pool is the linear one."""
    from eightxeight_async import AsyncSmsClient

    async with AsyncSmsClient(api_key="k") as client:
        assert isinstance(client._sender.client._transport._pool, LinearConnectionPool)  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_client_works_on_the_stock_pool_when_httpcore_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an httpcore whose pool the SDK does not know, the stock pool serves the calls."""
    from eightxeight_async import AsyncSmsClient
    from eightxeight_async.sandbox import Sandbox

    monkeypatch.setattr(
        httpcore.AsyncConnectionPool,
        "__init__",
        future_init(httpcore.AsyncConnectionPool.__init__),
    )
    async with (
        Sandbox() as sandbox,
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
    ):
        pool = client._sender.client._transport._pool  # type: ignore[attr-defined]
        assert type(pool) is httpcore.AsyncConnectionPool
        sent = await client.send_sms(destination="+6591234567", text="hi")
        details = await client.get_message(sent.umid)
        assert details.umid == sent.umid


def test_pool_module_names_no_unknown_state() -> None:
    """The state our pool adds is exactly what the install check sets aside."""
    ours = set(vars(LinearConnectionPool())) - set(vars(httpcore.AsyncConnectionPool()))
    assert ours == _pool._OWN_STATE


SHIM_TESTS = """
import httpcore
import pytest
from httpcore._async.connection_pool import AsyncConnectionPool as Stock


@pytest.mark.anyio
async def test_substituted(anyio_backend):
    async with httpcore.AsyncConnectionPool() as pool:
        assert "LinearConnectionPool" in [c.__name__ for c in type(pool).__mro__]
        assert repr(pool).startswith("<AsyncConnectionPool [")


@pytest.mark.trio
async def test_runs_under_trio():
    import trio

    await trio.sleep(0)


async def test_not_substituted():
    Stock()  # as if httpcore.AsyncConnectionPool() had been looked up before the swap
"""


@pytest.mark.integration
def test_conformance_shim_substitutes_and_fails_loudly(tmp_path: Any) -> None:
    """The conftest httpcore's tests run under puts our pool in, and fails a test it missed."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("trio")
    shim = Path(__file__).parent / "httpcore_conformance" / "pool_substitution.py"
    (tmp_path / "conftest.py").write_text(shim.read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_shim.py").write_text(SHIM_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert "PASSED test_shim.py::test_substituted[asyncio]" in out
    assert "PASSED test_shim.py::test_substituted[trio]" in out
    assert "PASSED test_shim.py::test_runs_under_trio" in out
    assert "ERROR test_shim.py::test_not_substituted" in out
    assert "not a LinearConnectionPool: not substituted" in out
    assert result.returncode == 1
