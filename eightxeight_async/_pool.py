"""An httpcore connection pool whose bookkeeping costs the same at 1 and at 256 requests in flight.

httpcore 1.0's ``AsyncConnectionPool._assign_requests_to_connections`` runs on every request and
every release. It walks all connections, and for each idle one counts all connections again (a
quadratic loop meant to enforce ``max_keepalive_connections``, which in fact compares the total);
it asks every connection whether it expired, each answer going through anyio's typed-attribute
machinery and a ``poll()``; and it hands a newly idle connection to every queued request, so that
all but one of them fail and retry (encode/httpcore PR 1035 describes both bugs). Measured here at
256 requests in flight, that pass was most of the client's CPU.

This subclass replaces only that method, keeping the stock pool's behaviour: reuse the oldest
available connection for the origin, open a new one while under ``max_connections``, otherwise
replace an idle connection, keep at most ``max_keepalive_connections`` idle, and close idle
connections once ``keepalive_expiry`` has passed. It walks the connections once, and asks an
idle connection ``has_expired()`` (the socket poll) only when it is about to be reused, when its
keep-alive time is up, and once a second otherwise, to notice servers that hung up. With HTTP/1.1
only (the SDK never enables HTTP/2), a connection is handed to one request at a time; with
HTTP/2 enabled, a connection may be handed to several, as httpcore does.

httpcore's own pool and cancellation tests run against this class in CI
(``scripts/httpcore-pool-tests``).
"""

from __future__ import annotations

import inspect
import ssl
import time
from typing import Any

import httpcore
import httpx

__all__ = ["LinearConnectionPool", "install_linear_pool"]


#: How often every idle connection is checked for a server-side close (a check polls its socket).
SWEEP_INTERVAL = 1.0

_NEVER = float("inf")


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """``httpcore.AsyncConnectionPool`` with a linear-time, retry-free assignment pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0
        # id(idle connection) -> when its keep-alive time is up, as first seen idle by a pass.
        self._idle_due: dict[int, float] = {}

    def _reuse(self, idle: list[Any], origin: Any, closing: list[Any]) -> Any | None:
        """Pop the oldest usable idle connection for ``origin``, closing expired ones met."""
        index = 0
        while index < len(idle):
            candidate = idle[index]
            if not (candidate.can_handle_request(origin) and candidate.is_available()):
                index += 1
                continue
            del idle[index]
            if candidate.has_expired():  # checked now, just before reuse, rather than every pass
                self._drop(candidate, closing)
                continue
            return candidate
        return None

    def _drop(self, connection: Any, closing: list[Any]) -> None:
        self._connections.remove(connection)
        self._idle_due.pop(id(connection), None)
        closing.append(connection)

    def _share(self, idle: list[Any], origin: Any, closing: list[Any]) -> Any | None:
        """The first available connection for ``origin``, idle or not (HTTP/2 multiplexes)."""
        idle_ids = {id(c) for c in idle}
        for candidate in list(self._connections):
            if not (candidate.can_handle_request(origin) and candidate.is_available()):
                continue
            if id(candidate) in idle_ids:
                idle.remove(candidate)
                if candidate.has_expired():
                    self._drop(candidate, closing)
                    continue
            return candidate
        return None

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_INTERVAL
        expiry = self._keepalive_expiry
        share = self._http2
        # Over HTTP/1.1, a connection handed to a request that has not started on it yet still
        # looks idle; the stock pass would hand it out again.
        reserved = (
            set()
            if share
            else {id(r.connection) for r in self._requests if r.connection is not None}
        )
        previous_due = self._idle_due
        idle_due: dict[int, float] = {}
        live: list[Any] = []
        idle: list[Any] = []
        connection: Any
        for connection in self._connections:
            if connection.is_closed():
                continue
            key = id(connection)
            if connection.is_idle() and key not in reserved:
                due = previous_due.get(key)
                if due is None:
                    due = _NEVER if expiry is None else now + expiry
                # Only the clock is read for every idle connection on every pass: has_expired()
                # (which also polls the socket) runs once the keep-alive time is up, or on a sweep.
                if (sweep or now >= due) and connection.has_expired():
                    closing.append(connection)
                    continue
                idle_due[key] = due
                idle.append(connection)
            live.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:
            evicted = idle[:surplus]
            idle = idle[surplus:]
            closing.extend(evicted)
            gone = {id(c) for c in evicted}
            live = [c for c in live if id(c) not in gone]
            for key in gone:
                del idle_due[key]
        self._connections = live
        self._idle_due = idle_due

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            if share:
                connection = self._share(idle, origin, closing)
            else:
                connection = self._reuse(idle, origin, closing)
            if connection is None:
                if len(self._connections) < self._max_connections:
                    connection = self.create_connection(origin)
                    self._connections.append(connection)
                elif idle:
                    self._drop(idle.pop(0), closing)
                    connection = self.create_connection(origin)
                    self._connections.append(connection)
                elif share:
                    continue  # a request to another origin may still find a shared connection
                else:
                    break  # the pool is full of busy connections: the rest wait for a release
            pool_request.assign_to_connection(connection)
            # Its next idle spell starts its keep-alive time afresh.
            self._idle_due.pop(id(connection), None)
        return closing


# What the stock pool's constructor took in httpcore 1.0.5 to 1.0.9. A parameter outside this set
# is a setting the assignment pass above might not honour, so the stock pool is kept.
_KNOWN_PARAMETERS = frozenset(
    {
        "ssl_context",
        "proxy",
        "max_connections",
        "max_keepalive_connections",
        "keepalive_expiry",
        "http1",
        "http2",
        "retries",
        "local_address",
        "uds",
        "network_backend",
        "socket_options",
    }
)
# The state the assignment pass reads or writes.
_USED_STATE = frozenset(
    {
        "_connections",
        "_requests",
        "_max_connections",
        "_max_keepalive_connections",
        "_keepalive_expiry",
        "_http2",
    }
)
_OWN_STATE = frozenset({"_next_sweep", "_idle_due"})


def _pool_api_is_known() -> bool:
    """Whether the installed httpcore's pool is one this module was written against."""
    stock = httpcore.AsyncConnectionPool
    if not issubclass(LinearConnectionPool, stock):  # httpcore.AsyncConnectionPool was replaced
        return False
    parameters = set(inspect.signature(stock.__init__).parameters) - {"self"}
    if not parameters <= _KNOWN_PARAMETERS:
        return False
    # The request wrapper the stock pool's own code uses (classes carry __module__ "httpcore").
    namespace = getattr(getattr(stock, "handle_async_request", None), "__globals__", {})
    request_class = namespace.get("AsyncPoolRequest")
    return all(
        callable(getattr(owner, name, None))
        for owner, name in (
            (stock, "_assign_requests_to_connections"),
            (stock, "create_connection"),
            (request_class, "is_queued"),
            (request_class, "assign_to_connection"),
        )
    )


def _same_value(theirs: object, ours: object) -> bool:
    if theirs is ours:
        return True
    if type(theirs) is not type(ours):
        return False
    if theirs == ours:
        return True
    # The helpers each pool builds for itself (its network backend, its lock) compare by
    # identity: equal when built alike. Anything else (the SSL context) must be the same object.
    return (
        type(theirs).__module__.startswith("httpcore.")
        and type(theirs).__eq__ is object.__eq__
        and vars(theirs) == vars(ours)
    )


def _same_settings(stock: object, ours: LinearConnectionPool) -> bool:
    """Whether ``ours`` holds exactly the state ``stock`` holds, apart from our own additions."""
    theirs, mine = vars(stock), vars(ours)
    if set(mine) - _OWN_STATE != set(theirs) or not set(theirs) >= _USED_STATE:
        return False
    return all(_same_value(value, mine[name]) for name, value in theirs.items())


def install_linear_pool(
    transport: httpx.AsyncHTTPTransport, *, ssl_context: ssl.SSLContext, limits: httpx.Limits
) -> bool:
    """Give an httpx transport built from these settings alone a :class:`LinearConnectionPool`.

    The new pool is built from the SDK's own settings, not copied from the transport's, and
    only replaces the stock pool when the two hold exactly the same state (so a setting httpx
    passed that we did not, or any change in httpcore's pool, keeps the stock pool). A proxy
    transport's pool is another class and is kept too. Call it before any request.

    Args:
        transport: An ``httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)``.
        ssl_context: The SSL context it was given.
        limits: The limits it was given.

    Returns:
        Whether the pool was replaced.
    """
    stock = getattr(transport, "_pool", None)
    if type(stock) is not httpcore.AsyncConnectionPool or not _pool_api_is_known():
        return False
    # httpx passed these very arguments (and maybe more) to the stock pool a moment ago.
    pool = LinearConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    if not _same_settings(stock, pool):
        return False
    transport._pool = pool
    return True
