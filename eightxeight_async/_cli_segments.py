"""The ``eightxeight segments TEXT`` command: how 8x8 will split a text, without sending it.

It prints the encoding (the one ``AUTO`` picks, or the one asked for), the parts 8x8 sends and
bills, and the room left in the last part, through :func:`estimate_segments`: the same counter
the sandbox and ``bulk --dry-run`` use. A text past 10 parts gets a warning on stderr (8x8 cuts
it); the exit code stays 0. An empty (or all-space) TEXT exits 3: 8x8 refuses a message with
no text, and so does ``send_sms``. Nothing is sent and no setting is needed.
"""

from __future__ import annotations

import sys
from typing import BinaryIO

import click

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_errors import CliError
from ._cli_options import apply, choice, output_options
from ._converters import dumps_for_humans
from ._errors import ValidationError
from ._segments import estimate_segments

__all__ = ["segments"]

#: What the units of each encoding are called in the output.
_UNITS = {"GSM7": "septets", "UCS2": "UTF-16 code units"}


@click.command("segments", short_help="Count the SMS parts a text needs; nothing is sent.")
@click.argument("text", metavar="TEXT")
@click.option(
    "--encoding",
    type=choice("AUTO", "GSM7", "UCS2"),
    default="AUTO",
    show_default=True,
    help="The encoding to count in; AUTO picks UCS2 for any character outside GSM 03.38.",
)
@apply(output_options(at_group=False))
def segments(text: str, encoding: str) -> None:
    r"""Count the SMS parts of TEXT as 8x8 sends them (TEXT - reads standard input).

    GSM7 holds 160 septets in one part and 153 per part when split; UCS2 70 and 67 UTF-16 code
    units. An extension character (^ { } \ [ ~ ] | € and form feed) takes two septets, an emoji
    two code units, and neither is split across parts. "Characters left" is in those units.
    8x8 sends at most 10 parts and cuts the rest: past that a warning is printed (exit code 0).
    From standard input, one trailing line break is not counted. An empty (or all-space)
    TEXT exits 3: 8x8 refuses a message with no text.
    """
    settings = opts.current_settings()
    text = _read_stdin() if text == "-" else _checked(text)
    if not text.strip():
        # Bad input, as the SDK's own check says (send_sms refuses it before any I/O): exit 3
        # like any other invalid TEXT, where a text past 10 parts is still a valid count.
        raise CliError(
            errs.EXIT_VALIDATION,
            "Invalid TEXT: it is empty (or only spaces); 8x8 refuses a message with no text.",
        )
    try:
        estimate = estimate_segments(text, encoding)
    except ValidationError as exc:
        # Named by the option; "nothing was sent" would be odd for a command that never sends.
        option = "TEXT" if exc.field == "text" else "--encoding"
        raise CliError(errs.EXIT_VALIDATION, f"Invalid {option}: must be {exc.rule}.") from None
    units = _UNITS[estimate.encoding]
    if settings.as_json:
        data = {
            "encoding": estimate.encoding,
            "parts": estimate.parts,
            "parts_needed": estimate.parts_needed,
            "characters_left": estimate.characters_left,
            "units": estimate.units,
            "unit": units,
            "truncated": estimate.truncated,
            "warning": estimate.warning,
        }
        click.echo(dumps_for_humans(data))
    else:
        rows = [
            ("Encoding", estimate.encoding),
            ("Parts", str(estimate.parts)),
            ("Characters left", f"{estimate.characters_left} {units} in the last part"),
            ("Length", f"{estimate.units} {units}"),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            click.echo(f"{name.ljust(width)}  {value}")
    if estimate.warning is not None:
        click.echo(f"Warning: {estimate.warning[0].lower()}{estimate.warning[1:]}", err=True)


def _checked(text: str) -> str:
    # Undecodable argv bytes arrive as lone surrogates: a count of them would mean nothing.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CliError(
            errs.EXIT_VALIDATION,
            "Invalid TEXT: holds bytes that are not valid UTF-8; "
            "pass it in your terminal's UTF-8 encoding.",
        ) from None
    return text


def _read_stdin() -> str:
    # Bytes, so that input that is not UTF-8 is refused rather than read in the locale's codec.
    stream: BinaryIO | None = getattr(sys.stdin, "buffer", None)
    if stream is None:  # no standard input at all (a closed descriptor, pythonw)
        raise CliError(
            errs.EXIT_VALIDATION, "Invalid TEXT: - reads standard input, and there is none."
        )
    data = stream.read()
    try:
        text: str = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(
            errs.EXIT_VALIDATION, "Invalid TEXT: standard input is not valid UTF-8."
        ) from None
    # `echo hi | eightxeight segments -` means "hi": the shell's line break is not the text's.
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")
