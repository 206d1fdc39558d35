"""An httpcore connection pool whose bookkeeping costs the same at 1 and at 256 requests in flight.

httpcore 1.0's ``AsyncConnectionPool._assign_requests_to_connections`` runs on every request and
every release. It walks all connections, and for each idle one counts all connections again (a
quadratic loop meant to enforce ``max_keepalive_connections``, which in fact compares the total);
it asks every connection whether it expired, each answer going through anyio's typed-attribute
machinery and a ``poll()``; and it hands a newly idle connection to every queued request, so that
all but one of them fail and retry (encode/httpcore PR 1035 describes both bugs). Measured here at
256 requests in flight, that pass was most of the client's CPU.

This subclass replaces only that method, keeping the stock pool's behaviour: reuse the oldest
idle connection for the origin, open a new one while under ``max_connections``, otherwise replace
an idle connection to another origin, and keep at most ``max_keepalive_connections`` idle. It
walks the connections once, checks an idle connection for expiry just before reusing it (and all
idle ones once a second), and assigns each idle connection to one request. The SDK never
enables HTTP/2, so no connection is shared by two requests.
"""

from __future__ import annotations

import time
from typing import Any

import httpcore

__all__ = ["LinearConnectionPool", "install_linear_pool"]


#: How often every idle connection is checked for expiry (a check polls its socket).
SWEEP_INTERVAL = 1.0


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """``httpcore.AsyncConnectionPool`` with a linear-time, retry-free assignment pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    def _take_idle(self, idle: list[Any], origin: Any, closing: list[Any]) -> Any | None:
        """Pop the oldest usable idle connection for ``origin``, closing expired ones met."""
        index = 0
        while index < len(idle):
            candidate = idle[index]
            if not (candidate.can_handle_request(origin) and candidate.is_available()):
                index += 1
                continue
            del idle[index]
            if candidate.has_expired():  # checked now, just before reuse, rather than every pass
                self._connections.remove(candidate)
                closing.append(candidate)
                continue
            return candidate
        return None

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_INTERVAL
        # Connections handed to a request that has not started on them yet look idle; the stock
        # pass would hand them out again.
        reserved = {id(r.connection) for r in self._requests if r.connection is not None}
        live: list[Any] = []
        idle: list[Any] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection.is_idle():
                if sweep and connection.has_expired():
                    closing.append(connection)
                    continue
                if id(connection) not in reserved:
                    idle.append(connection)
            live.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:
            evicted = idle[:surplus]
            idle = idle[surplus:]
            closing.extend(evicted)
            gone = {id(c) for c in evicted}
            live = [c for c in live if id(c) not in gone]
        self._connections = live

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            reuse = self._take_idle(idle, origin, closing)
            if reuse is not None:
                pool_request.assign_to_connection(reuse)
            elif len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            elif idle:
                stale = idle.pop(0)
                self._connections.remove(stale)
                closing.append(stale)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            else:
                break  # the pool is full of busy connections: the rest wait for a release
        return closing


_POOL_ATTRIBUTES = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")


def install_linear_pool(transport: Any) -> bool:
    """Swap an ``httpx.AsyncHTTPTransport``'s pool for :class:`LinearConnectionPool`.

    The new pool is built from the old one's settings before any connection exists. If httpx or
    httpcore ever change the internals this relies on, the stock pool is kept.

    Returns:
        Whether the pool was replaced.
    """
    pool = getattr(transport, "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool:
        return False
    if not all(hasattr(pool, name) for name in _POOL_ATTRIBUTES):
        return False
    try:
        replacement = LinearConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            http1=pool._http1,
            http2=pool._http2,
            retries=pool._retries,
            local_address=pool._local_address,
            uds=pool._uds,
            network_backend=pool._network_backend,
            socket_options=pool._socket_options,
        )
    except (AttributeError, TypeError):
        return False
    transport._pool = replacement
    return True
