"""The `eightxeight` command with wrong input, as a stranger types it: no traceback, ever.

Nothing here opens a connection: every run fails before any I/O, or its coroutine is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from eightxeight_async import _cli_options
from eightxeight_async._cli_app import cli
from eightxeight_async._cli_sandbox import connectable_host
from eightxeight_async._errors import APIStatusError, ValidationError

from .integration.cli_support import ENV_NAMES, clean_env, runner

# Nothing listens on the discard port; the runs below must fail before they would connect.
NOWHERE = "https://127.0.0.1:9"
SEND = ["send", "--to", "+6591234567", "--text", "Code 1"]
SETTINGS = ["--api-key", "key", "--subaccount-id", "acme_hq", "--base-url", NOWHERE]


def invoke(*args: str, **env: str) -> tuple[int, str, str]:
    unset: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    result = runner().invoke(cli, list(args), env={**unset, **env})
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def python(code: str, *args: str | bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# --- installed without the extras --------------------------------------------------------------

HIDE_AND_RUN = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # import of it now raises ImportError, as when not installed
from eightxeight_async._cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize(
    ("hidden", "args", "extra"),
    [
        pytest.param("click", ["--help"], "[cli]", id="click-help"),
        pytest.param("rich", ["send", "--to", "+6591234567"], "[cli]", id="rich-send"),
        pytest.param("click,rich", ["sandbox"], "[sandbox]", id="sandbox"),
        pytest.param("click", ["demo", "--json"], "[sandbox]", id="demo"),
    ],
)
def test_cli_without_its_extra_names_the_install(hidden: str, args: list[str], extra: str) -> None:
    """Without click or rich: one line naming the pip install (brackets kept), exit 2."""
    result = python(HIDE_AND_RUN, hidden, *args)
    assert result.returncode == 2, result.stderr
    assert f'pip install "eightxeight-async{extra}"' in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_sandbox_commands_without_the_sandbox_extra(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without starlette/uvicorn/trustme: the hint keeps its `[sandbox]`, exit 2."""
    import eightxeight_async

    # `from . import sandbox` finds the package attribute first, once any test imported it.
    monkeypatch.delattr(eightxeight_async, "sandbox", raising=False)
    monkeypatch.setitem(sys.modules, "eightxeight_async.sandbox", None)
    code, _, err = invoke(command)
    assert code == 2
    assert 'pip install "eightxeight-async[sandbox]"' in err


# --- messages in the command's words -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([*SEND, "--dlr-url", "not a url"], "Invalid --dlr-url: must be", id="dlr"),
        pytest.param([*SEND, "--client-ip", "1.2.3"], "Invalid --client-ip: must be", id="ip"),
        pytest.param([*SEND, "--country", "SGP"], "Invalid --country: must be", id="country"),
        pytest.param([*SEND, "--source", "x" * 17], "Invalid --source: must be", id="source"),
        pytest.param(
            [*SEND, "--client-message-id", "x" * 351], "Invalid --client-message-id", id="cmid"
        ),
        pytest.param(["send", "--to", "12", "--text", "x"], "Invalid --to: must be", id="to"),
        pytest.param(["send", "--to", "+6591234567", "--text", ""], "Invalid --text", id="text"),
        pytest.param(
            ["survey", "nps", "--to", "+6591234567", "--template", "Hi"],
            "Invalid --template: must be",
            id="template",
        ),
        pytest.param(["status", " x"], "Invalid UMID: must be", id="umid"),
    ],
)
def test_validation_errors_name_the_option(args: list[str], expected: str) -> None:
    """A ValidationError names the option the user typed, keeps the rule, and exits 3."""
    code, out, err = invoke(*SETTINGS, *args)
    assert code == 3, err
    assert err.startswith(f"error: {expected}")
    assert "Nothing was sent." in err
    for sdk_word in ("dlr_callback_url", "client_ip", "destination", "template_body", "argument"):
        assert sdk_word not in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(
            ["--subaccount-id", "acme_hq", *SEND],
            {},
            "No API key: pass --api-key or set EIGHTXEIGHT_API_KEY.",
            id="no-key",
        ),
        pytest.param(
            ["--api-key", "key", *SEND],
            {},
            "No subaccount: pass --subaccount-id or set EIGHTXEIGHT_SUBACCOUNT_ID.",
            id="no-subaccount",
        ),
        pytest.param(
            ["--api-key", "a key", "--subaccount-id", "acme_hq", *SEND],
            {},
            "Invalid --api-key: must be printable ASCII",
            id="bad-key",
        ),
        pytest.param(
            ["--subaccount-id", "acme_hq", *SEND],
            {"EIGHTXEIGHT_API_KEY": "a key"},
            "Invalid EIGHTXEIGHT_API_KEY: must be printable ASCII",
            id="bad-key-env",
        ),
        pytest.param(
            ["--api-key", "", "--subaccount-id", "acme_hq", *SEND],
            {},
            "Invalid --api-key: it is empty.",
            id="empty-key",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "", *SEND],
            {},
            "Invalid --subaccount-id: it is empty.",
            id="empty-subaccount",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "acme_hq", "--base-url", "", *SEND],
            {},
            "Invalid --base-url: it is empty.",
            id="empty-base-url",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "acme_hq", *SEND, "--base-url", ""],
            {},
            "Invalid --base-url: it is empty.",
            id="empty-base-url-after",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "acme_hq", *SEND],
            {"EIGHTXEIGHT_BASE_URL": ""},
            "Invalid EIGHTXEIGHT_BASE_URL: it is empty.",
            id="empty-base-url-env",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "acme_hq", *SEND],
            {"EIGHTXEIGHT_BASE_URL": "ftp://x"},
            "Invalid EIGHTXEIGHT_BASE_URL: must be",
            id="base-url-env",
        ),
        pytest.param(
            [*SETTINGS, "--ca-bundle", "/nonexistent/ca.pem", *SEND],
            {},
            "Invalid --ca-bundle: /nonexistent/ca.pem does not exist.",
            id="ca-option",
        ),
        pytest.param(
            [*SETTINGS, *SEND],
            {"EIGHTXEIGHT_CA_BUNDLE": "/nonexistent/ca.pem"},
            "EIGHTXEIGHT_CA_BUNDLE names /nonexistent/ca.pem, which does not exist.",
            id="ca-env",
        ),
        pytest.param(
            ["--api-key", "key", "--subaccount-id", "acme_hq", "--base-url", "ftp://x", *SEND],
            {},
            "Invalid --base-url: must be",
            id="base-url",
        ),
    ],
)
def test_settings_errors_speak_the_commands_words(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    """Missing or wrong settings name the option and the variable, not the SDK's arguments."""
    code, _, err = invoke(*args, **env)
    assert code == 3, err
    assert err.startswith(f"error: {expected}")
    assert "as an argument" not in err
    assert "verify" not in err
    assert "Usage:" not in err
    assert len(err.splitlines()) <= 2  # the message, and at most one hint


def test_ca_bundle_that_is_not_pem_names_the_option(tmp_path: Path) -> None:
    """A CA bundle file the SDK cannot load is reported as --ca-bundle, not `verify`."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    code, _, err = invoke(*SETTINGS, "--ca-bundle", str(bundle), *SEND)
    assert code == 3
    assert "--ca-bundle" in err
    assert "verify" not in err


@pytest.mark.parametrize("as_json", [False, True])
def test_undecodable_text_byte_is_refused_by_name(as_json: bool) -> None:
    """A byte that is not UTF-8 in argv (`--text $'\\xff'`): exit 3, one line naming --text."""
    json_flag = ["--json"] if as_json else []
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eightxeight_async",
            *SETTINGS,
            *SEND[:3],
            "--text",
            b"\xff",
            *json_flag,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("error: Invalid --text: holds bytes that are not valid UTF-8")
    assert "Usage:" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    if as_json:
        assert json.loads(result.stdout)["error"]["exit_code"] == 3
    else:
        assert result.stdout == ""


@pytest.mark.parametrize("option", ["--to", "--source", "--client-message-id", "--api-key"])
def test_lone_surrogates_are_refused_in_every_text_option(option: str) -> None:
    """Every text option refuses an undecodable byte before anything is built or sent."""
    args = [*SETTINGS, *SEND]
    if option in args:
        args[args.index(option) + 1] = "ab\udcffc"
    else:
        args += [option, "ab\udcffc"]
    code, _, err = invoke(*args)
    assert code == 3
    assert err.startswith(f"error: Invalid {option}: holds bytes that are not valid UTF-8")
    assert "Usage:" not in err


def test_undecodable_environment_variable_is_named() -> None:
    """Bytes that are not UTF-8 in a variable are blamed on the variable, not on --base-url."""
    code, out, err = invoke(
        "--api-key",
        "key",
        "--subaccount-id",
        "acme_hq",
        *SEND,
        "--json",
        EIGHTXEIGHT_BASE_URL="https://127.0.0.1:1\udcff",
    )
    assert code == 3
    assert err.startswith("error: Invalid the environment variable EIGHTXEIGHT_BASE_URL")
    assert "terminal" not in err
    assert "--base-url" not in err
    assert json.loads(out)["error"]["exit_code"] == 3


# --- options: position, ranges, case -----------------------------------------------------------


def test_global_options_work_after_the_command() -> None:
    """--json, --api-key, --subaccount-id and --base-url are accepted after the command too."""
    code, out, err = invoke(*SEND, "--json", "--api-key", "a key", "--subaccount-id", "acme_hq")
    assert code == 3
    assert "--api-key" in err
    error = json.loads(out)["error"]
    assert error["exit_code"] == 3
    assert error["option"] == "--api-key"
    code, _, err = invoke(*SETTINGS[:4], *SEND, "--base-url", "ftp://x")
    assert code == 3
    assert "Invalid --base-url" in err


def test_option_after_the_command_wins_over_the_environment() -> None:
    """`--api-key` after the command replaces EIGHTXEIGHT_API_KEY, as before the command."""
    code, _, err = invoke(
        *SEND, "--api-key", "a key", EIGHTXEIGHT_API_KEY="good", EIGHTXEIGHT_SUBACCOUNT_ID="acme"
    )
    assert code == 3
    assert "Invalid --api-key" in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["sandbox", "--fail-429", "2"], id="share>1"),
        pytest.param(["sandbox", "--fail-500", "-0.1"], id="share<0"),
        pytest.param(["sandbox", "--drop", "nan"], id="share-nan"),
        pytest.param(["sandbox", "--slow", "1.5"], id="slow"),
        pytest.param(["sandbox", "--delivered-after", "-1"], id="delivered-after"),
        pytest.param(["sandbox", "--sent-after", "inf"], id="sent-after-inf"),
        pytest.param(["sandbox", "--slow-seconds", "-2"], id="slow-seconds"),
        pytest.param(["sandbox", "--dlr-retry-scale", "-1"], id="dlr-retry-scale"),
        pytest.param(["sandbox", "--port", "70000"], id="port"),
        pytest.param(["sandbox", "--port", "-1"], id="port-negative"),
        pytest.param(["demo", "--delivered-after", "-1"], id="demo-delivered-after"),
        pytest.param(["status", "u", "--timeout", "-3"], id="status-timeout"),
        pytest.param(["status", "u", "--timeout", "nan"], id="status-timeout-nan"),
    ],
)
def test_numeric_options_are_range_checked(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every numeric option refuses values outside its range with click's usage error (exit 2)."""
    # Were a value let through, the command must end at once instead of serving forever.
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("the command ran")))
    code, _, err = invoke(*args)
    assert code == 2, err
    option = next(arg for arg in args if arg.startswith("--"))
    assert f"'{option}'" in err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        pytest.param(["--subaccount", "a"], "--subaccount", id="subaccount"),
        pytest.param(["--subaccount", "ok_one", "--subaccount", "a b"], "--subaccount", id="2nd"),
        pytest.param(["--api-key", "a key"], "--api-key", id="api-key"),
        pytest.param(["--host", ""], "--host", id="host"),
    ],
)
def test_sandbox_refuses_settings_no_client_could_use(
    args: list[str], option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox subaccount or key the client would refuse is a usage error naming the option."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("the command ran")))
    code, _, err = invoke("sandbox", *args)
    assert code == 2, err
    assert f"'{option}'" in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*SEND, "--track", "outcome"], id="track"),
        pytest.param([*SEND, "--encoding", "ucs2"], id="encoding"),
        pytest.param(["--region", "apac", *SEND], id="region"),
        pytest.param([*SEND, "--region", "eu"], id="region-after"),
    ],
)
def test_choices_are_case_insensitive(args: list[str]) -> None:
    """Choices accept any case (--track outcome like --region apac): the run gets past parsing."""
    code, _, err = invoke("--api-key", "a key", "--subaccount-id", "acme_hq", *args)
    assert code == 3, err  # refused later, by the key's rule: the choice itself was accepted


def test_feedback_outcome_is_case_insensitive() -> None:
    """`feedback UMID SUCCESS` is accepted like `success`."""
    code, _, err = invoke(
        "--api-key", "a key", "--subaccount-id", "acme", "feedback", "u", "SUCCESS"
    )
    assert code == 3, err


def test_bad_var_is_a_usage_error() -> None:
    """`--var x` without `=` is refused with the form to use."""
    code, _, err = invoke(*SETTINGS, "survey", "nps", "--to", "+6591234567", "--var", "x")
    assert code == 2
    assert "Invalid value for '--var': use name=value" in err


def test_feedback_outcome_error_names_the_argument() -> None:
    """A wrong OUTCOME is named as such, with the values to use."""
    code, _, err = invoke(*SETTINGS, "feedback", "u", "maybe")
    assert code == 2
    assert "Invalid value for 'OUTCOME': 'maybe' is not one of 'success', 'failure'" in err


@pytest.mark.parametrize("command", ["send", "survey", "status", "feedback", "sandbox", "demo"])
def test_every_command_has_help(command: str) -> None:
    """`eightxeight COMMAND --help` works for every command."""
    code, out, _ = invoke(command, "--help")
    assert code == 0
    assert "Usage:" in out


# --- failures the command did not foresee ------------------------------------------------------


def _raising(exc: BaseException) -> Any:
    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        coro.close()
        raise exc

    return run


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C ends with exit 130 and a short message, not click's `Aborted!` and exit 1."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(KeyboardInterrupt()))
    code, _, err = invoke(*SETTINGS, *SEND)
    assert code == 130
    assert "Interrupted." in err
    assert "Aborted" not in err


def test_internal_error_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception: a message asking for a report, exit 70, no traceback."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("boom")))
    code, out, err = invoke(*SETTINGS, *SEND, "--json")
    assert code == 70
    assert err.startswith("error: eightxeight hit an internal error (RuntimeError).")
    assert "--debug" in err
    assert json.loads(out)["error"]["exit_code"] == 70


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """--debug (or EIGHTXEIGHT_DEBUG=1) prints the traceback of an internal error."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("boom")))
    for args, env in (([*SEND, "--debug"], {}), (SEND, {"EIGHTXEIGHT_DEBUG": "1"})):
        result = runner().invoke(cli, [*SETTINGS, *args], env=env)
        assert result.exit_code == 70
        assert "Traceback" in result.stderr
        assert "RuntimeError: boom" in result.stderr


def test_os_error_is_a_message_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OS error (a file that cannot be read...) is one line naming it, exit 1."""
    error = FileNotFoundError(2, "No such file or directory", "/x/y.pem")
    monkeypatch.setattr(_cli_options, "run_async", _raising(error))
    code, _, err = invoke(*SETTINGS, *SEND)
    assert code == 1
    assert err.startswith("error: No such file or directory (/x/y.pem).")


def test_server_text_keeps_brackets_and_loses_control_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """8x8's `[errorId ...]` survives (no rich markup), and escape sequences are neutralised."""
    response = httpx.Response(400, request=httpx.Request("POST", NOWHERE))
    error = APIStatusError(
        "8x8 rejected the request (HTTP 400, code 1002): \x1b[2J[bold]Invalid[/bold] "
        "[errorId b4478860-aaaa]",
        response=response,
        code=1002,
        error_id="b4478860-aaaa",
    )
    monkeypatch.setattr(_cli_options, "run_async", _raising(error))
    code, out, err = invoke(*SETTINGS, *SEND, "--json")
    assert code == 4
    assert "[bold]Invalid[/bold] [errorId b4478860-aaaa]" in err
    assert "\x1b" not in err
    assert "\\x1b" in err
    assert json.loads(out)["error"]["error_id"] == "b4478860-aaaa"


def test_validation_rule_with_brackets_is_printed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule holding brackets (8x8's patterns do) is printed as is."""
    monkeypatch.setattr(
        _cli_options, "run_async", _raising(ValidationError("destination", "like [1-9]"))
    )
    code, _, err = invoke(*SETTINGS, *SEND)
    assert code == 3
    assert "Invalid --to: must be like [1-9]. Nothing was sent." in err


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_connectable_host(host: str, expected: str) -> None:
    """The URL printed for a wildcard or IPv6 listener is one a client can use."""
    assert connectable_host(host) == expected


def test_entry_point_runs_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The console script `eightxeight_async._cli:main` runs the command, exiting with its code."""
    from eightxeight_async._cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "eightxeight, version" in capsys.readouterr().out


# --- --json: one document on stdout, usage errors and Ctrl-C included --------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*SEND, "--json", "--bogus"], id="unknown-option"),
        pytest.param(["--json", "send", "--to", "+6591234567"], id="missing-text"),
        pytest.param([*SEND, "--track", "maybe", "--json"], id="bad-choice"),
        pytest.param(["sandbox", "--fail-429", "2", "--json"], id="sandbox-range"),
        pytest.param(["--json", "feedback", "u", "maybe"], id="bad-outcome"),
        pytest.param(["--json", "nosuchcommand"], id="unknown-command"),
    ],
)
def test_json_usage_errors_print_an_error_document(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Click's usage errors (exit 2) print {"error": ...} on stdout when --json is given."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("the command ran")))
    code, out, err = invoke(*SETTINGS, *args)
    assert code == 2, err
    assert "Usage:" in err  # the human still gets click's usage block, on stderr
    error = json.loads(out)["error"]
    assert error["exit_code"] == 2
    assert error["type"] in (
        "UsageError",
        "NoSuchOption",
        "NoSuchCommand",
        "MissingParameter",
        "BadParameter",
    )
    assert error["message"]


def test_json_ctrl_c_prints_an_error_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C with --json: exit 130 and {"error": {"exit_code": 130}} on stdout."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(KeyboardInterrupt()))
    code, out, err = invoke(*SETTINGS, *SEND, "--json")
    assert code == 130
    assert err.strip() == "Interrupted."
    assert json.loads(out)["error"] == {
        "type": "Interrupted",
        "message": "Interrupted.",
        "exit_code": 130,
    }


def test_json_after_double_dash_is_not_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--json` after `--` is an argument: stdout keeps no JSON then."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("the command ran")))
    code, out, _ = invoke(*SETTINGS, "status", "--bogus", "--", "--json")
    assert code == 2
    assert out == ""


# --- Ctrl-C while the modules load -------------------------------------------------------------

INTERRUPT_IMPORT = """
import sys
import eightxeight_async  # the package itself loads before main() can run: see the report
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            raise KeyboardInterrupt  # what Ctrl-C does at this point of the import
        return None
sys.meta_path.insert(0, Interrupt())
from eightxeight_async._cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize(
    "module",
    ["eightxeight_async._cli_app", "eightxeight_async._cli_sandbox", "eightxeight_async._demo"],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_while_importing_exits_130_without_traceback(module: str, as_json: bool) -> None:
    """Ctrl-C in the first moments (imports) ends like any Ctrl-C: `Interrupted.`, exit 130."""
    result = python(INTERRUPT_IMPORT, module, "status", "u", *(["--json"] if as_json else []))
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == "Interrupted.\n"
    if as_json:
        assert json.loads(result.stdout)["error"]["exit_code"] == 130
    else:
        assert result.stdout == ""


# --- help ----------------------------------------------------------------------------------------


def test_top_level_help_cuts_no_summary() -> None:
    """`eightxeight --help` lists every command with a summary that fits, without `...`."""
    code, out, _ = invoke("--help")
    assert code == 0
    commands = out.split("Commands:")[1]
    assert "..." not in commands
    for command in ("send", "survey", "status", "feedback", "sandbox", "demo"):
        assert f"  {command} " in commands


def test_help_describes_arguments_and_every_option() -> None:
    """OUTCOME's choices, what UMID is, and a help text for each sandbox option."""
    _, out, _ = invoke("feedback", "--help")
    assert "OUTCOME is success or failure" in " ".join(out.split())
    _, out, _ = invoke("status", "--help")
    assert "UMID is the id" in " ".join(out.split())
    _, out, _ = invoke("sandbox", "--help")
    assert "--slow-seconds FLOAT RANGE" in out
    slow_seconds = out.split("--slow-seconds")[1].split("\n  --")[0]
    assert "--slow answer" in " ".join(slow_seconds.split())
    assert "--subaccount-id, --subaccount" in out


def test_choice_help_spells_choices_as_their_default() -> None:
    """`--region [APAC|NA|EU|ID]`, in the case of `[default: APAC]`."""
    _, out, _ = invoke("--help")
    assert "[APAC|NA|EU|ID]" in out
    _, out, _ = invoke("send", "--help")
    assert "[AUTO|GSM7|UCS2]" in out
    assert "[None|Outcome]" in out


def test_sandbox_accepts_subaccount_id_and_its_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sandbox --subaccount-id` like the other commands; `--subaccount` still works."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(RuntimeError("the command ran")))
    for option in ("--subaccount-id", "--subaccount"):
        code, _, err = invoke("sandbox", option, "x")
        assert code == 2
        assert "--subaccount-id" in err


# --- small things --------------------------------------------------------------------------------


def test_timeout_without_wait_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """`status UMID --timeout 5` without --wait says the timeout does nothing."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(KeyboardInterrupt()))
    code, _, err = invoke(*SETTINGS, "status", "u", "--timeout", "5")
    assert code == 130
    assert err.startswith("warning: --timeout has no effect without --wait.")
    code, _, err = invoke(*SETTINGS, "status", "u", "--timeout", "5", "--wait")
    assert "warning" not in err


def _status_error(status: int, code: int) -> APIStatusError:
    from eightxeight_async._errors import BadRequestError, NotFoundError

    cls = NotFoundError if status == 404 else BadRequestError
    response = httpx.Response(status, request=httpx.Request("GET", NOWHERE))
    return cls(f"8x8 refused (HTTP {status}, code {code})", response=response, code=code)


@pytest.mark.parametrize(
    ("base_url", "args", "expected", "not_expected"),
    [
        pytest.param(NOWHERE, SEND, "Check the path of the base URL", "UMID", id="send"),
        pytest.param(
            NOWHERE + "/prefix", ["status", "u"], "Check the path of the base URL", None, id="path"
        ),
        pytest.param(
            NOWHERE, ["status", "u"], "Check the UMID", "path of the base URL", id="status"
        ),
        pytest.param(
            NOWHERE, ["survey", "nps", "--to", "+6591234567"], "Check the survey id", None, id="sv"
        ),
        pytest.param(
            NOWHERE, ["feedback", "u", "success"], "Check the UMID", "path of the base URL", id="fb"
        ),
        pytest.param(
            NOWHERE + "/prefix",
            ["feedback", "u", "success"],
            "Check the path of the base URL",
            None,
            id="fb-path",
        ),
    ],
)
def test_not_found_hint_fits_the_command(
    base_url: str,
    args: list[str],
    expected: str,
    not_expected: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 404 on a send blames the base URL's path, not a UMID; on status, the UMID."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(_status_error(404, 1300)))
    code, _, err = invoke(
        "--api-key", "key", "--subaccount-id", "acme_hq", *args, "--base-url", base_url
    )
    assert code == 4, err
    assert expected in err
    if not_expected:
        assert not_expected not in err


def test_bad_request_on_a_umid_that_is_no_uuid_hints_at_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`status a/b` answered 400 says what a UMID looks like."""
    monkeypatch.setattr(_cli_options, "run_async", _raising(_status_error(400, 1000)))
    code, _, err = invoke(*SETTINGS, "status", "a/b")
    assert code == 4
    assert "Check the UMID: 8x8 gives UMIDs as UUIDs" in err
    code, _, err = invoke(*SETTINGS, "status", "0f8b1c2e-5d4a-4b3c-9e2f-1a2b3c4d5e6f")
    assert "Check the UMID" not in err


def test_feedback_json_is_pretty_printed_like_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every --json document is indented the same way."""
    monkeypatch.setattr(_cli_options, "run_async", lambda coro: coro.close())
    code, out, _ = invoke(*SETTINGS, "feedback", "u", "success", "--json")
    assert code == 0
    assert out == json.dumps({"umid": "u", "outcome": "success", "accepted": True}, indent=2) + "\n"


# --- the sandbox's options named when it cannot start -----------------------------------------


def test_sandbox_cert_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    """`--cert-dir FILE` says --cert-dir is not a directory (not "pick another --port")."""
    file = tmp_path / "file"
    file.write_text("x")
    code, _, err = invoke("sandbox", "--cert-dir", str(file))
    assert code == 1
    assert err.startswith(f"error: Invalid --cert-dir: {file} is not a directory.")
    assert "--port" not in err


def test_sandbox_cert_dir_with_a_missing_parent_is_refused(tmp_path: Path) -> None:
    """Only the last folder of --cert-dir is created: a typo'd parent is refused, nothing made."""
    target = tmp_path / "missing" / "certs"
    code, _, err = invoke("sandbox", "--cert-dir", str(target))
    assert code == 1
    assert "Invalid --cert-dir" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_sandbox_host_that_cannot_be_listened_on_is_named(host: str) -> None:
    """An address that is not this machine's, or does not resolve, names --host."""
    code, _, err = invoke("sandbox", "--host", host)
    assert code == 1, err
    assert err.startswith(f"error: The sandbox could not listen on --host {host}:")
    assert "--port" not in err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["send", "--to", "+6591234567", "--text", "hi", "--json", "--bogus"], 2),
        (["send", "--to", "123", "--text", "hi", "--json"], 3),
        (["--help"], 1),  # the output itself could not be delivered: a quiet local failure
    ],
)
def test_a_reader_that_left_keeps_the_exit_code_and_prints_no_traceback(
    args: list[str], code: int
) -> None:
    """`eightxeight ... | head -1`: the reader has gone before the output is written (EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with a broken pipe
    try:
        result = subprocess.run(
            [sys.executable, "-m", "eightxeight_async", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
            check=False,
            env={**clean_env(), "EIGHTXEIGHT_API_KEY": "k", "EIGHTXEIGHT_SUBACCOUNT_ID": "acme_hq"},
        )
    finally:
        os.close(write_end)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
