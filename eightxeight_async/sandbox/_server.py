"""The sandbox server: uvicorn on 127.0.0.1, TLS 1.3 only, with a trustme CA written to disk."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import signal
import socket
import ssl
import tempfile
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TypedDict

import trustme
import uvicorn

from .._errors import ValidationError
from ._account import ACCOUNT_RE
from ._amounts import parse_balance
from ._app import build_app
from ._faults import Faults
from ._rules import SUBACCOUNT_RE
from ._state import SandboxState

__all__ = ["DEFAULT_SUBACCOUNT", "ClientKwargs", "Sandbox"]

DEFAULT_SUBACCOUNT = "sandbox_hq"


class ClientKwargs(TypedDict):
    """The ``AsyncSmsClient`` arguments that point at a sandbox."""

    api_key: str
    subaccount_id: str
    account_id: str
    base_url: str
    verify: str


#: The longest a message may take to be sent or delivered: 366 days.
MAX_LIFECYCLE = 366 * 86_400.0
#: The largest ``dlr_retry_scale``: 8x8's last retry (90 s) then comes after 25 hours.
MAX_DLR_RETRY_SCALE = 1000.0


def _check_seconds(field: str, value: float, high: float, rule: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= high  # False for NaN; an int too big for a float is compared exactly
    ):
        raise ValidationError(field, rule)
    return float(value)


def _check_balance(value: float | Decimal | str) -> Decimal:
    try:
        return parse_balance(value)
    except ValueError as exc:
        raise ValidationError("start_balance", str(exc)) from None


def _connect_host(host: str) -> str:
    """The host part of a URL that reaches a server listening on ``host``.

    A wildcard address listens everywhere but cannot be connected to: its loopback stands in.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


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
        host: The address to listen on. For a wildcard (``0.0.0.0``, ``::``) ``base_url``
            names the loopback address, which the certificate covers.
        port: The port, 0 to 65535; 0 picks a free one.
        sent_after: Seconds until a message is ``sent`` (0 to 366 days).
        delivered_after: Seconds until it is ``delivered`` (or ends as its test number says);
            never before ``sent_after`` (0 to 366 days).
        dlr_retry_scale: Multiplies 8x8's receipt retry delays (1, 10, 30, 90 s); 0 to 1000.
        faults: Fault injection, changeable while the sandbox runs.
        tls12_only: Serve TLS 1.2 only, to show what a client requiring TLS 1.3 does.
        cert_dir: Where to write the CA certificate; a temporary folder when omitted.
        account_id: The account the key belongs to, a GUID (8x8's ``accountId`` rule); the
            account routes accept only it. Random when omitted; see :attr:`account_id`.
        start_balance: The prepaid balance before anything was sent, in EUR; each part sent
            takes its price off it. From 0 to 10**12 with at most 6 decimals: a ``Decimal``, an
            ``int``, a finite ``float``, or text of plain ASCII digits with an optional decimal
            point (``"12.5"``; no sign, exponent, ``_`` or other scripts' digits).
        postpaid: A post-paid account: ``GET .../balance`` answers 403 / code 1201.

    Raises:
        ValidationError: An argument out of its range (a negative time, a port above 65535, a
            subaccount id 8x8 would refuse).
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
        account_id: str | None = None,
        start_balance: float | Decimal | str = Decimal("100"),
        postpaid: bool = False,
    ) -> None:
        lifecycle = "a number of seconds from 0 to 31622400 (366 days)"
        sent_after = _check_seconds("sent_after", sent_after, MAX_LIFECYCLE, lifecycle)
        delivered_after = _check_seconds(
            "delivered_after", delivered_after, MAX_LIFECYCLE, lifecycle
        )
        self.dlr_retry_scale = _check_seconds(
            "dlr_retry_scale", dlr_retry_scale, MAX_DLR_RETRY_SCALE, "a number from 0 to 1000"
        )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", "a whole number from 0 to 65535")
        if isinstance(subaccounts, str) or not subaccounts:
            raise ValidationError("subaccounts", "a non-empty tuple of subaccount ids")
        for subaccount in subaccounts:
            if not isinstance(subaccount, str) or not SUBACCOUNT_RE.fullmatch(subaccount):
                raise ValidationError("subaccounts", "3 to 50 of A-Z a-z 0-9 - . _ & each")
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValidationError("api_key", "a non-empty string")
        if not isinstance(host, str) or not host:
            raise ValidationError("host", "a host name or IP address")
        if account_id is not None and (
            not isinstance(account_id, str) or not ACCOUNT_RE.fullmatch(account_id)
        ):
            raise ValidationError("account_id", "a GUID: 32 hex digits, dashes optional")
        balance = _check_balance(start_balance)
        if not isinstance(postpaid, bool):
            raise ValidationError("postpaid", "True or False")
        self.api_key = api_key or f"sandbox-{secrets.token_hex(12)}"
        self.subaccount_id = subaccounts[0]
        self.start_balance = balance
        """The prepaid balance before anything was sent, normalised (``Decimal("100.5")``)."""
        self.account_id = account_id or str(uuid.uuid4())
        """The account id the account routes accept (``/api/v1/accounts/{accountId}/...``)."""
        self.state = SandboxState(
            api_key=self.api_key,
            subaccounts=frozenset(subaccounts),
            account_id=self.account_id,
            start_balance=balance,
            postpaid=postpaid,
            sent_after=sent_after,
            delivered_after=max(delivered_after, sent_after),
            dlr_retry_delays=tuple(d * self.dlr_retry_scale for d in (1.0, 10.0, 30.0, 90.0)),
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

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock ``seconds`` forward (``POST /_sandbox/clock`` does the same).

        Scheduled messages, delivery receipts and export jobs that fall due run at once, so a
        test can send a message scheduled a day ahead and see it delivered without waiting.
        Call it from the event loop the sandbox runs in.

        Raises:
            ValidationError: ``seconds`` is negative, not a number, more than 366 days, or
                would take the clock more than 100 years ahead of real time in all.
        """
        try:
            self.state.clock.advance(seconds)
        except ValueError as exc:
            raise ValidationError("seconds", str(exc)) from None

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
        return f"https://{_connect_host(self.host)}:{self.port}"

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
            "account_id": self.account_id,
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
        names = {"127.0.0.1", "localhost", "::1", _connect_host(self.host).strip("[]")}
        cert = self._ca.issue_cert(*sorted(names))
        cert.configure_cert(context)
        return context

    async def start(self) -> None:
        """Bind the port, write the CA file and start serving in the running event loop."""
        if self._task is not None:
            msg = "The sandbox is already running."
            raise RuntimeError(msg)
        try:
            await self._start()
        except BaseException:
            # A port in use, or a cancelled start: leave no socket and no folder behind.
            await self.stop()
            raise

    async def _start(self) -> None:
        if self._cert_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="eightxeight-sandbox-")
            self._cert_dir = Path(self._tempdir.name)
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self._cert_dir / "sandbox-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        self._socket = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
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
                msg = "The sandbox server stopped while starting."
                raise RuntimeError(msg)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving, cancel pending receipts and remove the temporary CA folder.

        The folder goes even when serving failed or the stop was itself interrupted.
        """
        try:
            if self._server is not None and self._task is not None:
                self._server.should_exit = True
                await self._task
        finally:
            try:
                await self.state.aclose()
            finally:
                if self._socket is not None:
                    self._socket.close()
                self._remove_tempdir()
                self._server = self._task = self._socket = None

    def _remove_tempdir(self) -> None:
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self._cert_dir = None

    async def serve_forever(
        self,
        *,
        stop_signals: tuple[int, ...] | None = None,
        on_ready: Callable[[], object] | None = None,
    ) -> int | None:
        """Start if needed, serve until SIGINT or SIGTERM, then stop and clean up.

        The signals are handled in the event loop, so a ``kill`` removes the temporary CA folder
        like Ctrl-C does. Where the loop cannot handle signals (Windows), Ctrl-C still ends the
        wait with ``KeyboardInterrupt`` after the sandbox was stopped.

        Args:
            stop_signals: The signals that stop the sandbox; SIGINT and SIGTERM when None.
            on_ready: Called once the sandbox serves and the signal handlers are in place,
                e.g. to print where it listens.

        Returns:
            The signal that stopped the sandbox, or None when it was stopped otherwise.
        """
        if stop_signals is None:
            stop_signals = (signal.SIGINT, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        received: list[int] = []
        stopped = asyncio.Event()
        installed: list[int] = []

        def on_signal(number: int) -> None:
            received.append(int(number))
            stopped.set()

        try:
            for number in stop_signals:
                try:
                    loop.add_signal_handler(number, on_signal, number)
                except (NotImplementedError, RuntimeError, ValueError):  # no signals here
                    continue
                installed.append(number)
            if self._task is None:
                await self.start()
            assert self._task is not None
            if on_ready is not None:
                on_ready()
            waiter = loop.create_task(stopped.wait())
            try:
                await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        finally:
            for number in installed:
                loop.remove_signal_handler(number)
            await self.stop()
        return received[0] if received else None

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
