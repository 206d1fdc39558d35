"""Small servers on 127.0.0.1 that misbehave on purpose, and a CONNECT proxy that records."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import trustme

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

SMS_OK = json.dumps(
    {
        "umid": "0fc7b1ba-7f66-4e4b-a1c6-4b9b8a0e0d51",
        "clientMessageId": "c1",
        "destination": "6591234567",
        "encoding": "GSM7",
        "status": {"code": "QUEUED", "description": "SMS is accepted and queued for processing"},
    }
).encode()


DETAILS_OK = json.dumps(
    {
        "umid": "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9",
        "subAccountId": "acme_hq",
        "direction": "outbound",
        "country": "SG",
        "status": {"state": "delivered", "detail": "delivered_to_recipient"},
        "msisdn": "+65912xxxxx",
        "source": "Acme",
        "body": "**MASKED**",
        "encoding": "GSM7",
        "createdAt": "2020-06-17T04:17:21.06Z",
        "smsCount": 1,
    }
).encode()


def answer(body: bytes = SMS_OK, status: str = "200 OK", headers: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer with Content-Length."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + headers
        + b"\r\n"
        + body
    )


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request (head and Content-Length body); b"" when the peer closed first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return head + body


_S = TypeVar("_S", bound="_LoopbackServer")


class _LoopbackServer:
    """The lifecycle both test servers share: listen on 127.0.0.1, track handlers, hang up."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    def _track(self, writer: asyncio.StreamWriter) -> asyncio.Task[Any]:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self: _S) -> _S:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # Hang up on every client; each handler then ends on its own (cancelling it would make
        # asyncio log the cancellation).
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


class RawServer(_LoopbackServer):
    """An asyncio TCP server (TLS when given a context) that runs ``handler`` per connection.

    Attributes:
        requests: Requests the handlers counted (they call ``count``).
        connections: Connections accepted.
        open: Connections open right now.
        written: Bytes the handlers reported writing.
    """

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(ssl_context)
        self._handler = handler
        self.requests = 0
        self.connections = 0
        self.open = 0
        self.written = 0

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    def count(self) -> None:
        """Count one request."""
        self.requests += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        task = self._track(writer)
        try:
            await self._handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self.open -= 1


def tls_server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    """A TLS 1.3 server context with a certificate for ``hosts`` from ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert(*hosts).configure_cert(context)
    return context


class ConnectProxy(_LoopbackServer):
    """A CONNECT-only proxy that sends every tunnel to ``target_port`` on 127.0.0.1.

    It records what it sees: the CONNECT lines, and every byte that passes through a tunnel, so
    that a test can show that nothing secret crossed it in clear.
    """

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port
        self.connects: list[bytes] = []
        self.seen = bytearray()

    @property
    def url(self) -> str:
        """The proxy URL."""
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.seen += data
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = self._track(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.seen += head
            self.connects.append(head.split(b"\r\n", 1)[0])
            if not head.startswith(b"CONNECT "):
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.update((writer, up_writer))
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
