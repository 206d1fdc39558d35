"""The ``eightxeight`` command: send, check status, give feedback, run the sandbox and the demo.

Exit codes tell outcomes apart for scripts (``_cli_errors`` maps the SDK's errors to them):

====  =========================================================================================
0     done (``status``: the message is delivered or read, or not final and ``--wait`` not given)
1     a local failure: the sandbox could not listen or write its CA file, a file could not be read
2     bad usage, or the extra the command needs is not installed
3     validation error: nothing was sent
4     8x8 refused: an HTTP error, or the message was REJECTED in the 200 answer
5     connection error (a send whose outcome is unknown included)
6     8x8's answer could not be read
7     ``status --wait``: the message was not final when ``--timeout`` ran out
8     ``status``: the message ended undelivered, failed, rejected or in error
9     ``bulk``: rows remain whose outcome is unknown (``--reconcile`` resolves them)
10    ``bulk``: every row is settled, but some were invalid or rejected by 8x8
70    internal error: a bug, please report it (``--debug`` shows the traceback)
130   interrupted (Ctrl-C); the sandbox stops cleanly on Ctrl-C or SIGTERM and exits 0
====  =========================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import datetime, timezone
from typing import Any

import click
from click.core import ParameterSource

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_bulk import bulk
from ._cli_errors import CliError
from ._cli_options import SECONDS, TEXT, Settings, apply, choice, connection_options
from ._cli_sandbox import demo, sandbox_command
from ._cli_segments import segments
from ._config import ENV_BASE_URL
from ._converters import dumps_for_humans, jsonable
from ._demo import mask_e164
from ._errors import ValidationError
from ._models import MessageDetails, SmsResponse
from ._redact import mask_numbers
from ._segments import estimate_segments
from ._version import __version__

__all__ = ["cli", "run"]

DELIVERED_STATES = frozenset({"delivered", "read"})
FAILED_STATES = frozenset({"undelivered", "failed", "rejected", "error"})
FINAL_STATES = DELIVERED_STATES | FAILED_STATES


# --- the group and its top-level error handling ------------------------------------------------


class _Command(click.Group):
    """The ``eightxeight`` group: every failure ends as one message and a documented exit code."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        opts.session = None
        argv = sys.argv[1:] if args is None else list(args)
        # Read from the arguments, not the settings: a usage error comes before the settings do.
        as_json = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
            code = result if isinstance(result, int) else 0
        except BaseException as exc:  # the one place every failure is reported
            if isinstance(exc, SystemExit):
                raise
            code = _report(exc, as_json)
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # the reader left (`| head`) before the last of the output
            _silence_output()
        sys.exit(code)


def _report(exc: BaseException, as_json: bool) -> int:
    if isinstance(exc, BrokenPipeError):
        # The reader of the output went away (`| head`): nothing more can reach it.
        _silence_output()
        return errs.EXIT_LOCAL
    try:
        return errs.report(exc, opts.session, as_json=as_json)
    except BrokenPipeError:
        # The same failure, reported to no one, still has its own exit code.
        _silence_output()
        return errs.report(exc, opts.session, as_json=as_json)
    except Exception:  # noqa: BLE001 (stderr itself failing: nothing left to print to)
        return errs.EXIT_INTERNAL


def _silence_output() -> None:
    """Point stdout and stderr at /dev/null, so that flushing them at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # not a real file (a test runner's)
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


@click.group(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eightxeight")
@apply(connection_options(at_group=True))
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    subaccount_id: str | None,
    base_url: str | None,
    region: str,
    ca_bundle: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Send SMS through 8x8 and follow them, or try it all on a local sandbox.

    Options such as --json and --base-url may come before or after the command.
    """
    settings = Settings()
    settings.api_key = api_key
    settings.subaccount_id = subaccount_id
    settings.base_url = base_url  # "" is refused by Settings.client(), not read as "unset"
    settings.region = region
    settings.ca_bundle = ca_bundle or None
    settings.as_json = as_json
    settings.debug = debug
    for name in ("api_key", "subaccount_id", "base_url", "ca_bundle"):
        if ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
            settings.from_env.add(name)
    if base_url is None and os.environ.get(ENV_BASE_URL) == "":
        # click reads an empty variable as unset; the region's host (8x8 itself) in place of
        # a sandbox URL that failed to expand must be refused instead (Settings.client()).
        settings.base_url = ""
        settings.from_env.add("base_url")
    ctx.obj = opts.session = settings


def run(argv: list[str] | None = None) -> None:
    """Run the ``eightxeight`` command and exit with its code."""
    cli.main(args=argv, prog_name="eightxeight")


# --- output ------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def _to_data(value: object, *, masked: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(value)
    for key in masked:
        if isinstance(data.get(key), str):
            data[key] = mask_e164(data[key])
    # A batch message's id is "{client_batch_id}/{destination}": its number is masked too.
    for key in ("clientMessageId", "clientBatchId"):
        if isinstance(data.get(key), str):
            data[key] = mask_numbers(data[key])
    status = data.get("status")
    if isinstance(status, dict) and isinstance(status.get("errorMessage"), str):
        status["errorMessage"] = mask_numbers(status["errorMessage"])  # may quote the number
    return data


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(dumps_for_humans(data))


def _echo_fields(rows: list[tuple[str, str]]) -> None:
    # Plain lines, never wrapped or cut: ids must survive a narrow terminal and a pipe.
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {errs.clean(value)}")


def _print_sms(settings: Settings, result: SmsResponse) -> None:
    data = _to_data(result, masked=("destination",))
    if result.rejected:
        # With --json the error object joins the answer in one document (printed by report()).
        if not settings.as_json:
            _echo_sms(result)
        raise CliError(
            errs.EXIT_API,
            f"8x8 rejected the message: {result.status.description}",
            printed=not settings.as_json,
            document=data,
        )
    if settings.as_json:
        _echo_json(data)
    else:
        _echo_sms(result)


def _echo_sms(result: SmsResponse) -> None:
    _echo_fields(
        [
            ("umid", result.umid),
            ("status", f"{_text(result.status.code)} ({result.status.description})"),
            ("destination", mask_e164(result.destination) or ""),
            ("encoding", _text(result.encoding)),
            ("client_message_id", mask_numbers(result.client_message_id or "")),
        ]
    )


def _print_details(details: MessageDetails) -> None:
    status = details.status
    rows = [
        ("umid", details.umid),
        ("state", _text(status.state) + (f" / {_text(status.detail)}" if status.detail else "")),
    ]
    if status.error_code is not None:
        # 8x8's error text may quote the number: masked like any server text.
        message = mask_numbers(status.error_message or "")
        rows.append(("error", f"{status.error_code} {message}".strip()))
    rows += [
        ("msisdn", mask_e164(details.msisdn) or ""),
        ("created_at", details.created_at.isoformat()),
        ("sms_count", str(details.sms_count)),
    ]
    if details.price is not None:
        rows.append(("price", f"{details.price.total} {details.price.currency}"))
    if details.client_message_id:
        rows.append(("client_message_id", mask_numbers(details.client_message_id)))
    _echo_fields(rows)


def _warn_if_cut(text: str, encoding: str | None) -> None:
    """Warn on stderr, without stopping the send, when 8x8 will cut the text at 10 parts."""
    try:
        estimate = estimate_segments(text, encoding or "AUTO")
    except ValidationError:
        return  # send_sms refuses it before any I/O, naming the option
    if estimate.warning is not None:
        click.echo(f"warning: {estimate.warning[0].lower()}{estimate.warning[1:]}", err=True)


# --- commands that call 8x8 --------------------------------------------------------------------


@cli.command(short_help="Send one SMS.")
@click.option("--to", "destination", type=TEXT, required=True, help="E.g. +6591234567.")
@click.option("--text", type=TEXT, required=True, help="Message text.")
@click.option("--source", type=TEXT, help="Sender id (at most 16 characters).")
@click.option("--country", type=TEXT, help="ISO 3166-1 alpha-2 code, for a national number.")
@click.option("--client-message-id", type=TEXT, help="Your reference (generated when omitted).")
@click.option("--encoding", type=choice("AUTO", "GSM7", "UCS2"), help="Default: AUTO.")
@click.option("--track", type=choice("None", "Outcome"), help="Outcome: track conversion.")
@click.option("--dlr-url", type=TEXT, help="Where 8x8 posts the delivery receipt.")
@click.option("--client-ip", type=TEXT, help="End user's IP address.")
@apply(connection_options(at_group=False))
def send(destination: str, text: str, **options: Any) -> None:
    """Send one SMS."""
    settings = opts.current_settings()
    _warn_if_cut(text, options["encoding"])

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

    _print_sms(settings, opts.run_async(go()))


@cli.command(short_help="Send one survey invitation.")
@click.argument("survey_id", type=TEXT)
@click.option("--to", "destination", type=TEXT, required=True, help="Destination number.")
@click.option("--template", "template_body", type=TEXT, help="Text holding {{url:}}.")
@click.option("--var", "variables", type=TEXT, multiple=True, help="Variable as name=value.")
@click.option("--source", type=TEXT, help="Sender id.")
@click.option("--country", type=TEXT, help="ISO 3166-1 alpha-2 code.")
@click.option("--client-message-id", type=TEXT, help="Your reference.")
@apply(connection_options(at_group=False))
def survey(
    survey_id: str,
    destination: str,
    template_body: str | None,
    variables: tuple[str, ...],
    **options: Any,
) -> None:
    """Send one SMS Engage survey invitation for the survey SURVEY_ID."""
    settings = opts.current_settings()
    pairs = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter("use name=value, e.g. --var name=Ana", param_hint=["--var"])
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

    _print_sms(settings, opts.run_async(go()))


@cli.command(short_help="Show a message's delivery status.")
@click.argument("umid", type=TEXT)
@click.option("--wait", is_flag=True, help="Poll (1 request/s) until the message is final.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=120.0,
    show_default=True,
    help="Seconds to wait at most with --wait (ignored without it, with a warning).",
)
@apply(connection_options(at_group=False))
@click.pass_context
def status(ctx: click.Context, umid: str, wait: bool, timeout: float) -> None:
    """Show the delivery status of the message UMID.

    UMID is the id 8x8 gave the message: the umid `eightxeight send` printed, a UUID.

    Exits 8 if the message ended undelivered, failed, rejected or in error, and 7 if --wait ran
    out before it was final.
    """
    settings = opts.current_settings()
    settings.umid = umid
    if not wait and ctx.get_parameter_source("timeout") is ParameterSource.COMMANDLINE:
        click.echo("warning: --timeout has no effect without --wait.", err=True)

    async def go() -> MessageDetails:
        async with settings.client() as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                # No sleep: the client's limiter paces get_message at 8x8's 1 request/s.
                details = await client.get_message(umid)
                state = _text(details.status.state)
                if not wait or state in FINAL_STATES or loop.time() >= deadline:
                    return details

    details = opts.run_async(go())
    failure = _status_failure(details, wait, timeout)
    if settings.as_json:
        data = _to_data(details, masked=("msisdn",))
        if failure is None:
            _echo_json(data)
            return
        # One document: the details, and under "error" why the exit code is not 0.
        failure.document = data
        raise failure
    _print_details(details)
    if failure is not None:
        failure.printed = True
        raise failure


def _status_failure(details: MessageDetails, wait: bool, timeout: float) -> CliError | None:
    """The error a status run ends with (exit 8 or 7), or None for exit 0."""
    status = details.status
    state = _text(status.state)
    if state in FAILED_STATES:
        ended = repr(state) + (f" / {_text(status.detail)}" if status.detail else "")
        reasons = [f"error {status.error_code}"] if status.error_code is not None else []
        reasons += [errs.clean_server(status.error_message)] if status.error_message else []
        if reasons:
            ended += f": 8x8 reports {', '.join(reasons)}"
        return CliError(errs.EXIT_NOT_DELIVERED, f"The message ended in state {ended}.")
    if wait and state not in FINAL_STATES:
        return CliError(
            errs.EXIT_NOT_FINAL,
            f"The message is still in state {state!r} (not final) after {timeout:g} s.",
            hint="Run `eightxeight status UMID --wait` again later, or give a longer --timeout.",
        )
    return None


@cli.command(short_help="Report whether a tracked message converted.")
@click.argument("umid", type=TEXT)
@click.argument("outcome", type=choice("success", "failure"), metavar="OUTCOME")
@apply(connection_options(at_group=False))
def feedback(umid: str, outcome: str) -> None:
    """Tell 8x8 whether the tracked message UMID did its job (within 15 minutes of the send).

    UMID is the id of a message sent with --track Outcome; OUTCOME is success or failure.
    """
    settings = opts.current_settings()
    settings.umid = umid

    async def go() -> None:
        async with settings.client() as client:
            await client.send_feedback(umid, outcome=outcome, timestamp=datetime.now(timezone.utc))

    opts.run_async(go())
    if settings.as_json:
        _echo_json({"umid": umid, "outcome": outcome, "accepted": True})
    else:
        click.echo(f"Feedback {outcome} accepted for {errs.clean(umid)}.")


cli.add_command(sandbox_command)
cli.add_command(demo)
cli.add_command(bulk)
cli.add_command(segments)
