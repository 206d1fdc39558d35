"""Journal(path, receipts_only=True) never creates a journal (an outside try-out's finding).

A receiver process opening a misspelt path used to create an empty journal and record every
receipt there, where no job would ever read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eightxeight_async.bulk import Journal, JournalError


def test_receipts_only_refuses_a_path_with_no_journal(tmp_path: Path) -> None:
    path = tmp_path / "brandnew.journal"
    with pytest.raises(JournalError, match="no journal at") as caught:
        Journal(path, receipts_only=True)
    assert "receipts_only" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no file, no -wal, no lock


def test_receipts_only_refuses_an_empty_file_and_leaves_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.journal"
    path.touch()
    with pytest.raises(JournalError, match="not a bulk journal"):
        Journal(path, receipts_only=True)
    assert path.read_bytes() == b""


def test_receipts_only_opens_a_journal_a_runner_made(tmp_path: Path) -> None:
    path = tmp_path / "jobs.journal"
    with Journal(path) as runner, Journal(path, receipts_only=True) as receipts:
        assert receipts.jobs() == runner.jobs() == []
