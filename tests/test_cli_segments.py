"""`eightxeight segments TEXT`: the part counter on the command line, as a stranger types it.

Nothing here opens a connection or needs a setting: the command only counts.
"""

from __future__ import annotations

import json

import pytest

from eightxeight_async._cli_app import cli
from eightxeight_async._segments import estimate_segments

from .integration.cli_support import ENV_NAMES, runner

EURO = "€"
EMOJI = "😀"


def invoke(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    unset: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    result = runner().invoke(cli, list(args), env=unset, input=stdin)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def fields(stdout: str) -> dict[str, str]:
    """The human output's "Name  value" lines."""
    rows = {}
    for line in stdout.splitlines():
        name, _, value = line.partition("  ")
        rows[name.strip()] = value.strip()
    return rows


def test_segments_prints_encoding_parts_and_room_left() -> None:
    """159 + € = 161 septets: GSM7, 153 | 8, 145 septets left; no warning, exit 0."""
    code, out, err = invoke("segments", "a" * 159 + EURO)
    assert (code, err) == (0, "")
    assert fields(out) == {
        "Encoding": "GSM7",
        "Parts": "2",
        "Characters left": "145 septets in the last part",
        "Length": "161 septets",
    }


def test_segments_auto_picks_ucs2_and_counts_code_units() -> None:
    """One emoji makes the text UCS2; 66 + 2 + 4 = 72 units split 66 | 6: 61 units left."""
    code, out, _ = invoke("segments", "你" * 66 + EMOJI + "你" * 4)
    assert code == 0
    rows = fields(out)
    assert (rows["Encoding"], rows["Parts"]) == ("UCS2", "2")
    assert rows["Characters left"] == "61 UTF-16 code units in the last part"


@pytest.mark.parametrize("where", ["after", "before"])
def test_segments_json_is_one_document(where: str) -> None:
    """--json after the command or before it (the group's): the estimate's fields, snake_case."""
    args = ["segments", "--json", "hi"] if where == "after" else ["--json", "segments", "hi"]
    code, out, err = invoke(*args)
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "encoding": "GSM7",
        "parts": 1,
        "parts_needed": 1,
        "characters_left": 158,
        "units": 2,
        "unit": "septets",
        "truncated": False,
        "warning": None,
    }


@pytest.mark.parametrize("json_flag", [False, True])
def test_segments_warns_past_ten_parts(json_flag: bool) -> None:
    """1531 septets need 11 parts: a warning on stderr, 10 parts reported, exit 0 (8x8 sends
    the first 10 without an error); with --json stdout stays one document holding the warning."""
    code, out, err = invoke("segments", *(["--json"] if json_flag else []), "a" * 1531)
    assert code == 0
    assert err == "Warning: the text needs 11 parts; 8x8 sends the first 10 and cuts the rest.\n"
    if json_flag:
        data = json.loads(out)
        assert (data["parts"], data["parts_needed"], data["truncated"]) == (10, 11, True)
        assert "cuts the rest" in data["warning"]
    else:
        assert fields(out)["Parts"] == "10"


def test_segments_ten_full_parts_have_no_warning() -> None:
    """1530 septets are exactly ten parts: no warning."""
    code, out, err = invoke("segments", "a" * 1530)
    assert (code, err, fields(out)["Parts"]) == (0, "", "10")


@pytest.mark.parametrize(
    ("stdin", "text"),
    [
        pytest.param("hello\n", "hello", id="echo-newline-dropped"),
        pytest.param("hello\r\n", "hello", id="crlf-dropped"),
        pytest.param("two\nlines\n\n", "two\nlines\n", id="only-one-newline-dropped"),
        pytest.param("a" * 159 + EURO, "a" * 159 + EURO, id="no-newline"),
    ],  # an empty stdin is refused: tests/test_cli_segments_tryout.py
)
def test_segments_reads_standard_input_for_dash(stdin: str, text: str) -> None:
    """`-` reads stdin (UTF-8); the one trailing line break a shell adds is not counted."""
    code, out, _ = invoke("segments", "--json", "-", stdin=stdin.encode())
    assert code == 0
    want = estimate_segments(text)
    data = json.loads(out)
    assert (data["units"], data["parts"], data["characters_left"]) == (
        want.units,
        want.parts,
        want.characters_left,
    )


def test_segments_refuses_stdin_that_is_not_utf8() -> None:
    """Latin-1 bytes on stdin: exit 3, naming TEXT and standard input, no traceback."""
    code, out, err = invoke("segments", "-", stdin=b"caf\xe9")
    assert (code, out) == (3, "")
    assert "Invalid TEXT: standard input is not valid UTF-8." in err


def test_segments_refuses_an_argument_that_is_not_utf8() -> None:
    """Undecodable argv bytes arrive as a lone surrogate: refused by name, not counted."""
    code, _, err = invoke("segments", "caf\udce9")
    assert code == 3
    assert "Invalid TEXT: holds bytes that are not valid UTF-8" in err


def test_segments_forced_gsm7_on_foreign_text_names_the_option() -> None:
    """--encoding GSM7 with an emoji: exit 3, `Invalid --encoding`, and the text is not echoed."""
    code, out, err = invoke("segments", "--encoding", "GSM7", "secret 493817 " + EMOJI)
    assert (code, out) == (3, "")
    assert err.startswith("error: Invalid --encoding: must be AUTO or UCS2")
    assert "493817" not in err
    assert "Nothing was sent" not in err  # the command never sends


def test_segments_forced_gsm7_error_in_json() -> None:
    """With --json the refusal is one JSON error object with exit code 3."""
    code, out, _ = invoke("segments", "--json", "--encoding", "GSM7", EMOJI)
    assert code == 3
    error = json.loads(out)["error"]
    assert error["exit_code"] == 3
    assert "--encoding" in error["message"]


@pytest.mark.parametrize("encoding", ["ucs2", "UCS2", "Ucs2"])
def test_segments_encoding_is_case_insensitive(encoding: str) -> None:
    """--encoding ucs2 counts as UCS2: 71 letters are two parts of 67."""
    code, out, _ = invoke("segments", "--encoding", encoding, "a" * 71)
    assert code == 0
    assert (fields(out)["Encoding"], fields(out)["Parts"]) == ("UCS2", "2")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["segments", "--encoding", "UTF8", "hi"], "--encoding", id="bad-encoding"),
        pytest.param(["segments"], "TEXT", id="no-text"),
        pytest.param(["segments", "a", "b"], "b", id="two-texts"),
    ],
)
def test_segments_usage_errors_name_the_option(args: list[str], named: str) -> None:
    """Usage errors: exit 2, the option or argument named, no traceback."""
    code, _, err = invoke(*args)
    assert code == 2
    assert named in err


def test_segments_needs_no_settings() -> None:
    """No key, subaccount or base URL: the command only counts."""
    code, out, _ = invoke("segments", "hi")
    assert (code, fields(out)["Encoding"]) == (0, "GSM7")


def test_segments_help_explains_the_units() -> None:
    """The help names the sizes, the units and the stdin dash."""
    code, out, _ = invoke("segments", "--help")
    assert code == 0
    for words in ("160", "153", "septets", "code units", "standard input", "--encoding"):
        assert words in out
