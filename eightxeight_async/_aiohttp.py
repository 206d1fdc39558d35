"""The aiohttp transport: httpx-aiohttp's adapter, with the session the SDK needs under it.

Two defaults of aiohttp's session do not fit an SDK that decides retries itself:

- aiohttp resends an idempotent request (GET) by itself when a reused connection fails, inside
  one attempt: the server then counts two requests for one rate-limit token. Only ``_retry``
  decides what is repeated, so the session's own retry is turned off.
- aiohttp reuses an idle connection as long as the event loop has not yet processed the peer's
  hang-up. A load balancer that closes idle connections without ``Connection: close`` then
  turns the next POST into "outcome unknown". Like httpcore, the connector here polls an idle
  connection's socket just before reusing it: a socket that is readable while idle holds either
  the peer's FIN or bytes nobody asked for, and the connection is closed instead of reused.
"""

from __future__ import annotations

import functools
import inspect
import select
import ssl
import sys
import time
from typing import Any, cast

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler
from httpx_aiohttp import AiohttpTransport

__all__ = ["SdkAiohttpTransport", "socket_is_readable"]


def socket_is_readable(transport: Any) -> bool:
    """Whether an idle connection's socket has something to read (a FIN, most likely).

    Returns:
        True when it is readable, or when its socket cannot be found (then it is not trusted).
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover (Windows)
    return bool(readable)


class _ClosingResponseHandler(ResponseHandler):
    """Marks the transport closed when the peer drops the connection (Python 3.10).

    Before 3.11, asyncio's SSL transport wrapper warns "unclosed transport" when it is collected
    after the peer hung up, unless someone called its ``close()``; aiohttp forgets the transport
    without doing so.
    """

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.transport is not None:
            self.transport.close()
        super().connection_lost(exc)


class _CheckedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that closes idle connections the peer has hung up before reusing one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if sys.version_info < (3, 11):
            factory = functools.partial(_ClosingResponseHandler, loop=self._loop)
            self._factory = cast("functools.partial[ResponseHandler]", factory)

    async def _get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        idle = self._conns.get(key)
        if idle:
            # The base class takes the oldest usable connection first: check from that end and
            # stop at the first one it will hand out, so a request polls one socket (not every
            # idle one: at 64 in flight that was most of this transport's overhead).
            now = time.monotonic()
            expiry = self._keepalive_timeout
            for proto, released in idle:
                if not proto.is_connected():
                    continue  # the base class discards it
                if expiry is not None and now - released > expiry:
                    continue  # likewise, as expired
                if socket_is_readable(proto.transport):
                    # Closing makes is_connected() false: the base class then discards it.
                    proto.close()
                    continue
                break
        return await super()._get(key, *args, **kwargs)


# `_get` (private) is a coroutine taking the connection key first in the aiohttp versions this
# was written against; on any other shape the stock connector is used, and only the tests of
# tests/integration/test_hostile_servers.py would notice.
_CONNECTOR: type[aiohttp.TCPConnector] = (
    _CheckedConnector
    if inspect.iscoroutinefunction(getattr(aiohttp.TCPConnector, "_get", None))
    else aiohttp.TCPConnector
)


class SdkAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport on a session that never retries and never reuses a dead socket.

    Args:
        ssl_context: The client's TLS 1.3 context, for the origin (also through a proxy tunnel).
        limits: The pool's size and keep-alive expiry.
        proxy: The proxy for every request of this transport, or None.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
        proxy: httpx.Proxy | None = None,
    ) -> None:
        super().__init__(
            verify=ssl_context,
            limits=limits,
            proxy=proxy,
            trust_env=False,
            client=self._new_session,
        )

    def _new_session(self) -> aiohttp.ClientSession:
        # Called by the base class on the first request, inside the running loop, as aiohttp
        # requires.
        connector = _CONNECTOR(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(connector=connector, trust_env=False)
        # aiohttp has no public switch for its resend of idempotent requests on a reused
        # connection (RFC 9112 9.3.1.1); tests/test_transport_hardening.py proves this one works.
        session._retry_connection = False
        return session
