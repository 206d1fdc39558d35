"""Regressions of `eightxeight bulk` a user found: wrapped commands, late path errors, a busy
journal's advice, unmasked ids, file problems and messages in Python terms.

Nothing here opens a connection to 8x8: each run ends before any request, or the piece is
tested on its own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from eightxeight_async._cli_bulk_csv import BadRow
from eightxeight_async._cli_bulk_view import BarView, ReportWriter
from eightxeight_async._redact import mask_numbers
from eightxeight_async.bulk import Journal
from eightxeight_async.bulk._job import new_job_id

from .test_cli_bulk import SETTINGS, invoke

LONG = (
    "eightxeight bulk /home/someone/campaigns/spring/contacts-final.csv --journal "
    "/home/someone/campaigns/spring/contacts-final.csv.journal --job-id 20261127T084500-1f2e3d4c"
)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("phone,name\n+6591234567,Ana\n+6591234568,Bo\n", encoding="utf-8")
    return path


# --- 1. nothing to copy is wrapped -------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 80])
def test_bar_view_never_wraps_a_line_to_copy(width: int) -> None:
    """On a narrow terminal the resume command stays one line: pasted, it still works."""
    out = io.StringIO()
    view = BarView(Console(file=out, force_terminal=True, width=width, color_system=None))
    view.say(f"If it stops, resume with: {LONG}")
    view.note(3, f"rejected by 8x8: {LONG}")
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).splitlines()
    assert f"If it stops, resume with: {LONG}" in lines
    assert f"line 3: rejected by 8x8: {LONG}" in lines


# --- 2. output paths are checked before anything is sent ----------------------------------------


@pytest.mark.parametrize(
    ("where", "said"),
    [
        pytest.param("dir", "is a directory", id="directory"),
        pytest.param("missing/r.csv", "is in a folder that does not exist", id="missing-folder"),
    ],
)
@pytest.mark.parametrize("option", ["--report", "--journal"])
def test_an_unusable_output_path_is_refused_before_anything(
    csv_file: Path, tmp_path: Path, option: str, where: str, said: str
) -> None:
    """--report or --journal a directory, or in a missing folder: exit 3 naming the option,
    before the journal is made (the report was lost after sending every row)."""
    (tmp_path / "dir").mkdir()
    path = str(tmp_path / where)
    code, _, err = invoke(*SETTINGS, "bulk", str(csv_file), "--template", "x", option, path)
    assert code == 3, err
    assert f"error: {option} {path} {said}" in err
    assert "Nothing was sent." in err
    assert not (tmp_path / "in.csv.journal").exists()
    assert not list(tmp_path.glob("**/*.partial"))


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX modes")
def test_a_report_in_a_read_only_folder_is_refused(csv_file: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        path = str(locked / "r.csv")
        code, _, err = invoke(*SETTINGS, "bulk", str(csv_file), "--template", "x", "--report", path)
    finally:
        locked.chmod(0o700)
    assert code == 3, err
    assert f"--report {path} cannot be created" in err
    assert not (tmp_path / "in.csv.journal").exists()


# --- 3. a busy journal ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--reconcile"]])
def test_a_busy_journal_says_wait_never_another_journal(csv_file: Path, extra: list[str]) -> None:
    """Another run holds the journal: wait for it; a second journal would send the file twice."""
    path = f"{csv_file}.journal"
    with Journal(path) as journal:
        asyncio.run(journal.open_job("busy", "acme_hq", b"setup"))
        code, _, err = invoke(
            *SETTINGS, "bulk", str(csv_file), "--template", "x", "--job-id", "busy", *extra
        )
    assert code == 1, err
    assert f"Another `eightxeight bulk` (or program) is using the journal {path}." in err
    assert "wait for it to finish; a second run of the same job at once" in err.replace("W", "w")
    assert "another with --journal" not in err
    assert "Journal (" not in err


# --- 5. numbers in ids are masked in the report ------------------------------------------------


def test_report_masks_a_number_in_a_client_message_id(tmp_path: Path) -> None:
    """A row's own id that is a phone number is masked, as in every other output."""
    path = tmp_path / "report.csv"
    writer = ReportWriter(str(path))
    writer.add_bad(BadRow(2, "column 'text' is empty", client_message_id="+15550100003"))
    writer.finish([(3, "b1/+6591234567", "rejected", "Invalid MSISDN", "", "")])
    text = path.read_text()
    assert "15550100003" not in text
    assert "6591234567" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[1] for r in rows[1:]] == [
        mask_numbers("+15550100003"),
        mask_numbers("b1/+6591234567"),
    ]


def test_new_job_ids_never_read_as_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job id whose random part is all digits would be masked in the report: drawn again."""
    draws = iter([bytes.fromhex("12345678"), bytes.fromhex("1234abcd")])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    assert new_job_id().endswith("-1234abcd")


def test_json_is_one_document_for_path_errors(csv_file: Path, tmp_path: Path) -> None:
    code, out, _ = invoke(
        *SETTINGS, "--json", "bulk", str(csv_file), "--template", "x", "--report", str(tmp_path)
    )
    assert code == json.loads(out)["error"]["exit_code"] == 3


# --- 7. FILE.csv problems, and jobs that never sent ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "said"),
    [
        pytest.param("nope.csv", "nope.csv does not exist", id="missing"),
        pytest.param("folder", "folder is a directory", id="directory"),
        pytest.param("-", "standard input is not supported: pass a file", id="stdin"),
    ],
)
def test_a_file_it_cannot_use_exits_3_naming_file_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, said: str
) -> None:
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(*SETTINGS, "bulk", name)
    assert code == 3, err
    assert err.startswith(f"error: FILE.csv: {said}")
    assert "Nothing was sent." in err
    assert not list(tmp_path.glob("*.journal"))


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX modes")
def test_an_unreadable_file_exits_1(csv_file: Path) -> None:
    csv_file.chmod(0o200)
    code, _, err = invoke(*SETTINGS, "bulk", str(csv_file), "--template", "x")
    assert code == 1, err
    assert f"Cannot read {csv_file}" in err


def test_a_header_only_file_holds_no_rows(tmp_path: Path) -> None:
    """A header and no row is an empty file: exit 3, and no job in a journal."""
    path = tmp_path / "in.csv"
    path.write_text("to,text\n\n")
    code, _, err = invoke(*SETTINGS, "bulk", str(path))
    assert code == 3, err
    assert f"{path} holds no rows (only a header)." in err
    assert not (tmp_path / "in.csv.journal").exists()
    code, _, err = invoke(*SETTINGS, "bulk", str(path), "--dry-run")
    assert code == 3, err


def test_a_job_that_sent_nothing_does_not_block_a_rerun(csv_file: Path) -> None:
    """A job left with only pending rows (Redis down at its start) sent nothing: a plain rerun
    is not refused for it (it goes on to send, to a closed port here)."""
    with Journal(f"{csv_file}.journal") as journal:
        asyncio.run(journal.open_job("never-sent", "acme_hq", b"setup"))
    code, _, err = invoke(*SETTINGS, "bulk", str(csv_file), "--template", "x")
    assert "already holds job(s)" not in err
    assert code == 5, err  # it tried to send: the connection was refused


# --- 6. byte-order marks pick the encoding -------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_a_byte_order_mark_picks_the_encoding(tmp_path: Path, codec: str) -> None:
    """Excel's "Unicode text" and friends: read without --file-encoding."""
    text = "to,text\n+6591234567,Grüße\n+6591234568,Hi\n"
    data = text.encode(codec)
    if codec.endswith("-be"):
        bom = "\ufeff".encode(codec)
        data = bom + data
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    code, out, err = invoke("bulk", str(path), "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["valid"] == 2


def test_a_utf16_file_read_as_utf8_names_utf16(tmp_path: Path) -> None:
    """--file-encoding utf-8 given for a UTF-16 file: the hint names utf-16, not cp1252."""
    path = tmp_path / "in.csv"
    path.write_bytes("to,text\n+6591234567,Hi\n".encode("utf-16"))
    code, _, err = invoke("bulk", str(path), "--dry-run", "--file-encoding", "utf-8")
    assert code == 3, err
    # Python 3.10's csv stops at the NULs first; 3.11+ names the undecodable byte.
    assert "starts with a utf-16 byte-order mark: leave --file-encoding out" in err
    assert "cp1252" not in err
