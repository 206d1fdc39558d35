"""The ``eightxeight sandbox`` and ``eightxeight demo`` commands (extra ``[sandbox]``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_errors import CliError, clean
from ._cli_options import ENV_CA_BUNDLE, SHARE, TEXT, Finite, apply, output_options
from ._config import ENV_ACCOUNT_ID, ENV_API_KEY, ENV_BASE_URL, ENV_SUBACCOUNT_ID
from ._converters import dumps_for_humans
from ._demo import DemoReport
from ._errors import ValidationError
from ._validators import check_account_id, check_api_key, check_subaccount_id

__all__ = ["connectable_host", "demo", "print_demo", "sandbox_command"]


def _require_sandbox() -> Any:
    try:
        from . import sandbox
    except ImportError:
        raise CliError(
            errs.EXIT_USAGE,
            'This command needs the sandbox extra: pip install "eightxeight-async[sandbox]"',
        ) from None
    return sandbox


def connectable_host(host: str) -> str:
    """The host to put in a URL for a server listening on ``host``.

    A wildcard address listens everywhere but cannot be connected to everywhere; loopback always
    works, and the sandbox's certificate names it. IPv6 literals need brackets in a URL.
    """
    if host in ("", "0.0.0.0"):  # noqa: S104 (naming the wildcard, not binding to it)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@contextlib.contextmanager
def _stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into ``stop``, so that the sandbox cleans up before exiting."""
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


#: Seconds a message takes to be sent or delivered: the sandbox's range (366 days).
LIFECYCLE = Finite(min=0, max=366 * 86_400)

#: The sandbox's argument names as the sandbox command spells them.
_SANDBOX_OPTIONS = {
    "api_key": "--api-key",
    "subaccounts": "--subaccount-id",
    "host": "--host",
    "port": "--port",
    "sent_after": "--sent-after",
    "delivered_after": "--delivered-after",
    "dlr_retry_scale": "--dlr-retry-scale",
    "share_429": "--fail-429",
    "share_500": "--fail-500",
    "share_slow": "--slow",
    "share_drop": "--drop",
    "slow_seconds": "--slow-seconds",
    "seed": "--seed",
    "cert_dir": "--cert-dir",
    "account_id": "--account-id",
    "start_balance": "--start-balance",
}


# The messages below are the sandbox command's own: the client's rules they apply name the
# client's variables (EIGHTXEIGHT_API_KEY ...), which this command does not read.
_KEY_RULE = "printable ASCII without whitespace"
_ACCOUNT_RULE = "a GUID: 32 hex digits, dashes optional (8x8's accountId rule)"


def _check_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # The key must be one the client (and so the CLI) can send; the sandbox alone accepts more.
    if value == "":
        raise click.BadParameter("must not be empty (leave --api-key out for a random key).")
    if value is not None:
        try:
            check_api_key(value)
        except ValidationError:
            raise click.BadParameter(f"must be {_KEY_RULE}.") from None
    return value


def _check_account(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # The account must be one the client can name (8x8's GUID rule).
    if value is not None:
        try:
            check_account_id(value)
        except ValidationError:
            raise click.BadParameter(f"must be {_ACCOUNT_RULE}.") from None
    return value


def _check_cert_dir_given(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    if value == "":  # Path("") is the current folder: refused rather than read so
        raise click.BadParameter("must not be empty (leave --cert-dir out for a temporary one).")
    return value


def _check_subaccounts(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for subaccount in value:
        try:
            check_subaccount_id(subaccount)
        except ValidationError as exc:
            raise click.BadParameter(f"must be {exc.rule}.") from None
    return value


@click.command("sandbox", short_help="Run a local 8x8 sandbox to try things on.")
@click.option(
    "--host",
    type=TEXT,
    default="127.0.0.1",
    show_default=True,
    help="0.0.0.0 listens on all interfaces.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--api-key",
    "sandbox_key",
    type=TEXT,
    callback=_check_key,
    help="Key to accept (random when omitted).",
)
@click.option(
    "--subaccount-id",
    "--subaccount",
    "subaccounts",
    type=TEXT,
    multiple=True,
    callback=_check_subaccounts,
    help="Subaccount(s) the key owns (repeat the option for more; --subaccount is an alias).",
)
@click.option(
    "--account-id",
    type=TEXT,
    callback=_check_account,
    help="Account (a GUID) of the account routes: prices, balance, webhooks (random when omitted).",
)
@click.option(
    "--start-balance",
    type=TEXT,
    default="100",
    show_default=True,
    help=(
        "Prepaid balance in EUR before anything is sent, 0 to 1000000000000 in plain digits"
        " (e.g. 12.5, at most 6 decimals); each part sent lowers it."
    ),
)
@click.option("--postpaid", is_flag=True, help="A post-paid account: the balance answers 403/1201.")
@click.option(
    "--sent-after",
    type=LIFECYCLE,
    default=1.0,
    show_default=True,
    help="Seconds until `sent` (0 to 366 days).",
)
@click.option(
    "--delivered-after",
    type=LIFECYCLE,
    default=2.0,
    show_default=True,
    help="Seconds until `delivered` (or the test number's end; 0 to 366 days).",
)
@click.option(
    "--dlr-retry-scale",
    type=Finite(min=0, max=1000),
    default=0.01,
    show_default=True,
    help=(
        "Multiplies 8x8's receipt retry delays (1, 10, 30, 90 s); 1 is 8x8's own timing"
        " (0 to 1000)."
    ),
)
@click.option("--fail-429", type=SHARE, default=0.0, help="Share (0 to 1) of requests given 429.")
@click.option("--fail-500", type=SHARE, default=0.0, help="Share (0 to 1) given 500 / 2000.")
@click.option("--slow", type=SHARE, default=0.0, help="Share (0 to 1) answered slowly.")
@click.option(
    "--slow-seconds",
    type=Finite(min=0, max=3600),
    default=2.0,
    show_default=True,
    help="How long a --slow answer is held back, in seconds (0 to 3600).",
)
@click.option("--drop", type=SHARE, default=0.0, help="Share (0 to 1) of connections dropped.")
@click.option("--tls12-only", is_flag=True, help="Serve TLS 1.2 only (clients must refuse).")
@click.option(
    "--cert-dir",
    type=TEXT,
    callback=_check_cert_dir_given,
    help=(
        "Folder for the CA file, kept after stopping (created if missing; its parent must "
        "exist). Default: a temporary folder, removed on stop."
    ),
)
@click.option("--seed", type=int, help="Seed for the fault draws.")
@apply(output_options(at_group=False))
def sandbox_command(
    host: str,
    port: int,
    sandbox_key: str | None,
    subaccounts: tuple[str, ...],
    cert_dir: str | None,
    **options: Any,
) -> None:
    """Run the local 8x8 sandbox in the foreground (Ctrl-C or SIGTERM stops it)."""
    settings = opts.current_settings()
    _refuse_client_options(click.get_current_context())
    sandbox = _require_sandbox()
    if cert_dir is not None:
        _check_cert_dir(cert_dir)
    try:
        faults = sandbox.Faults(
            share_429=options["fail_429"],
            share_500=options["fail_500"],
            share_slow=options["slow"],
            share_drop=options["drop"],
            slow_seconds=options["slow_seconds"],
            seed=options["seed"],
        )
        server = sandbox.Sandbox(
            api_key=sandbox_key,
            subaccounts=subaccounts or (sandbox.DEFAULT_SUBACCOUNT,),
            host=host,
            port=port,
            sent_after=options["sent_after"],
            delivered_after=options["delivered_after"],
            dlr_retry_scale=options["dlr_retry_scale"],
            faults=faults,
            tls12_only=options["tls12_only"],
            cert_dir=cert_dir,
            account_id=options["account_id"],
            start_balance=options["start_balance"],
            postpaid=options["postpaid"],
        )
    except ValidationError as exc:  # a rule of the sandbox's the options above do not cover
        hint = _SANDBOX_OPTIONS.get(exc.field, exc.field)
        raise click.BadParameter(f"must be {exc.rule}.", param_hint=[hint]) from None
    # Announced as the sandbox keeps it (0100.50 is 100.5), not as typed.
    options["start_balance"] = _plain_amount(server.start_balance)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        with _stop_signals(loop, stop):
            try:
                await server.start()
            except OSError as exc:
                await server.stop()  # removes the temporary CA folder start() made
                raise _start_failure(exc, host, port, cert_dir) from None
            try:
                _announce(server, host, settings.as_json, options)
                await stop.wait()
            finally:
                await server.stop()
        if not settings.as_json:
            click.echo("Sandbox stopped.", err=True)

    opts.run_async(serve())


#: The group's connection options, which configure the client: the sandbox reads none of them.
_CLIENT_OPTIONS = {
    "api_key": "--api-key",
    "subaccount_id": "--subaccount-id",
    "base_url": "--base-url",
    "region": "--region",
    "ca_bundle": "--ca-bundle",
}


def _refuse_client_options(ctx: click.Context) -> None:
    """Refuse a client option typed before ``sandbox``, rather than ignore it silently.

    ``eightxeight --api-key K sandbox`` would otherwise run with a random key. Their variables
    (``EIGHTXEIGHT_API_KEY`` ...) are not read either, but a variable set for other commands is
    no mistake, so those are left alone.
    """
    parent = ctx.parent
    if parent is None:
        return
    for name, option in _CLIENT_OPTIONS.items():
        if parent.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            own = option in ("--api-key", "--subaccount-id")
            where = (
                f"put it after the command (eightxeight sandbox {option} VALUE)"
                if own
                else "the sandbox prints its own URL and CA file (see --host, --port, --cert-dir)"
            )
            message = (
                f"{option} before 'sandbox' is the client's option, which the sandbox does not"
                f" read; {where}."
            )
            raise click.UsageError(message, ctx=ctx)


def _check_cert_dir(cert_dir: str) -> None:
    """Refuse a --cert-dir that is a file, or whose parent is missing (a typo, most likely)."""
    path = Path(cert_dir)
    if path.exists() and not path.is_dir():
        message = f"Invalid --cert-dir: {cert_dir} is not a directory."
    elif not path.exists() and not path.absolute().parent.is_dir():
        message = (
            f"Invalid --cert-dir: the folder that would hold {cert_dir} does not exist "
            "(only the last folder is created)."
        )
    else:
        return
    raise CliError(errs.EXIT_LOCAL, message, hint="Pass an existing folder, or a new one in it.")


def _start_failure(exc: OSError, host: str, port: int, cert_dir: str | None) -> CliError:
    """Say which option made the sandbox fail to start: --host, --port or --cert-dir."""
    where = f"{host} port {port}" if port else f"{host} (any free port)"
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return CliError(
            errs.EXIT_LOCAL,
            f"The sandbox could not listen on --host {host}: {errs.os_reason(exc)}.",
            hint="Pass an address of this machine (127.0.0.1, the default; 0.0.0.0 for all).",
        )
    if exc.filename is not None:
        return CliError(
            errs.EXIT_LOCAL,
            f"The sandbox could not write its CA file: {errs.os_reason(exc)}.",
            hint="Pass a --cert-dir this user can write to."
            if cert_dir is not None
            else "Check the temporary folder (TMPDIR) is writable.",
        )
    return CliError(
        errs.EXIT_LOCAL,
        f"The sandbox could not start on {where}: {errs.os_reason(exc)}.",
        hint="Pick another --port (0 picks a free one).",
    )


def _announce(server: Any, host: str, as_json: bool, options: dict[str, Any]) -> None:
    url = f"https://{connectable_host(host)}:{server.port}"
    balance = options["start_balance"]
    values = {
        ENV_BASE_URL: url,
        ENV_API_KEY: server.api_key,
        ENV_SUBACCOUNT_ID: server.subaccount_id,
        ENV_ACCOUNT_ID: server.account_id,
        ENV_CA_BUNDLE: str(server.ca_path),
    }
    if as_json:
        # The variables stay at the top (the shape of earlier versions); the rest follows.
        document = {
            **values,
            "account_id": server.account_id,
            "start_balance": balance,
            "postpaid": bool(options["postpaid"]),
            "base_url": url,
            "host": host,
            "port": server.port,
            "ca_path": str(server.ca_path),
            "tls12_only": bool(server.tls12_only),
            "sent_after": options["sent_after"],
            "delivered_after": options["delivered_after"],
            "dlr_retry_scale": options["dlr_retry_scale"],
            "faults": {
                "fail_429": options["fail_429"],
                "fail_500": options["fail_500"],
                "slow": options["slow"],
                "slow_seconds": options["slow_seconds"],
                "drop": options["drop"],
                "seed": options["seed"],
            },
        }
        # One line, unlike the other commands' documents: it is read while the sandbox runs.
        click.echo(dumps_for_humans(document, indent=None))
        sys.stdout.flush()
        return
    tls = "TLS 1.2 only" if server.tls12_only else "TLS 1.3"
    click.echo(f"8x8 sandbox on {url} ({tls})")
    if _is_wildcard(host):
        click.echo(f"Listening on all interfaces ({host}); {url} reaches it from this machine.")
    click.echo("Point the client or the CLI at it:\n")
    for name, value in values.items():
        click.echo(f"export {name}={value}")
    kind = "post-paid" if options["postpaid"] else f"prepaid, balance {balance} EUR"
    click.echo(f"\nAccount {server.account_id}: {kind}.")
    click.echo("Test numbers: +15550100001 and +15550100002 end undelivered,")
    click.echo("+15550100003 is REJECTED; any other valid number is delivered.")
    click.echo("Ctrl-C stops it.")
    sys.stdout.flush()


def _is_wildcard(host: str) -> bool:
    """Whether ``host`` listens on every interface (``0.0.0.0``, ``::``), not one address."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _plain_amount(amount: Any) -> str:
    """A Decimal amount in plain digits, never an exponent (``1E+2`` is ``100``)."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@click.command(short_help="Try send, status and feedback on a built-in sandbox.")
@click.option(
    "--to",
    "destination",
    type=TEXT,
    default="+6591234567",
    show_default=True,
    help="Where the OTP goes; +15550100001 ends undelivered, +15550100003 is rejected.",
)
@click.option(
    "--delivered-after",
    type=Finite(min=0, max=300),
    default=2.0,
    show_default=True,
    help="Seconds until the sandbox reports delivery (0 to 300).",
)
@apply(output_options(at_group=False))
def demo(destination: str, delivered_after: float) -> None:
    """Send an OTP through the built-in sandbox and follow it to delivery and feedback."""
    settings = opts.current_settings()
    sandbox = _require_sandbox()
    from ._demo import run_demo

    report = opts.run_async(run_demo(sandbox, destination, delivered_after))
    print_demo(report, as_json=settings.as_json)


TITLE = "eightxeight demo: one OTP, end to end, on the local sandbox"


def print_demo(report: DemoReport, *, as_json: bool, console: Console | None = None) -> None:
    """Print the demo's steps and summary.

    The table may grow wider than the terminal rather than cut or fold an id, which a reader has
    to copy whole; the terminal then wraps the long lines, leaving the ids intact.

    Args:
        report: What the demo did.
        as_json: Print one JSON document instead of the table.
        console: Where the table goes; standard output when None.
    """
    if as_json:
        data = dataclasses.asdict(report)
        data["summary"] = report.summary
        click.echo(dumps_for_humans(data))
        return
    console = console or Console(highlight=False)
    longest_id = max((len(i) for i in report.ids), default=0)
    table = Table(title=TITLE)
    table.add_column("at", justify="right", no_wrap=True)
    table.add_column("call", no_wrap=True)
    table.add_column("result", min_width=longest_id)
    for step in report.steps:
        # Text cells: rich would read brackets in a result as markup and drop them.
        table.add_row(Text(f"{step.at_ms} ms"), Text(clean(step.call)), Text(clean(step.result)))
        # Each id on a line of its own, under its name, so that a double-click selects it whole.
        for name, value in step.ids.items():
            table.add_row(Text(""), Text(""), Text(f"{name}:"))
            table.add_row(Text(""), Text(""), Text(clean(value)))
    needed = Measurement.get(console, console.options, table).minimum
    console.print(table, width=max(console.width, needed), crop=False)
    click.echo(report.summary)
