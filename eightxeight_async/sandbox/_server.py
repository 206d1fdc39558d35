"""The sandbox server: uvicorn on 127.0.0.1, TLS 1.3 only, with a trustme CA written to disk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypedDict

import trustme
import uvicorn

from ._app import SandboxState, build_app
from ._faults import Faults

__all__ = ["DEFAULT_SUBACCOUNT", "ClientKwargs", "Sandbox"]

DEFAULT_SUBACCOUNT = "sandbox_hq"


class ClientKwargs(TypedDict):
    """The ``AsyncSmsClient`` arguments that point at a sandbox."""

    api_key: str
    subaccount_id: str
    base_url: str
    verify: str


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (a test runner, the CLI)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Sandbox:
    """A local imitation of 8x8's SMS API, served over TLS 1.3 on 127.0.0.1.

    Example::

        async with Sandbox() as sandbox:
            async with AsyncSmsClient(**sandbox.client_kwargs()) as client:
                sent = await client.send_sms(destination="+6591234567", text="Hi")

    Args:
        api_key: The key the sandbox accepts; random when omitted.
        subaccounts: The subaccounts the key owns (any other gets code 1001).
        host: The address to listen on.
        port: The port; 0 picks a free one.
        sent_after: Seconds until a message is ``sent``.
        delivered_after: Seconds until it is ``delivered`` (or ends as its test number says).
        dlr_retry_scale: Multiplies 8x8's receipt retry delays (1, 10, 30, 90 s).
        faults: Fault injection, changeable while the sandbox runs.
        tls12_only: Serve TLS 1.2 only, to show what a client requiring TLS 1.3 does.
        cert_dir: Where to write the CA certificate; a temporary folder when omitted.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        subaccounts: tuple[str, ...] = (DEFAULT_SUBACCOUNT,),
        host: str = "127.0.0.1",
        port: int = 0,
        sent_after: float = 1.0,
        delivered_after: float = 2.0,
        dlr_retry_scale: float = 0.01,
        faults: Faults | None = None,
        tls12_only: bool = False,
        cert_dir: str | Path | None = None,
    ) -> None:
        self.api_key = api_key or f"sandbox-{secrets.token_hex(12)}"
        self.subaccount_id = subaccounts[0]
        self.state = SandboxState(
            api_key=self.api_key,
            subaccounts=frozenset(subaccounts),
            sent_after=sent_after,
            delivered_after=max(delivered_after, sent_after),
            dlr_retry_delays=tuple(d * dlr_retry_scale for d in (1.0, 10.0, 30.0, 90.0)),
            faults=faults or Faults(),
        )
        self.host = host
        self.tls12_only = tls12_only
        self._requested_port = port
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._ca = trustme.CA()
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.ca_path: Path | None = None
        self.port: int | None = None

    def __repr__(self) -> str:
        return f"<Sandbox base_url={self.base_url if self.port else None!r}>"

    @property
    def faults(self) -> Faults:
        """The fault injection settings; change them at any time."""
        return self.state.faults

    @property
    def base_url(self) -> str:
        """The URL to give the client as ``base_url``."""
        if self.port is None:
            msg = "The sandbox is not running; start it with `async with Sandbox()`."
            raise RuntimeError(msg)
        return f"https://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections the server holds open right now."""
        return 0 if self._server is None else len(self._server.server_state.connections)

    def client_kwargs(self) -> ClientKwargs:
        """The ``AsyncSmsClient`` arguments that point at this sandbox."""
        assert self.ca_path is not None
        return {
            "api_key": self.api_key,
            "subaccount_id": self.subaccount_id,
            "base_url": self.base_url,
            "verify": str(self.ca_path),
        }

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.tls12_only:
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        else:
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        cert.configure_cert(context)
        return context

    async def start(self) -> None:
        """Bind the port, write the CA file and start serving in the running event loop."""
        if self._task is not None:
            msg = "The sandbox is already running."
            raise RuntimeError(msg)
        if self._cert_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="eightxeight-sandbox-")
            self._cert_dir = Path(self._tempdir.name)
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self._cert_dir / "sandbox-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket = sock
        self.port = sock.getsockname()[1]

        config = uvicorn.Config(
            build_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        config.load()
        # Set after load(): uvicorn's own context cannot be limited to TLS 1.3.
        config.ssl = self._ssl_context()
        self._server = _EmbeddedServer(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises the start-up failure
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving, cancel pending receipts and remove the temporary CA file."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        await self.state.aclose()
        if self._socket is not None:
            self._socket.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        self._server = self._task = self._socket = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _HideDeliberateDrops(logging.Filter):
    """Hide uvicorn's complaint about the answers the sandbox leaves out on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without starting response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())
