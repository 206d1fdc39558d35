"""httpcore's network backend, with sockets that are closed when a TLS handshake is cancelled.

httpcore's anyio stream closes its socket when ``start_tls`` fails with an ``Exception``, but not
when the handshake is cancelled (``CancelledError`` is a ``BaseException``): a task cancelled
while connecting, or an attempt stopped by its deadline, then leaves the TCP connection open
until the garbage collector finds it (a ``ResourceWarning`` each, and an open connection at the
server meanwhile). This wrapper closes it on any exit but success.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["ClosingNetworkBackend", "install_closing_backend"]


class _ClosingStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            stream = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # The socket is closed synchronously, before aclose() first awaits: a second
            # cancellation arriving in that await cannot leave it open.
            with contextlib.suppress(BaseException):
                await self._inner.aclose()
            raise
        return _ClosingStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class ClosingNetworkBackend(httpcore.AsyncNetworkBackend):
    """Wraps a backend so that a cancelled or failed TLS handshake closes its socket.

    Args:
        inner: The backend httpcore would use (its auto-detected one).
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a TCP connection, whose TLS handshake closes it when it does not complete."""
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a Unix socket connection (not used by the SDK; kept for completeness)."""
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _ClosingStream(stream)

    async def sleep(self, seconds: float) -> None:
        """Sleep, as the wrapped backend does."""
        await self._inner.sleep(seconds)


def install_closing_backend(transport: Any) -> bool:
    """Wrap the network backend of an ``httpx.AsyncHTTPTransport``'s httpcore pool.

    httpx gives no way to pass a network backend, so the pool's attribute is replaced; when the
    pool does not have the attribute (another httpcore), nothing changes.

    Returns:
        Whether the backend was wrapped.
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.AsyncNetworkBackend):
        return False
    if not isinstance(backend, ClosingNetworkBackend):
        pool._network_backend = ClosingNetworkBackend(backend)  # type: ignore[union-attr]
    return True
