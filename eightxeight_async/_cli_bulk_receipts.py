"""``eightxeight bulk --receipts-listen HOST:PORT``: record 8x8's delivery receipts during a run.

The command serves a :class:`~eightxeight_async.webhooks.WebhookReceiver` on HOST:PORT (plain
HTTP, uvicorn, in the command's own event loop) whose handler is the journal's
``receipt_handler()``: every receipt of a row of the journal's jobs lands on its row as the job
runs. The command does not configure 8x8: point the account's webhook (``set_webhook``, or
``eightxeight set-webhook``) at a public HTTPS address that forwards to HOST:PORT, with the same
``http_authorization`` value as ``--receipts-authorization`` (or the environment variable
:data:`ENV_AUTHORIZATION`, which keeps it out of the shell history and the process list).
``--receipts-wait SECONDS`` keeps receiving after the last row until every accepted row has a
final receipt, or the time is up (Ctrl-C stops waiting).

The socket is bound before anything is read or sent, so that a port in use or a host that is not
this machine's ends the command with a message naming the option, and nothing sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import click

from . import _cli_errors as errs
from ._cli_errors import CliError
from ._webhook_models import DeliveryReceipt, WebhookEvent
from ._webhook_receiver import WebhookReceiver
from .bulk import Journal

__all__ = [
    "ENV_AUTHORIZATION",
    "REFUSED_ADVICE",
    "ReceiptListener",
    "check_receipt_options",
    "parse_listen",
]

#: Where the Authorization value 8x8 sends may be given instead of ``--receipts-authorization``.
ENV_AUTHORIZATION = "EIGHTXEIGHT_WEBHOOK_AUTHORIZATION"
#: What a post refused for its Authorization means, and where to look.
REFUSED_ADVICE = (
    "the receiver refused a post with 401 (wrong Authorization); check --receipts-authorization "
    f"/ {ENV_AUTHORIZATION} against the webhook's http_authorization."
)
#: An IPv4 address or a host name (RFC 1123 labels); what the resolver gets, nothing else.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_LISTEN_RULE = "must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (PORT 0: any free port)"


_NOT_HERE = (
    "HOST must be this machine's: 127.0.0.1 or localhost, 0.0.0.0 or :: for every interface, "
    "or the address of one of its interfaces (8x8 reaches it through your HTTPS forwarder)."
)
#: The hint for a bind failure, by errno; none when the reason says it all.
_BIND_HINTS = {
    errno.EADDRINUSE: "Is another program using the port? Name another, or PORT 0 for any.",
    errno.EADDRNOTAVAIL: _NOT_HERE,
    errno.EACCES: "Ports below 1024 need privileges: name a higher one, or PORT 0 for any.",
}


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address) as (host, port).

    Raises:
        click.BadParameter: Not of that form, naming ``--receipts-listen``.
    """
    host, colon, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    elif ":" in host:
        host = ""  # an IPv6 address without brackets: its last group would read as the port
    elif not _HOST_NAME.fullmatch(host) or len(host) > 253:
        host = ""  # no address or host name looks so (e.g. non-ASCII): a typo, not a lookup
    if (
        not colon
        or not host
        or not port.isascii()
        or not port.isdigit()
        or int(port) > 65535
        or any(c.isspace() for c in host)
    ):
        raise click.BadParameter(_LISTEN_RULE, param_hint=["--receipts-listen"])
    return host, int(port)


def check_receipt_options(ctx: click.Context, options: dict[str, Any]) -> None:
    """The receipt options' usage rules, before anything is read or sent.

    Raises:
        click.UsageError: An option without ``--receipts-listen``, or with ``--dry-run``; no
            Authorization value.
        click.BadParameter: A malformed value, naming its option (never echoing the secret).
        CliError: uvicorn is not installed (exit 1).
    """
    listen = options["receipts_listen"]
    given = ctx.get_parameter_source("receipts_authorization")
    if listen is None:
        if options["receipts_wait"] is not None:
            raise click.UsageError("--receipts-wait works only with --receipts-listen.", ctx)
        if given is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(
                "--receipts-authorization works only with --receipts-listen.", ctx
            )
        return
    if options["dry_run"]:
        raise click.UsageError("--receipts-listen does not go with --dry-run.", ctx)
    parse_listen(listen)
    authorization = options["receipts_authorization"]
    if authorization is None:
        raise click.UsageError(
            "--receipts-listen needs the Authorization value 8x8 sends with each receipt (the "
            f"http_authorization given to set_webhook): set {ENV_AUTHORIZATION}, or pass "
            "--receipts-authorization.",
            ctx,
        )
    where = (
        "--receipts-authorization"
        if given is click.core.ParameterSource.COMMANDLINE
        else ENV_AUTHORIZATION
    )
    if not authorization.strip():
        raise click.BadParameter("it is empty.", param_hint=[where])
    if not authorization.isascii() or not authorization.isprintable():
        raise click.BadParameter(
            "must be printable ASCII text, as HTTP header values are.", param_hint=[where]
        )
    try:
        import uvicorn  # noqa: F401 (optional: needed by this option only)
    except ImportError:
        raise CliError(
            errs.EXIT_LOCAL,
            "--receipts-listen needs uvicorn, which is not installed. Nothing was sent.",
            hint="pip install 'eightxeight-async[sandbox]' (or pip install uvicorn).",
        ) from None


class ReceiptListener:
    """The receiver of ``--receipts-listen``: its socket (bound at once), then its server.

    Raises:
        CliError: From the constructor: the address cannot be listened on (exit 1, naming the
            option; nothing was sent).
    """

    def __init__(self, listen: str, authorization: str) -> None:
        host, port = parse_listen(listen)
        self._authorization = authorization
        self.received = 0
        """Delivery receipts handed to the journal (duplicates dropped)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        except (OSError, IndexError) as exc:
            reason = errs.os_reason(exc) if isinstance(exc, OSError) else "no address"
            hint = _NOT_HERE if isinstance(exc, (socket.gaierror, IndexError)) else None
            raise CliError(
                errs.EXIT_LOCAL,
                f"--receipts-listen {listen}: cannot listen there: {reason}. Nothing was sent.",
                hint=hint,
            ) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise CliError(
                errs.EXIT_LOCAL,
                f"--receipts-listen {listen}: cannot listen there: {errs.os_reason(exc)}. "
                "Nothing was sent.",
                hint=_BIND_HINTS.get(exc.errno or 0),
            ) from None
        self._socket = sock
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
        self.url = f"http://{shown}:{bound[1]}/"
        """Where the receiver listens (the port filled in when PORT was 0)."""
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._receiver: WebhookReceiver | None = None

    def __repr__(self) -> str:
        return f"<ReceiptListener {self.url}>"

    @property
    def answers(self) -> dict[int, int]:
        """How many posts the receiver answered with each HTTP status (200 for a receipt)."""
        return {} if self._receiver is None else dict(sorted(self._receiver.answers.items()))

    @property
    def refused(self) -> int:
        """Posts answered 401: their ``Authorization`` was not the configured value."""
        return 0 if self._receiver is None else self._receiver.answers[401]

    async def start(self, journal: Journal, warn: Callable[[str], None] | None = None) -> None:
        """Serve the receiver, its handler recording into ``journal``.

        Args:
            journal: Where the receipts are recorded.
            warn: Called once with a line for the user when the first post is refused for its
                ``Authorization`` (otherwise receipts would just never arrive, silently).
        """
        import uvicorn  # optional: check_receipt_options made sure it is there

        record = journal.receipt_handler()

        async def handler(event: WebhookEvent) -> None:
            if isinstance(event, DeliveryReceipt):
                self.received += 1
            await record(event)

        receiver = self._receiver = WebhookReceiver(handler, authorization=self._authorization)
        warned = False

        async def app(scope: Any, receive: Any, send: Any) -> None:
            nonlocal warned
            await receiver(scope, receive, send)
            if not warned and warn is not None and receiver.answers[401]:
                warned = True
                warn(f"Warning: {REFUSED_ADVICE}")

        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = _quiet_server(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._socket])
        )
        while not self._server.started:
            if self._task.done():
                await self._task  # its failure
                msg = f"The receiver on {self.url} stopped at once."
                raise CliError(errs.EXIT_LOCAL, msg)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving; wait for the receipts already received to be written."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task
        if self._receiver is not None:
            await self._receiver.drain()
        self.close()

    def close(self) -> None:
        """Release the socket (also when the server never started)."""
        self._socket.close()


def _quiet_server(config: Any) -> Any:
    """A uvicorn server that leaves Ctrl-C to the command (uvicorn is optional: imported here)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)
