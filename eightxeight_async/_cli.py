"""The ``eightxeight`` command: send, check status, give feedback, run the sandbox and the demo.

Exit codes tell failures apart for scripts: 0 done, 2 bad usage, 3 validation error (nothing
sent), 4 8x8 refused (an HTTP error, or a message REJECTED in a 200), 5 connection error
(``SendOutcomeUnknownError`` included), 6 a response the SDK could not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table

from ._client import AsyncSmsClient
from ._converters import converter
from ._errors import (
    APIConnectionError,
    APIStatusError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    ValidationError,
)
from ._models import MessageDetails, SmsResponse, mask_phone
from ._version import __version__

__all__ = ["main"]

EXIT_VALIDATION = 3
EXIT_API = 4
EXIT_CONNECTION = 5
EXIT_RESPONSE = 6

ENV_CA_BUNDLE = "EIGHTXEIGHT_CA_BUNDLE"
FINAL_STATES = frozenset({"delivered", "undelivered", "failed", "rejected", "read", "error"})

_T = TypeVar("_T")

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def _to_json(value: object) -> str:
    return json.dumps(converter.unstructure(value), indent=2, default=str)


def _fail(message: str, code: int) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


@contextlib.contextmanager
def _exit_codes() -> Iterator[None]:
    """Turn SDK errors into one line on stderr and the exit code of their kind."""
    try:
        yield
    except ValidationError as exc:
        _fail(f"{exc} Nothing was sent.", EXIT_VALIDATION)
    except APIStatusError as exc:
        _fail(str(exc), EXIT_API)
    except SendOutcomeUnknownError as exc:
        _fail(str(exc), EXIT_CONNECTION)
    except APIConnectionError as exc:
        _fail(str(exc), EXIT_CONNECTION)
    except ResponseValidationError as exc:
        _fail(str(exc), EXIT_RESPONSE)


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    with _exit_codes():
        return asyncio.run(coro)
    raise AssertionError  # pragma: no cover (_exit_codes exits on every error it catches)


class Settings:
    """The connection settings shared by the commands that call 8x8."""

    def __init__(
        self,
        api_key: str | None,
        subaccount_id: str | None,
        base_url: str | None,
        region: str,
        ca_bundle: str | None,
        as_json: bool,
    ) -> None:
        self.api_key = api_key
        self.subaccount_id = subaccount_id
        self.base_url = base_url
        self.region = region
        self.ca_bundle = ca_bundle
        self.as_json = as_json

    def client(self) -> AsyncSmsClient:
        """Build the client these settings describe."""
        return AsyncSmsClient(
            api_key=self.api_key,
            subaccount_id=self.subaccount_id,
            base_url=self.base_url,
            region=self.region,
            verify=self.ca_bundle or True,
        )


pass_settings = click.make_pass_decorator(Settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eightxeight")
@click.option(
    "--api-key", envvar="EIGHTXEIGHT_API_KEY", help="8x8 API key [env EIGHTXEIGHT_API_KEY]."
)
@click.option(
    "--subaccount-id",
    envvar="EIGHTXEIGHT_SUBACCOUNT_ID",
    help="Subaccount [env EIGHTXEIGHT_SUBACCOUNT_ID].",
)
@click.option(
    "--base-url", envvar="EIGHTXEIGHT_BASE_URL", help="API host [env EIGHTXEIGHT_BASE_URL]."
)
@click.option(
    "--region",
    type=click.Choice(["APAC", "NA", "EU", "ID"], case_sensitive=False),
    default="APAC",
    show_default=True,
    help="Region of the account (ignored with --base-url).",
)
@click.option(
    "--ca-bundle",
    envvar=ENV_CA_BUNDLE,
    type=click.Path(exists=True, dir_okay=False),
    help=f"CA bundle to trust, e.g. the sandbox's [env {ENV_CA_BUNDLE}].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    subaccount_id: str | None,
    base_url: str | None,
    region: str,
    ca_bundle: str | None,
    as_json: bool,
) -> None:
    """Send SMS through 8x8 and follow them, or try it all on a local sandbox."""
    ctx.obj = Settings(api_key, subaccount_id, base_url, region.upper(), ca_bundle, as_json)


def _print_sms(settings: Settings, result: SmsResponse) -> None:
    if settings.as_json:
        click.echo(_to_json(result))
    else:
        table = Table(show_header=False, box=None)
        table.add_row("umid", result.umid)
        table.add_row("status", f"{result.status.code} ({result.status.description})")
        table.add_row("destination", mask_phone(result.destination) or "")
        table.add_row("encoding", str(getattr(result.encoding, "value", result.encoding)))
        table.add_row("client_message_id", result.client_message_id or "")
        console.print(table)
    if result.rejected:
        _fail(f"8x8 rejected the message: {result.status.description}", EXIT_API)


def _print_details(settings: Settings, details: MessageDetails) -> None:
    if settings.as_json:
        click.echo(_to_json(details))
        return
    status = details.status
    table = Table(show_header=False, box=None)
    table.add_row("umid", details.umid)
    table.add_row(
        "state", _text(status.state) + (f" / {_text(status.detail)}" if status.detail else "")
    )
    if status.error_code is not None:
        table.add_row("error", f"{status.error_code} {status.error_message or ''}")
    table.add_row("msisdn", details.msisdn)
    table.add_row("created_at", details.created_at.isoformat())
    table.add_row("sms_count", str(details.sms_count))
    if details.price is not None:
        table.add_row("price", f"{details.price.total} {details.price.currency}")
    console.print(table)


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


@cli.command()
@click.option("--to", "destination", required=True, help="Destination number, e.g. +6591234567.")
@click.option("--text", required=True, help="Message text.")
@click.option("--source", help="Sender id (at most 16 characters).")
@click.option("--country", help="ISO 3166-1 alpha-2 code, for a national number.")
@click.option("--client-message-id", help="Your reference (generated when omitted).")
@click.option("--encoding", type=click.Choice(["AUTO", "GSM7", "UCS2"]))
@click.option("--track", type=click.Choice(["None", "Outcome"]), help="Outcome: track conversion.")
@click.option("--dlr-url", help="Where 8x8 posts the delivery receipt.")
@click.option("--client-ip", help="End user's IP address.")
@pass_settings
def send(settings: Settings, /, destination: str, text: str, **options: Any) -> None:
    """Send one SMS."""

    async def go() -> SmsResponse:
        async with settings.client() as client:
            return await client.send_sms(
                destination=destination,
                text=text,
                source=options["source"],
                country=options["country"],
                client_message_id=options["client_message_id"],
                encoding=options["encoding"],
                track=options["track"],
                dlr_callback_url=options["dlr_url"],
                client_ip=options["client_ip"],
            )

    _print_sms(settings, _run(go()))


@cli.command()
@click.argument("survey_id")
@click.option("--to", "destination", required=True, help="Destination number.")
@click.option("--template", "template_body", help="Text holding {{url:}}, the survey link.")
@click.option("--var", "variables", multiple=True, help="Template variable as name=value.")
@click.option("--source", help="Sender id.")
@click.option("--country", help="ISO 3166-1 alpha-2 code.")
@click.option("--client-message-id", help="Your reference.")
@pass_settings
def survey(
    settings: Settings,
    /,
    survey_id: str,
    destination: str,
    template_body: str | None,
    variables: tuple[str, ...],
    **options: Any,
) -> None:
    """Send one SMS Engage survey invitation."""
    pairs = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter("use name=value", param_hint="--var")
        pairs[name] = value

    async def go() -> SmsResponse:
        async with settings.client() as client:
            return await client.send_survey(
                survey_id,
                destination=destination,
                template_body=template_body,
                template_variables=pairs or None,
                source=options["source"],
                country=options["country"],
                client_message_id=options["client_message_id"],
            )

    _print_sms(settings, _run(go()))


@cli.command()
@click.argument("umid")
@click.option("--wait", is_flag=True, help="Poll (1 request/s) until the message is final.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait at most.")
@pass_settings
def status(settings: Settings, umid: str, wait: bool, timeout: float) -> None:
    """Show a message's delivery status."""

    async def go() -> MessageDetails:
        async with settings.client() as client:
            deadline = time.monotonic() + timeout
            while True:
                details = await client.get_message(umid)
                if not wait or _text(details.status.state) in FINAL_STATES:
                    return details
                if time.monotonic() > deadline:
                    _fail(f"The message is still {_text(details.status.state)}.", EXIT_API)

    _print_details(settings, _run(go()))


@cli.command()
@click.argument("umid")
@click.argument("outcome", type=click.Choice(["success", "failure"]))
@pass_settings
def feedback(settings: Settings, umid: str, outcome: str) -> None:
    """Tell 8x8 whether a tracked message did its job (within 15 minutes)."""

    async def go() -> None:
        async with settings.client() as client:
            await client.send_feedback(umid, outcome=outcome, timestamp=datetime.now(timezone.utc))

    _run(go())
    if settings.as_json:
        click.echo(json.dumps({"umid": umid, "outcome": outcome, "accepted": True}))
    else:
        console.print(f"Feedback [bold]{outcome}[/] accepted for {umid}.")


def _require_sandbox() -> Any:
    try:
        from . import sandbox
    except ImportError:
        _fail(
            'The sandbox needs its extra: pip install "eightxeight-async[sandbox]"', EXIT_VALIDATION
        )
    return sandbox


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, show_default=True, help="0 picks a free port.")
@click.option("--api-key", "sandbox_key", help="Key to accept (random when omitted).")
@click.option("--subaccount", "subaccounts", multiple=True, help="Subaccount(s) the key owns.")
@click.option("--sent-after", default=1.0, show_default=True, help="Seconds until sent.")
@click.option("--delivered-after", default=2.0, show_default=True, help="Seconds until delivered.")
@click.option("--fail-429", default=0.0, help="Share of requests answered 429.")
@click.option("--fail-500", default=0.0, help="Share of requests answered 500 / 2000.")
@click.option("--slow", default=0.0, help="Share of requests answered slowly.")
@click.option("--slow-seconds", default=2.0, show_default=True)
@click.option("--drop", default=0.0, help="Share of connections dropped after the request.")
@click.option("--tls12-only", is_flag=True, help="Serve TLS 1.2 only (clients must refuse).")
@click.option("--cert-dir", type=click.Path(file_okay=False), help="Where to write the CA file.")
@click.option("--seed", type=int, help="Seed for the fault draws.")
def sandbox_command(
    host: str,
    port: int,
    sandbox_key: str | None,
    subaccounts: tuple[str, ...],
    sent_after: float,
    delivered_after: float,
    fail_429: float,
    fail_500: float,
    slow: float,
    slow_seconds: float,
    drop: float,
    tls12_only: bool,
    cert_dir: str | None,
    seed: int | None,
) -> None:
    """Run the local 8x8 sandbox in the foreground (Ctrl-C stops it)."""
    sandbox = _require_sandbox()
    faults = sandbox.Faults(
        share_429=fail_429,
        share_500=fail_500,
        share_slow=slow,
        share_drop=drop,
        slow_seconds=slow_seconds,
        seed=seed,
    )
    server = sandbox.Sandbox(
        api_key=sandbox_key,
        subaccounts=subaccounts or (sandbox.DEFAULT_SUBACCOUNT,),
        host=host,
        port=port,
        sent_after=sent_after,
        delivered_after=delivered_after,
        faults=faults,
        tls12_only=tls12_only,
        cert_dir=cert_dir,
    )

    async def serve() -> None:
        async with server:
            console.print(
                f"8x8 sandbox on {server.base_url} (TLS {'1.2 only' if tls12_only else '1.3'})"
            )
            console.print("Point the client or the CLI at it:\n")
            click.echo(f"export EIGHTXEIGHT_BASE_URL={server.base_url}")
            click.echo(f"export EIGHTXEIGHT_API_KEY={server.api_key}")
            click.echo(f"export EIGHTXEIGHT_SUBACCOUNT_ID={server.subaccount_id}")
            click.echo(f"export {ENV_CA_BUNDLE}={server.ca_path}")
            console.print("\nTest numbers: +15550100001 and +15550100002 end undelivered, ")
            console.print("+15550100003 is REJECTED; any other valid number is delivered.")
            sys.stdout.flush()
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@cli.command()
@click.option("--to", "destination", default="+6591234567", show_default=True)
@click.option("--delivered-after", default=2.0, show_default=True, help="Sandbox delivery time.")
def demo(destination: str, delivered_after: float) -> None:
    """Send an OTP through the built-in sandbox and follow it to delivery and feedback."""
    sandbox = _require_sandbox()
    from ._demo import run_demo

    with _exit_codes():
        rows, summary = asyncio.run(run_demo(sandbox, destination, delivered_after))
    table = Table(title="eightxeight demo: one OTP, end to end, on the local sandbox")
    for column in ("at", "call", "result"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(summary)


def main(argv: list[str] | None = None) -> None:
    """Run the ``eightxeight`` command."""
    cli.main(args=argv, prog_name="eightxeight")
