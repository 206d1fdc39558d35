"""Regressions of `eightxeight bulk` against a real sandbox (and Redis): the summary after a
second Ctrl-C, notes in the command's terms and in line order, Redis settings' errors.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Faults, Sandbox

from .cli_support import ctrl_c_twice, sandbox_env, sandbox_in_thread
from .test_cli_bulk import run, start, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(tmp_path / "ca") as server:
        yield server


def test_ctrl_c_twice_says_reconcile_and_json_does_not_claim_nothing_pending(
    tmp_path: Path,
) -> None:
    """The rows in flight are unknown and most of the file was never read: the hint names
    --reconcile, and --json says the rest of the file is unread, not "pending": 0."""
    path = tmp_path / "many.csv"
    path.write_text("to,text\n" + "".join(f"+6591{i:06d},Hi {i}\n" for i in range(5000)))
    faults = Faults(share_slow=1.0, slow_seconds=30)  # the request is taken, the answer held
    with sandbox_in_thread(tmp_path / "ca", faults=faults) as sandbox:
        env = sandbox_env(sandbox)
        args = ["--json", "bulk", str(path), "--job-id", "twice", "--chunk-size", "10"]
        process = start([*args, "--concurrency", "1"], env)
        try:
            wait_for(lambda: sandbox.state.requests["send_batch"] >= 1, process)
            out, err = ctrl_c_twice(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    document = json.loads(out)
    assert document["unknown"] == 10
    assert document["pending"] is None
    assert document["rest_of_file_unread"] is True
    assert document["rows"] < 5000
    reconcile = f"bulk {path} --journal {path}.journal --job-id twice --reconcile"
    assert reconcile in document["error"]["hint"]
    assert reconcile in err
    # Each hint line ends with a command to paste.
    assert any(line.endswith(" --reconcile") for line in err.splitlines())


def test_a_dropped_connection_note_says_reconcile_in_the_commands_terms(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "drop.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(20)))
    sandbox.faults.inject("drop", 1, endpoint="send_batch")
    args = ["bulk", str(path), "--job-id", "dropped", "--chunk-size", "10", "--concurrency", "1"]
    code, _, err = run(args, sandbox_env(sandbox))
    assert code == 9, err
    assert "lines 2 to 11 (10 rows): outcome unknown: run --reconcile (" in err
    assert "client_batch_id" not in err
    assert "before sending it again" not in err


def test_notes_come_in_line_order(sandbox: Sandbox, tmp_path: Path) -> None:
    """A row 8x8 rejects, then a bad row after it: line 2's note comes before line 3's."""
    path = tmp_path / "order.csv"
    path.write_text("to,text\n+15550100003,Hi\n+6591234567,\n+6591234568,Hi\n")
    code, _, err = run(["bulk", str(path)], sandbox_env(sandbox))
    assert code == 10, err
    assert err.index("line 2: rejected by 8x8") < err.index("line 3: column 'text' is empty")


def test_reconcile_summary_is_worded_for_a_lookup(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_text("to,text\n" + "".join(f"+65912345{i:02d},Hi {i}\n" for i in range(20)))
    sandbox.faults.inject("drop", 1, endpoint="send_batch")
    args = ["bulk", str(path), "--job-id", "lookup", "--chunk-size", "10", "--concurrency", "1"]
    assert run(args, sandbox_env(sandbox))[0] == 9
    code, out, err = run([*args, "--reconcile"], sandbox_env(sandbox))
    assert code == 9, err
    assert out.startswith("Job lookup: reconciled in "), err
    assert "read in" not in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_as_input_warns_that_resuming_needs_a_file(sandbox: Sandbox, tmp_path: Path) -> None:
    """bulk <(cat file): it is read, but the resume command could not read it again."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as pipe:
            pipe.write("to,text\n+6591234567,Hi\n")

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        code, _, err = run(
            ["bulk", str(fifo), "--journal", str(tmp_path / "j")], sandbox_env(sandbox)
        )
    finally:
        writer.join(30)
    assert code == 0, err
    assert f"Warning: {fifo} is not a regular file (a pipe?): to resume, the input must" in err
    assert len(sandbox.state.messages) == 1
