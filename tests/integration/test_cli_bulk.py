"""`eightxeight bulk` against a real sandbox, as a user runs it: counts, report, JSON, Ctrl-C and
resume, dry runs, reconciliation; every claim checked against the sandbox's own record.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Faults, Sandbox

from .cli_support import clean_env, ctrl_c_twice, invoke, sandbox_env, sandbox_in_thread

pytestmark = pytest.mark.integration

ROWS = 2000
#: The bad lines of the big file (line -> what is wrong), and the row 8x8 rejects.
BAD_LINES = {
    101: b"12345,too short a number\n",
    502: b"+6590000502\n",
    903: b'+6590000903,"closed"then more\n',
    1304: b"+6590001304,caf\xe9 not in UTF-8\n",
}
REJECTED_LINE = 1705  # +15550100003: the sandbox REJECTS it, as 8x8 would


def write_rows(path: Path, rows: int = ROWS, bad: dict[int, bytes] | None = None) -> None:
    """A header and ``rows`` rows (line n holds +659 and n), some lines replaced by bad ones."""
    bad = bad or {}
    with path.open("wb") as file:
        file.write(b"phone,name\n")
        for line in range(2, rows + 2):
            if line in bad:
                file.write(bad[line])
            elif line == REJECTED_LINE:
                file.write(b"+15550100003,Rex\n")
            else:
                file.write(f"+659{line:07d},Name {line}\n".encode())


def sent_ids(sandbox: Sandbox) -> Counter[str]:
    """How many times the sandbox holds each client_message_id (REJECTED sends included)."""
    return Counter(m.client_message_id or "" for m in sandbox.state.messages.values())


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    code, out, err = invoke(args, env)
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(tmp_path / "ca") as server:
        yield server


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    write_rows(path, bad=BAD_LINES)
    return path


def test_bulk_sends_every_good_row_once_and_reports_the_rest(
    sandbox: Sandbox, big_file: Path, tmp_path: Path
) -> None:
    """2,000 rows, 4 bad and 1 rejected: exact counts, a report by line, the sandbox agrees."""
    report = tmp_path / "report.csv"
    args = ["bulk", str(big_file), "--template", "Hi {{name}}", "--job-id", "spring"]
    args += ["--report", str(report), "--chunk-size", "300"]
    code, out, err = run(args, sandbox_env(sandbox))
    assert code == 10, err  # finished; some rows were invalid or rejected
    assert "  accepted  1,995\n" in out
    assert "  rejected  1 (refused by 8x8)\n" in out
    assert "  invalid   4 (never sent)\n" in out
    assert "  unknown   0\n" in out
    assert "line 101: invalid destination (column 'phone'): must be a phone number" in err
    assert "line 502: 1 field(s), where the header has 2" in err
    assert "line 903: not valid CSV (',' expected after '\"')" in err
    assert "line 1304: bytes not valid in utf-8 (0xe9)" in err
    assert f"line {REJECTED_LINE}: rejected by 8x8: Invalid MSISDN" in err
    assert err.rstrip().endswith(f"{report} lists them by line.")

    rows = list(csv.reader(io.StringIO(report.read_text())))
    assert rows[0] == ["line", "client_message_id", "state", "reason", "delivery", "error_code"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("101", "spring-99", "invalid"),
        ("502", "spring-500", "invalid"),
        ("903", "spring-901", "invalid"),
        ("1304", "spring-1302", "invalid"),
        (str(REJECTED_LINE), f"spring-{REJECTED_LINE - 2}", "rejected"),
    ]
    assert "15550100003" not in report.read_text()

    # The sandbox's own record: each good row once, under the id of its position; no bad row.
    ids = sent_ids(sandbox)
    bad_rows = {line - 2 for line in BAD_LINES}
    expected = {f"spring-{row}" for row in range(ROWS) if row not in bad_rows}
    assert set(ids) == expected
    assert max(ids.values()) == 1
    assert sandbox.state.requests["send_batch"] == 7  # 2,000 rows in chunks of 300


def test_empty_text_row_is_invalid_without_a_template(sandbox: Sandbox, tmp_path: Path) -> None:
    """An empty text cell is a bad row with its line; the rows around it are sent."""
    path = tmp_path / "texts.csv"
    path.write_text("to,text\n+6591234567,Hello\n+6591234568,  \n+6591234569,Bye\n")
    code, out, err = run(["bulk", str(path), "--json"], sandbox_env(sandbox))
    assert code == 10, err
    document = json.loads(out)
    assert (document["accepted"], document["invalid"]) == (2, 1)
    assert "line 3: column 'text' is empty" in err
    assert len(sandbox.state.messages) == 2


def test_bulk_json_is_one_document(sandbox: Sandbox, tmp_path: Path) -> None:
    """--json: stdout holds exactly one document with the job's counts; exit 0 when all went."""
    path = tmp_path / "clean.csv"
    write_rows(path, rows=50)
    path.write_text(path.read_text().replace("+15550100003", "+6591111111"))
    code, out, err = run(["--json", "bulk", str(path), "--template", "Hi"], sandbox_env(sandbox))
    assert code == 0, err
    document = json.loads(out)  # one document, nothing else on stdout
    assert document["accepted"] == 50
    assert (document["rejected"], document["invalid"], document["unknown"]) == (0, 0, 0)
    assert document["pending"] == 0
    assert document["complete"] is True
    assert document["rows"] == 50
    assert document["this_run"]["accepted"] == 50
    assert document["dry_run"] is False
    assert document["journal"] == f"{path}.journal"
    assert document["resume_command"].startswith(f"eightxeight bulk {path} --journal ")
    assert "error" not in document
    # The journal now holds the job: the same command again is refused, not sent twice.
    code, out, err = run(["--json", "bulk", str(path), "--template", "Hi"], sandbox_env(sandbox))
    assert code == 2
    assert json.loads(out)["error"]["exit_code"] == 2
    assert len(sandbox.state.messages) == 50


def test_rerun_of_a_finished_job_sends_nothing(sandbox: Sandbox, big_file: Path) -> None:
    """The same --job-id again: every row is settled already; nothing is sent."""
    args = ["bulk", str(big_file), "--template", "Hi {{name}}", "--job-id", "again"]
    assert run(args, sandbox_env(sandbox))[0] == 10
    requests = sandbox.state.requests["send_batch"]
    code, out, err = run([*args, "--json"], sandbox_env(sandbox))
    assert code == 10, err
    document = json.loads(out)
    assert document["this_run"]["done_earlier"] == ROWS - len(BAD_LINES)
    assert document["this_run"]["accepted"] == 0
    assert sandbox.state.requests["send_batch"] == requests
    assert max(sent_ids(sandbox).values()) == 1


def test_a_fixed_row_is_sent_by_the_next_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """Fix a bad line in place and rerun the job: that row is sent, and only that row."""
    path = tmp_path / "fix.csv"
    path.write_bytes(b"to,text\n+6591234567,one\n+65912,two\n+6591234569,three\n")
    args = ["bulk", str(path), "--job-id", "fixing"]
    assert run(args, sandbox_env(sandbox))[0] == 10
    path.write_bytes(b"to,text\n+6591234567,one\n+6591234568,two\n+6591234569,three\n")
    code, _, err = run(args, sandbox_env(sandbox))
    assert code == 0, err
    assert sent_ids(sandbox) == Counter({"fixing-0": 1, "fixing-1": 1, "fixing-2": 1})


def test_a_changed_file_is_refused_on_resume(sandbox: Sandbox, tmp_path: Path) -> None:
    """Another text on a row already sent: exit 3 naming the line; nothing more is sent."""
    path = tmp_path / "changed.csv"
    path.write_text("to,text\n+6591234567,one\n+6591234568,two\n")
    args = ["bulk", str(path), "--job-id", "changing"]
    assert run(args, sandbox_env(sandbox))[0] == 0
    path.write_text("to,text\n+6591234567,one\n+6591234568,TWO\n")
    code, _, err = run(args, sandbox_env(sandbox))
    assert code == 3
    assert "is not the input job changing was started with: the row on line 3 differs" in err
    assert len(sandbox.state.messages) == 2


# --- dry runs ----------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_prices_the_job(sandbox: Sandbox, big_file: Path) -> None:
    """--dry-run: every row checked, parts and cost estimated; the sandbox saw no send."""
    env = {**sandbox_env(sandbox), "EIGHTXEIGHT_ACCOUNT_ID": sandbox.account_id}
    code, out, err = run(
        ["--json", "bulk", str(big_file), "--template", "Hi {{name}}", "--dry-run"], env
    )
    assert code == 3, err  # bad rows: the file would not go whole
    document = json.loads(out)
    assert (document["rows"], document["valid"], document["invalid"]) == (ROWS, ROWS - 4, 4)
    assert document["parts"] == ROWS - 4
    assert document["encodings"] == {"GSM7": ROWS - 4}
    # 1,995 Singapore rows at the sandbox's SG operators (0.0069 to 0.0075 EUR a part), one US.
    cost = document["cost"]["EUR"]
    assert Decimal(cost["low"]) == Decimal("0.0069") * 1995 + Decimal("0.0066")
    assert Decimal(cost["high"]) == Decimal("0.0075") * 1995 + Decimal("0.0070")
    assert document["rows_without_price"] == 0
    assert sandbox.state.requests.get("send_batch", 0) == 0
    assert sandbox.state.requests["get_prices"] == 1
    assert not Path(f"{big_file}.journal").exists()


def test_dry_run_without_an_account_counts_parts_only(sandbox: Sandbox, big_file: Path) -> None:
    """No account id: parts are counted, the cost says why it is missing; nothing is sent."""
    code, out, _ = run(
        ["bulk", str(big_file), "--template", "Hi {{name}}", "--dry-run"], sandbox_env(sandbox)
    )
    assert code == 3
    assert "  cost     not estimated: set --account-id (EIGHTXEIGHT_ACCOUNT_ID)" in out
    assert sandbox.state.requests.get("send_batch", 0) == 0
    assert sandbox.state.requests.get("get_prices", 0) == 0


# --- Ctrl-C and resuming -----------------------------------------------------------------------


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eightxeight_async", *args],
        env=clean_env(env, COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for(condition: object, process: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # a 60 s guard, not a measurement
        if callable(condition) and condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the bulk process ended early: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail("the bulk process never got there")


def resume_command(err: str) -> list[str]:
    line = next(line for line in err.splitlines() if "Resume with: " in line)
    words = shlex.split(line.split("Resume with: ", 1)[1])
    assert words[:2] == ["eightxeight", "bulk"]
    return words[1:]


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [
        pytest.param(signal.SIGINT, 130, "Interrupted", id="ctrl-c"),
        pytest.param(signal.SIGTERM, 143, "Stopped by SIGTERM", id="sigterm"),
    ],
)
def test_ctrl_c_stops_cleanly_and_the_printed_command_resumes(
    tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    """SIGINT (or SIGTERM) mid-job: exit 130 (143), the resume command printed; it finishes,
    and the sandbox's record shows no row sent twice."""
    path = tmp_path / "contacts.csv"
    write_rows(path)
    faults = Faults(share_slow=1.0, slow_seconds=0.5)  # every batch takes half a second
    with sandbox_in_thread(tmp_path / "ca", faults=faults) as sandbox:
        env = sandbox_env(sandbox)
        args = ["bulk", str(path), "--template", "Hi {{name}}", "--chunk-size", "100"]
        process = start([*args, "--concurrency", "2"], env)
        try:
            wait_for(lambda: sandbox.state.requests["send_batch"] >= 3, process)
            process.send_signal(sig)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == code, err
        assert "Traceback" not in err
        assert "Stopping: the batch requests in flight finish first" in err
        assert f"error: {said}: the rows not sent yet stay pending in the journal." in err
        assert "the rest of the file (not sent yet)" in out
        sent_before = len(sandbox.state.messages)
        assert 0 < sent_before < ROWS
        command = resume_command(err)
        assert command[1] == str(path)
        assert "--job-id" in command
        assert command[-2:] == ["--template", "Hi {{name}}"]

        sandbox.faults.share_slow = 0.0
        rerun, out, err = run(command, env)
        assert rerun == 10, err  # one row is the sandbox's REJECTED number
        ids = sent_ids(sandbox)
        assert len(ids) == ROWS
        assert max(ids.values()) == 1  # the sandbox's own record: nothing sent twice
        assert f"  earlier   {sent_before:,} rows settled by an earlier run\n" in out


def test_ctrl_c_twice_leaves_unknown_rows_that_reconcile_finds(tmp_path: Path) -> None:
    """Ctrl-C twice abandons the batch in flight (its rows unknown); --reconcile finds them."""
    path = tmp_path / "few.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(30)))
    faults = Faults(share_slow=1.0, slow_seconds=30)  # the request is taken, the answer held
    with sandbox_in_thread(tmp_path / "ca", faults=faults) as sandbox:
        env = sandbox_env(sandbox)
        args = ["bulk", str(path), "--job-id", "twice", "--chunk-size", "10", "--concurrency", "1"]
        process = start(args, env)
        try:
            wait_for(lambda: sandbox.state.requests["send_batch"] >= 1, process)
            out, err = ctrl_c_twice(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 130, err
        assert "  unknown   10 (may or may not have reached 8x8)" in out
        assert len(sandbox.state.messages) == 10  # the sandbox took the batch; no answer came

        sandbox.faults.share_slow = 0.0
        code, out, err = run(["bulk", str(path), "--job-id", "twice"], env)
        assert code == 9, err  # the unknown rows are held back, the rest sent
        assert "10 row(s) may or may not have reached 8x8" in err
        assert f"bulk {path} --journal {path}.journal --job-id twice --reconcile" in err
        assert len(sandbox.state.messages) == 30

        code, out, err = run(["--json", "bulk", str(path), "--job-id", "twice", "--reconcile"], env)
        assert code == 0, err
        document = json.loads(out)
        assert document["reconcile"]["checked"] == 10
        assert document["reconcile"]["found"] == 10
        assert (document["accepted"], document["unknown"]) == (30, 0)
        assert max(sent_ids(sandbox).values()) == 1


def test_reconcile_then_resend_what_8x8_never_got(sandbox: Sandbox, tmp_path: Path) -> None:
    """A dropped batch: unknown rows (exit 9), not in 8x8's log, sent by --resend-unknown."""
    path = tmp_path / "drop.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(20)))
    env = sandbox_env(sandbox)
    sandbox.faults.inject("drop", 1, endpoint="send_batch")
    args = ["bulk", str(path), "--job-id", "dropped", "--chunk-size", "10", "--concurrency", "1"]
    code, out, err = run(args, env)
    assert code == 9, err
    assert "  unknown   10 (may or may not have reached 8x8)\n" in out
    assert "lines 2 to 11 (10 rows): outcome unknown: " in err  # one note for the chunk
    assert "line 12" not in err
    assert len(sandbox.state.messages) == 10

    code, out, err = run([*args, "--reconcile"], env)
    assert code == 9, err
    assert "10 unknown row(s) looked up in 8x8's log export: 0 found" in out
    assert "--reconcile --resend-unknown" in err
    assert len(sandbox.state.messages) == 10

    code, out, err = run([*args, "--reconcile", "--resend-unknown", "--json"], env)
    assert code == 0, err
    document = json.loads(out)
    assert document["reconcile"]["resent"] == 10
    assert (document["accepted"], document["unknown"]) == (20, 0)
    assert max(sent_ids(sandbox).values()) == 1
    assert len(sandbox.state.messages) == 20


def test_job_level_failure_keeps_the_journal_and_says_how_to_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A wrong key: exit 4 with 8x8's message and the resume command; rows stay pending."""
    path = tmp_path / "key.csv"
    path.write_text("to,text\n+6591234567,Hi\n")
    env = {**sandbox_env(sandbox), "EIGHTXEIGHT_API_KEY": "wrong-key"}
    code, out, err = run(["--json", "bulk", str(path), "--job-id", "k"], env)
    assert code == 4, err
    document = json.loads(out)
    assert document["error"]["exit_code"] == 4
    assert "Resume with: eightxeight bulk" in document["error"]["hint"]
    assert document["pending"] == 1
    code, out, err = run(["bulk", str(path), "--job-id", "k"], sandbox_env(sandbox))
    assert code == 0, err
    assert len(sandbox.state.messages) == 1


def test_a_killed_run_resumes_and_reconciles(tmp_path: Path) -> None:
    """SIGKILL mid-request (no cleanup at all): the rerun holds the in-flight rows back as
    unknown (exit 9), --reconcile finds them at 8x8; each row is at 8x8 exactly once."""
    path = tmp_path / "killed.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(30)))
    faults = Faults(share_slow=1.0, slow_seconds=30)
    with sandbox_in_thread(tmp_path / "ca", faults=faults) as sandbox:
        env = sandbox_env(sandbox)
        args = ["bulk", str(path), "--job-id", "killed", "--chunk-size", "10", "--concurrency", "1"]
        process = start(args, env)
        try:
            wait_for(lambda: sandbox.state.requests["send_batch"] >= 1, process)
            process.kill()
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert len(sandbox.state.messages) == 10

        sandbox.faults.share_slow = 0.0
        code, out, err = run(args, env)
        assert code == 9, err
        assert "  unknown   10 (may or may not have reached 8x8)\n" in out
        assert len(sandbox.state.messages) == 30

        code, out, err = run([*args, "--reconcile"], env)
        assert code == 0, err
        assert "10 unknown row(s) looked up in 8x8's log export: 10 found" in out
        assert re.search(r"^  accepted +30$", out, re.M)
        assert sent_ids(sandbox) == Counter({f"killed-{row}": 1 for row in range(30)})


def test_a_file_that_fails_mid_read_stops_the_job_resumably(
    sandbox: Sandbox, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error part way (a disk error): the rows taken are sent and recorded, exit 1 with
    the resume command; the rerun sends the rest, each row once."""
    from eightxeight_async._cli_bulk_csv import RowReader

    real_row = RowReader._row

    def failing(self: RowReader, line: int, cells: list[str]) -> object:
        if line == 1200:
            raise OSError(5, "Input/output error")
        return real_row(self, line, cells)

    args = ["bulk", str(big_file), "--template", "Hi {{name}}", "--job-id", "io"]
    with monkeypatch.context() as patch:
        patch.setattr(RowReader, "_row", failing)
        code, out, err = run([*args, "--chunk-size", "500"], sandbox_env(sandbox))
    assert code == 1, err
    assert f"error: Reading {big_file} failed: Input/output error." in err
    assert f"Resume with: eightxeight bulk {big_file} --journal" in err
    assert "the rest of the file (not sent yet)" in out
    assert 0 < len(sandbox.state.messages) < ROWS
    code, out, err = run(args, sandbox_env(sandbox))
    assert code == 10, err
    ids = sent_ids(sandbox)
    assert len(ids) == ROWS - len(BAD_LINES)
    assert max(ids.values()) == 1


def test_a_failed_log_export_leaves_the_rows_unknown(sandbox: Sandbox, tmp_path: Path) -> None:
    """The export behind --reconcile fails: the error is named, the rows stay unknown, nothing
    is sent, and the hint says to reconcile again later."""
    path = tmp_path / "export.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(20)))
    env = sandbox_env(sandbox)
    sandbox.faults.inject("drop", 1, endpoint="send_batch")
    args = ["bulk", str(path), "--job-id", "exports", "--chunk-size", "10", "--concurrency", "1"]
    assert run(args, env)[0] == 9
    sandbox.state.export_failure = "failed"
    code, out, err = run([*args, "--reconcile", "--resend-unknown", "--json"], env)
    document = json.loads(out)
    # LogExportError: 8x8 ended the export failed, an API outcome (exit 4), as `export-logs`.
    assert code == document["error"]["exit_code"] == 4, err
    assert document["error"]["message"] in err
    assert "reconcile again later" in document["error"]["hint"]
    assert (document["accepted"], document["unknown"]) == (10, 10)
    assert len(sandbox.state.messages) == 10
