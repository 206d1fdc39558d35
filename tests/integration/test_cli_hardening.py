"""The `eightxeight` command against a real sandbox, tried the way a stranger would."""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eightxeight_async import sandbox as sandbox_module
from eightxeight_async.sandbox import Sandbox

from .cli_support import clean_env, invoke, run_process, sandbox_env, sandbox_in_thread

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox in its own thread; messages are delivered (or not) within a second."""
    with sandbox_in_thread(tmp_path, sent_after=0.1, delivered_after=0.3) as server:
        yield server


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose messages stay queued for a minute."""
    with sandbox_in_thread(tmp_path, sent_after=60, delivered_after=120) as server:
        yield server


def send(sandbox: Sandbox, destination: str = "+6591234567") -> str:
    code, out, err = invoke(
        ["--json", "send", "--to", destination, "--text", "Code 1"], sandbox_env(sandbox)
    )
    assert code == 0, err
    umid: str = json.loads(out)["umid"]
    return umid


# --- status: its own exit codes, and JSON in every case ----------------------------------------


def test_status_wait_that_runs_out_exits_7_with_json(slow_sandbox: Sandbox) -> None:
    """`status --wait --timeout 1` on a queued message: exit 7, the details printed as JSON."""
    umid = send(slow_sandbox)
    code, out, err = invoke(
        ["status", umid, "--wait", "--timeout", "1", "--json"], sandbox_env(slow_sandbox)
    )
    assert code == 7, err
    document = json.loads(out)
    assert document["status"]["state"] == "queued"
    assert document["error"] == {
        "type": "CliError",
        "message": "The message is still in state 'queued' (not final) after 1 s.",
        "exit_code": 7,
        "hint": "Run `eightxeight status UMID --wait` again later, or give a longer --timeout.",
    }
    assert "still in state 'queued' (not final) after 1 s" in err
    assert "refused" not in err
    assert "still sent" not in err


def test_status_of_an_undelivered_message_exits_8(sandbox: Sandbox) -> None:
    """Waiting on a message that ends undelivered exits 8, with its details and error printed."""
    umid = send(sandbox, "+15550100002")
    code, out, err = invoke(["status", umid, "--wait", "--json"], sandbox_env(sandbox))
    assert code == 8, err
    details = json.loads(out)
    assert details["status"]["state"] == "undelivered"
    assert details["error"]["exit_code"] == 8
    expected = (
        "The message ended in state 'undelivered' / undelivered_to_recipient: "
        "8x8 reports error 1, Absent subscriber."
    )
    assert details["error"]["message"] == expected
    assert expected in err
    code, out, _ = invoke(["status", umid], sandbox_env(sandbox))
    assert code == 8
    assert "undelivered" in out


def test_status_of_a_delivered_message_exits_0(sandbox: Sandbox) -> None:
    """A delivered message: exit 0, with or without --wait."""
    umid = send(sandbox)
    code, out, err = invoke(["status", umid, "--wait"], sandbox_env(sandbox))
    assert code == 0, err
    assert "delivered / delivered_to_recipient" in out
    assert invoke(["status", umid], sandbox_env(sandbox))[0] == 0
    code, out, _ = invoke(["status", umid, "--json"], sandbox_env(sandbox))
    assert "error" not in json.loads(out)


def test_rejected_message_says_why_in_text_and_json(sandbox: Sandbox) -> None:
    """A REJECTED send: exit 4; with --json the answer and the error are one document."""
    env = sandbox_env(sandbox)
    code, out, err = invoke(["--json", "send", "--to", "+15550100003", "--text", "x"], env)
    assert code == 4, err
    document = json.loads(out)
    assert document["status"]["code"] == "REJECTED"
    assert document["destination"] == "+15*******03"
    assert document["error"]["exit_code"] == 4
    assert document["error"]["message"].startswith("8x8 rejected the message: ")
    code, out, err = invoke(["status", document["umid"]], env)
    assert code == 8, err
    # The sandbox, like 8x8, reports a rejected send as failed, with its reason.
    assert err.startswith("error: The message ended in state 'failed': 8x8 reports Invalid MSISDN")


def test_send_and_survey_mask_numbers_as_the_readme_does(sandbox: Sandbox) -> None:
    """Text output masks the E.164 form: +65******67, the form status and the README use."""
    code, out, err = invoke(["send", "--to", "+6591234567", "--text", "x"], sandbox_env(sandbox))
    assert code == 0, err
    assert "destination        +65******67" in out


# --- secrets and ids ---------------------------------------------------------------------------


def test_send_json_masks_the_destination(sandbox: Sandbox) -> None:
    """`--json send` prints the destination masked, as the SDK masks numbers everywhere."""
    code, out, _ = invoke(
        ["--json", "send", "--to", "+6591234567", "--text", "x"], sandbox_env(sandbox)
    )
    assert code == 0
    assert "6591234567" not in out
    assert json.loads(out)["destination"] == "+65******67"
    umid = json.loads(out)["umid"]
    code, out, _ = invoke(["status", umid, "--json"], sandbox_env(sandbox))
    assert "6591234567" not in out


@pytest.mark.parametrize("columns", ["40", "80"])
def test_ids_are_never_cut_in_a_pipe_or_a_narrow_terminal(sandbox: Sandbox, columns: str) -> None:
    """send and status print whole UMIDs and client message ids at any width."""
    env = {**sandbox_env(sandbox), "COLUMNS": columns}
    # Long, but no phone-like run of 7+ digits: those are masked wherever ids are shown.
    cmid = "order-" + "7a" * 30
    result = run_process(
        ["send", "--to", "+6591234567", "--text", "x", "--client-message-id", cmid], env
    )
    assert result.returncode == 0, result.stderr
    umid = UUID.search(result.stdout)
    assert umid is not None
    assert umid.group() in sandbox.state.messages
    assert cmid in result.stdout
    result = run_process(["status", umid.group()], env)
    assert umid.group() in result.stdout
    assert "…" not in result.stdout


def test_demo_json_and_narrow_terminal() -> None:
    """`demo --json` prints JSON; on 40 columns its table keeps every id whole."""
    code, out, err = invoke(["demo", "--delivered-after", "0.2", "--json"])
    assert code == 0, err
    report = json.loads(out)
    # One step per call: no layout rows, whole milliseconds, the ids in their own field.
    for step in report["steps"]:
        assert step["call"], step
        assert isinstance(step["at_ms"], int), step
        assert set(step) == {"at_ms", "call", "result", "ids"}
    ids = [step["ids"] for step in report["steps"] if step["ids"]]
    assert ids == [
        {"umid": report["umid"]},
        {"client_message_id": report["unknown_outcome_client_message_id"]},
    ]
    assert report["final_state"] == "delivered"
    assert UUID.fullmatch(report["umid"])
    assert HEX32.fullmatch(report["unknown_outcome_client_message_id"])
    code, out, err = invoke(["demo", "--delivered-after", "0.2"], {"COLUMNS": "40"})
    assert code == 0, err
    assert UUID.search(out)
    assert HEX32.search(out)
    assert "…" not in out


# --- connection failures in the command's words ------------------------------------------------


def test_http_base_url_against_tls_sandbox_names_the_mismatch(sandbox: Sandbox) -> None:
    """`--base-url http://` against the TLS sandbox says to use https://, naming the URL."""
    env = sandbox_env(sandbox)
    http_url = sandbox.base_url.replace("https://", "http://")
    code, _, err = invoke(
        ["send", "--to", "+6591234567", "--text", "x", "--base-url", http_url], env
    )
    assert code == 5, err
    assert "speak only HTTPS" in err
    assert f"try {sandbox.base_url}" in err
    assert "client_message_id=" not in err


def test_untrusted_certificate_names_ca_bundle(sandbox: Sandbox) -> None:
    """Without the sandbox's CA: the message names --ca-bundle, not the SDK's `verify`."""
    env = {k: v for k, v in sandbox_env(sandbox).items() if k != "EIGHTXEIGHT_CA_BUNDLE"}
    code, _, err = invoke(["status", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"], env)
    assert code == 5
    assert "is not trusted" in err
    assert "--ca-bundle" in err
    assert "verify" not in err
    assert sandbox.base_url in err


def test_connection_refused_names_the_url_and_its_source(tmp_path: Path) -> None:
    """Nothing listening: the message names the URL and where it came from (the variable)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        env = {
            "EIGHTXEIGHT_API_KEY": "k",
            "EIGHTXEIGHT_SUBACCOUNT_ID": "acme",
            "EIGHTXEIGHT_BASE_URL": url,
        }
        code, out, err = invoke(["status", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9", "--json"], env)
    assert code == 5
    assert f"{url} (from EIGHTXEIGHT_BASE_URL)" in err
    assert json.loads(out)["error"]["exit_code"] == 5


def test_unknown_send_outcome_names_the_option_to_look_up(sandbox: Sandbox) -> None:
    """A dropped send: exit 5, the id to look for as --client-message-id, in JSON too."""
    sandbox.faults.inject("drop", 1, endpoint="send_sms")
    args = ["--json", "send", "--to", "+6591234567", "--text", "x", "--client-message-id", "o-1"]
    code, out, err = invoke(args, sandbox_env(sandbox))
    assert code == 5, err
    assert "may or may not have been accepted" in err
    assert "--client-message-id o-1" in err
    assert "client_message_id=" not in err
    assert json.loads(out)["error"]["client_message_id"] == "o-1"


def test_http_error_keeps_its_error_id(sandbox: Sandbox) -> None:
    """8x8's `[errorId ...]` reaches the terminal (rich markup used to eat it)."""
    code, _, err = invoke(
        ["feedback", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9", "success"], sandbox_env(sandbox)
    )
    assert code == 4
    assert re.search(r"\[errorId [^\]]+\]", err), err
    assert "Check the UMID" in err


# --- the sandbox command -----------------------------------------------------------------------


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eightxeight_async", "sandbox", *args],
        env=clean_env(TMPDIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_stops_cleanly_on_sigterm_and_ctrl_c(sig: signal.Signals, tmp_path: Path) -> None:
    """SIGTERM or Ctrl-C: the sandbox stops, removes its temporary CA folder, and exits 0."""
    process = _start(["--json", "--slow", "0.25"], tmp_path)
    try:
        assert process.stdout is not None
        settings = json.loads(process.stdout.readline())
        ca = Path(settings["EIGHTXEIGHT_CA_BUNDLE"])
        assert ca.exists()
        assert settings["EIGHTXEIGHT_BASE_URL"].startswith("https://127.0.0.1:")
        # Where it listens and how it misbehaves, not only the four variables.
        assert settings["base_url"] == settings["EIGHTXEIGHT_BASE_URL"]
        assert settings["host"] == "127.0.0.1"
        assert settings["base_url"].endswith(f":{settings['port']}")
        assert settings["ca_path"] == str(ca)
        assert settings["faults"] == {
            "fail_429": 0.0,
            "fail_500": 0.0,
            "slow": 0.25,
            "slow_seconds": 2.0,
            "drop": 0.0,
            "seed": None,
        }
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not ca.parent.exists()


def test_sandbox_on_all_interfaces_prints_a_connectable_url(tmp_path: Path) -> None:
    """`--host 0.0.0.0` prints https://127.0.0.1:PORT (and says it listens everywhere)."""
    process = _start(["--host", "0.0.0.0"], tmp_path)
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # what it prints until it is ready
            lines.append(line)
            if line.startswith("Ctrl-C stops it"):
                break
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out = "".join(lines)
    assert re.match(r"8x8 sandbox on https://127\.0\.0\.1:\d+ ", lines[0])
    assert "all interfaces" in lines[1]
    assert "EIGHTXEIGHT_BASE_URL=https://127.0.0.1:" in out
    assert "0.0.0.0:" not in out


def test_sandbox_port_in_use_is_a_message(tmp_path: Path) -> None:
    """A port in use: one message naming --port, exit 1, no traceback, no folder left behind."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "eightxeight_async", "sandbox", "--port", str(port)],
            env=clean_env(TMPDIR=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: The sandbox could not start on 127.0.0.1 port {port}")
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_sandbox_options_reach_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """--dlr-retry-scale and the fault shares are passed on (the server is stopped at start)."""
    seen: dict[str, Any] = {}

    class Recording(Sandbox):
        async def start(self) -> None:
            seen["delays"] = self.state.dlr_retry_delays
            seen["faults"] = self.faults
            raise OSError(98, "Address already in use")

    monkeypatch.setattr(sandbox_module, "Sandbox", Recording)
    code, _, err = invoke(
        ["sandbox", "--dlr-retry-scale", "0.5", "--fail-429", "0.25", "--seed", "3"]
    )
    assert code == 1
    assert "Address already in use" in err
    assert seen["delays"] == (0.5, 5.0, 15.0, 45.0)
    assert seen["faults"].share_429 == 0.25


# --- interrupts --------------------------------------------------------------------------------


def test_ctrl_c_during_status_wait_exits_130(slow_sandbox: Sandbox) -> None:
    """Ctrl-C while `status --wait` polls: exit 130, a short message, no traceback."""
    umid = send(slow_sandbox)
    process = subprocess.Popen(
        [sys.executable, "-m", "eightxeight_async", "status", umid, "--wait", "--json"],
        env=clean_env(sandbox_env(slow_sandbox)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        # Interrupt once the command is polling: the sandbox has seen its first details request.
        for _ in range(600):  # a 30 s guard, not a measurement
            if slow_sandbox.state.requests.get("get_message") or process.poll() is not None:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Interrupted." in err
    assert "Traceback" not in err
    assert "Aborted" not in err


# --- the README's commands, as written ---------------------------------------------------------


def _readme_commands() -> list[str]:
    section = README.read_text().split("## The `eightxeight` command", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("eightxeight ") and "..." not in command:
            commands.append(command)
    return commands


def test_readme_cli_commands_run_as_written(sandbox: Sandbox) -> None:
    """Every `eightxeight` line of the README's CLI section runs against the sandbox."""
    env = sandbox_env(sandbox)
    umid = None
    ran = 0
    for command in _readme_commands():
        args = shlex.split(command)[1:]
        if args[0] == "sandbox":
            continue  # the lines below it are the export it prints: what `env` holds here
        if "UMID" in args:
            assert umid is not None, "the README uses UMID before sending"
            args = [umid if arg == "UMID" else arg for arg in args]
        code, out, err = invoke(args, env)
        assert code == 0, f"{command}: {err}"
        found = UUID.search(out)
        if args[0] in ("send", "survey") and found:
            umid = found.group()
        ran += 1
    assert ran >= 4


def test_readme_lists_every_exit_code() -> None:
    """The README's exit-code table has a row for each code the command uses."""
    section = README.read_text().split("## The `eightxeight` command", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)}
    from eightxeight_async import _cli_errors

    used = {value for name, value in vars(_cli_errors).items() if name.startswith("EXIT_")}
    assert used <= documented | {0}, sorted(used - documented)


def test_not_found_under_a_path_prefix_blames_the_base_url(sandbox: Sandbox) -> None:
    """A base URL with a wrong path answers 404 to a send: the hint names the path, not a UMID."""
    env = {**sandbox_env(sandbox), "EIGHTXEIGHT_BASE_URL": sandbox.base_url + "/api/v9"}
    code, _, err = invoke(["send", "--to", "+6591234567", "--text", "x"], env)
    assert code == 4, err
    assert "Check the path of the base URL" in err
    assert "EIGHTXEIGHT_BASE_URL" in err
    assert "UMID" not in err
