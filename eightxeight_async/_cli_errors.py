"""How the ``eightxeight`` command reports a failure.

One message in the command's own words, a hint saying what to do, and an exit code of its kind
(the table is in ``_cli_app``).

Nothing here passes text through rich markup, which would eat anything in brackets (8x8's
``[errorId ...]``, the ``[sandbox]`` of an install hint). Text that came from a server or the
user has its control characters escaped before it reaches a terminal.
"""

from __future__ import annotations

import os
import ssl
import sys
import traceback
import uuid
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import click
import httpx

from ._converters import dumps_for_humans
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    EightXEightError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    TLSVersionError,
    ValidationError,
    clean_server_text,
)
from ._exports import LogExportError, LogExportTimeoutError
from ._redact import mask_numbers
from ._redis import RateLimiterUnavailableError
from ._transport_errors import exception_chain


class Settings(Protocol):
    """What the error report reads of the command's settings (``_cli_options.Settings``).

    A protocol rather than an import: ``_cli_options`` raises this module's ``CliError``, and the
    two would otherwise import each other.
    """

    as_json: bool
    debug: bool
    from_env: set[str]
    command: str | None
    umid: str | None

    @property
    def effective_url(self) -> str:
        """The base URL the client would use."""

    def describe_url(self) -> str:
        """The base URL and where it came from (an option, the environment, the region)."""


__all__ = [
    "CliError",
    "base_url_path",
    "clean",
    "option_name",
    "print_json_error",
    "report",
    "without_userinfo",
]

EXIT_LOCAL = 1
EXIT_USAGE = 2
EXIT_VALIDATION = 3
EXIT_API = 4
EXIT_CONNECTION = 5
EXIT_RESPONSE = 6
EXIT_NOT_FINAL = 7
EXIT_NOT_DELIVERED = 8
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

ISSUES_URL = "https://github.com/eightxeight-async/eightxeight-async/issues"

#: The SDK's argument names (``ValidationError.field``) as the command spells them.
OPTION_NAMES = {
    "api_key": "--api-key (EIGHTXEIGHT_API_KEY)",
    "subaccount_id": "--subaccount-id (EIGHTXEIGHT_SUBACCOUNT_ID)",
    "base_url": "--base-url (EIGHTXEIGHT_BASE_URL)",
    "region": "--region",
    "verify": "--ca-bundle (EIGHTXEIGHT_CA_BUNDLE)",
    "destination": "--to",
    "text": "--text",
    "source": "--source",
    "country": "--country",
    "client_message_id": "--client-message-id",
    "encoding": "--encoding",
    "track": "--track",
    "dlr_callback_url": "--dlr-url",
    "client_ip": "--client-ip",
    "template_body": "--template",
    "template_variables": "--var",
    "survey_id": "SURVEY_ID",
    "umid": "UMID",
    "outcome": "OUTCOME",
    # No option sets these: the variable is where the value came from.
    "account_id": "EIGHTXEIGHT_ACCOUNT_ID",
    "EIGHTXEIGHT_ACCOUNT_ID": "EIGHTXEIGHT_ACCOUNT_ID",
    # The SDK names a bad value read from a variable by the variable.
    "EIGHTXEIGHT_API_KEY": "EIGHTXEIGHT_API_KEY",
    "EIGHTXEIGHT_SUBACCOUNT_ID": "EIGHTXEIGHT_SUBACCOUNT_ID",
    "EIGHTXEIGHT_BASE_URL": "EIGHTXEIGHT_BASE_URL",
}


class CliError(Exception):
    """A failure the command explains itself.

    Args:
        code: The exit code.
        message: One sentence saying what happened.
        hint: What to do about it, in the command's terms.
        printed: Whether the result was already printed (then ``--json`` prints no error object,
            so that stdout holds one JSON document).
        document: With ``--json``, the result the command got before failing (a message's
            details): the error object is added to it under ``"error"``, in one document.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        hint: str | None = None,
        printed: bool = False,
        document: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.printed = printed
        self.document = document


#: The settings read from the environment too: SDK field -> (option, variable, Settings name).
_ENV_SETTINGS = {
    "api_key": ("--api-key", "EIGHTXEIGHT_API_KEY", "api_key"),
    "subaccount_id": ("--subaccount-id", "EIGHTXEIGHT_SUBACCOUNT_ID", "subaccount_id"),
    "base_url": ("--base-url", "EIGHTXEIGHT_BASE_URL", "base_url"),
    "verify": ("--ca-bundle", "EIGHTXEIGHT_CA_BUNDLE", "ca_bundle"),
    "redis_url": ("--redis-url", "EIGHTXEIGHT_REDIS_URL", "redis_url"),
}


def option_name(field: str, settings: Settings | None = None) -> str:
    """The command-line spelling of an SDK argument name.

    With the settings, a setting that can come from an option or a variable is named by the one
    it actually came from.
    """
    if settings is not None and field in _ENV_SETTINGS:
        option, variable, name = _ENV_SETTINGS[field]
        return variable if name in settings.from_env else option
    return OPTION_NAMES.get(field, field)


def base_url_path(settings: Settings | None) -> str:
    """The path prefix of the base URL in use ("" for none)."""
    if settings is None:
        return ""
    try:
        return urlsplit(settings.effective_url).path.rstrip("/")
    except ValueError:
        return ""


def clean(text: str) -> str:
    """Escape control and format characters: server text must not move the cursor or forge lines.

    The SDK's own escaping, without its length cut: an id the user must copy is never shortened.
    """
    return clean_server_text(text, limit=sys.maxsize, redact=False)


def clean_server(text: str) -> str:
    """Server text for the terminal: escaped as :func:`clean` does, numbers and tokens masked.

    For what 8x8 says about a message (its error message may quote the number), not for ids.
    """
    return clean_server_text(text, limit=sys.maxsize)


def without_userinfo(url: str) -> str:
    """The URL without any ``user:password@``, which may hold a secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def os_reason(exc: OSError) -> str:
    """An OS error as a short phrase, with the file it concerns."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason} ({exc.filename})" if exc.filename else reason


def _is_certificate_failure(exc: APIConnectionError) -> bool:
    return any(
        isinstance(err, ssl.SSLCertVerificationError)
        or any(cls.__name__ == "ClientConnectorCertificateError" for cls in type(err).__mro__)
        for err in exception_chain(exc)
    )


def _http_hint(settings: Settings | None) -> str | None:
    """A hint for a plain-http base URL, which neither 8x8 nor the sandbox serves."""
    if settings is None or urlsplit(settings.effective_url).scheme != "http":
        return None
    https = without_userinfo("https" + settings.effective_url[len("http") :])
    return (
        f"The base URL {settings.describe_url()} uses http://, but 8x8 and the sandbox speak "
        f"only HTTPS: try {https}."
    )


def _url_hints(settings: Settings | None) -> list[str]:
    """What to check when the server at the base URL could not be reached or understood."""
    if settings is None:
        return []
    http_hint = _http_hint(settings)
    if http_hint:
        return [http_hint]
    return [
        f"The base URL is {settings.describe_url()}: is the server there running? Set another "
        "with --base-url / EIGHTXEIGHT_BASE_URL, or --region."
    ]


def _looks_like_umid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _not_found_hint(settings: Settings | None) -> str:
    command = settings.command if settings is not None else None
    path = base_url_path(settings)
    url_hint = (
        f"Check the path of the base URL {settings.describe_url()}: 8x8's API lives at the "
        "host's root (the sandbox's too), so a wrong path prefix answers 404."
        if settings is not None
        else ""
    )
    if command in ("send", "bulk"):
        return url_hint  # no id of the user's in the path: only the base URL's can be wrong
    ids = {
        "status": "the UMID",
        "feedback": "the UMID",
        "survey": "the survey id",
    }.get(command or "", "the UMID or survey id")
    hint = f"Check {ids}, and --subaccount-id (each lives in its subaccount)."
    # At the host's root the route exists, so a 404 is the id's ("Message not found"), for
    # feedback as for status; only a path prefix makes the URL a suspect too.
    if path:
        hint += f" {url_hint}"
    return hint.strip()


def _status_hint(exc: APIStatusError, settings: Settings | None) -> str | None:
    if isinstance(exc, AuthenticationError):
        return "Check --api-key (EIGHTXEIGHT_API_KEY) and that it owns --subaccount-id."
    if isinstance(exc, BadRequestError) and exc.code == 1001:
        return "Check --subaccount-id (EIGHTXEIGHT_SUBACCOUNT_ID): the key does not own it."
    if isinstance(exc, NotFoundError):
        return _not_found_hint(settings)
    umid = settings.umid if settings is not None else None
    if isinstance(exc, BadRequestError) and umid is not None and not _looks_like_umid(umid):
        return (
            "Check the UMID: 8x8 gives UMIDs as UUIDs (e.g. 0f8b1c2e-5d4a-4b3c-9e2f-1a2b3c4d5e6f),"
            " the umid that `eightxeight send` prints."
        )
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        return f"Try again in {exc.retry_after:g} s."
    return None


def describe(
    exc: EightXEightError, settings: Settings | None
) -> tuple[int, str, list[str], dict[str, Any]]:
    """Return the exit code, message, hints and JSON fields for one of the SDK's errors."""
    if isinstance(exc, ValidationError):
        option = option_name(exc.field, settings)
        message = f"Invalid {option}: must be {exc.rule}. Nothing was sent."
        if exc.field in OPTION_NAMES or exc.field in _ENV_SETTINGS:
            return EXIT_VALIDATION, message, [], {"option": option}
        # A field no option or variable sets (a bug, or an SDK rule the command cannot name):
        # reported as the field, never as an option that does not exist.
        return EXIT_VALIDATION, message, [], {"field": exc.field}
    if isinstance(exc, APIStatusError):
        hint = _status_hint(exc, settings)
        fields = {"status_code": exc.status_code, "code": exc.code, "error_id": exc.error_id}
        return EXIT_API, clean(str(exc)), [hint] if hint else [], fields
    if isinstance(exc, SendOutcomeUnknownError):
        cause = exc.__cause__
        reason = (
            "the request timed out"
            if isinstance(cause, httpx.TimeoutException)
            else f"the connection failed ({type(cause).__name__ if cause else 'unknown cause'})"
        )
        where = settings.describe_url() if settings else "8x8"
        message = (
            f"The send may or may not have been accepted by {where}: {reason} after the request "
            "went out."
        )
        # The ids may hold a number ("{client_batch_id}/{destination}"): masked when shown.
        reference = (
            f"--client-message-id {clean(mask_numbers(exc.client_message_id))}"
            if exc.client_message_id is not None
            else f"client batch id {clean(mask_numbers(exc.client_batch_id or 'unknown'))}"
        )
        hints = [
            f"Look for {reference} (delivery receipts, "
            "8x8's log export) before sending again: a resend may deliver the message twice.",
        ]
        http_hint = _http_hint(settings)
        if http_hint:
            hints.append(http_hint)
        shown = None if exc.client_message_id is None else mask_numbers(exc.client_message_id)
        return EXIT_CONNECTION, message, hints, {"client_message_id": shown}
    if isinstance(exc, TLSVersionError):
        hints = [
            "Against `eightxeight sandbox --tls12-only` this is the point; a server speaking plain "
            "HTTP fails this way too.",
            *_url_hints(settings),
        ]
        return EXIT_CONNECTION, clean(str(exc)), hints, {}
    if isinstance(exc, RateLimiterUnavailableError):  # Redis, not 8x8: no base-URL hints
        # Refused credentials are the option's mistake (exit 3); anything else, an outage.
        code = EXIT_VALIDATION if getattr(exc, "configuration", False) else EXIT_CONNECTION
        return code, clean(str(exc)), [], {"option": option_name("redis_url", settings)}
    if isinstance(exc, APIConnectionError):
        if _is_certificate_failure(exc):
            where = settings.describe_url() if settings else "the server"
            message = f"The TLS certificate of {where} is not trusted. Nothing was sent."
            hint = (
                "Against the sandbox, pass --ca-bundle (or set EIGHTXEIGHT_CA_BUNDLE) to the CA "
                "file `eightxeight sandbox` printed; against 8x8, leave --ca-bundle out."
            )
            return EXIT_CONNECTION, message, [hint], {}
        return EXIT_CONNECTION, clean(str(exc)), _url_hints(settings), {}
    if isinstance(exc, ResponseValidationError):
        hints = [f"8x8's answer did not match its documentation at {exc.path}."]
        hints += _url_hints(settings)[:1]
        return EXIT_RESPONSE, clean(str(exc)), hints, {"path": exc.path}
    if isinstance(exc, LogExportTimeoutError):  # the job was left running: like status --wait
        return EXIT_NOT_FINAL, clean(str(exc)), [], {"job_id": exc.job_id}
    if isinstance(exc, LogExportError):  # 8x8 ended the job failed, error or cancelled
        return EXIT_API, clean(str(exc)), [], {"job_id": exc.job_id}
    return EXIT_LOCAL, clean(str(exc)), [], {}


def _print_error(message: str, hints: list[str]) -> None:
    click.echo(click.style("error:", fg="red", bold=True) + " " + message, err=True)
    for hint in hints:
        click.echo(f"  {hint}", err=True)


def _debug_wanted(settings: Settings | None) -> bool:
    if settings is not None and settings.debug:
        return True
    return os.environ.get("EIGHTXEIGHT_DEBUG", "").lower() in ("1", "true", "yes", "on")


def print_json_error(
    error_type: str, message: str, code: int, document: dict[str, Any] | None = None
) -> None:
    """Print the one JSON document of a failed ``--json`` run: ``{"error": {...}}``."""
    error = {"type": error_type, "message": message, "exit_code": code}
    click.echo(dumps_for_humans({**(document or {}), "error": error}))


def report(exc: BaseException, settings: Settings | None, *, as_json: bool = False) -> int:
    """Print one failure the way the command reports every failure, and return its exit code.

    Args:
        exc: The failure.
        settings: The command's settings, when it got as far as reading them.
        as_json: Whether ``--json`` was given, as far as the arguments tell: with the settings
            unread (a usage error), the error object is printed all the same.
    """
    as_json = as_json or (settings is not None and settings.as_json)
    printed = False
    document: dict[str, Any] | None = None
    fields: dict[str, Any] = {}
    if isinstance(exc, click.ClickException):
        exc.show()
        if as_json:
            print_json_error(type(exc).__name__, clean(exc.format_message()), exc.exit_code)
        return exc.exit_code
    if isinstance(exc, (click.Abort, KeyboardInterrupt)):
        click.echo("Interrupted.", err=True)
        if as_json:
            print_json_error("Interrupted", "Interrupted.", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    if isinstance(exc, CliError):
        code, message, printed = exc.code, exc.message, exc.printed
        document = exc.document
        hints = [exc.hint] if exc.hint else []
    elif isinstance(exc, EightXEightError):
        code, message, hints, fields = describe(exc, settings)
    elif isinstance(exc, OSError):
        code, message, hints = EXIT_LOCAL, f"{os_reason(exc)}.", []
    else:
        code = EXIT_INTERNAL
        message = f"eightxeight hit an internal error ({type(exc).__name__})."
        hints = [
            f"Please report it at {ISSUES_URL}, with the output of the same command run "
            "with --debug (it shows the traceback; remove any secret from it first)."
        ]
        if _debug_wanted(settings):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    _print_error(message, hints)
    if as_json and not printed:
        error = {"type": type(exc).__name__, "message": message, "exit_code": code, **fields}
        if hints:
            error["hint"] = " ".join(hints)
        click.echo(dumps_for_humans({**(document or {}), "error": error}))
    return code
