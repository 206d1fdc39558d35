"""Two real processes on one journal: one runs the job (the holder), one records receipts."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from eightxeight_async.bulk import Journal, JournalBusyError, JournalError, RowState

from .bulk_support import eventually
from .test_bulk_receipts import receipt

ROOT = Path(__file__).resolve().parent.parent
ROWS = 300


async def test_a_second_process_records_receipts_while_the_holder_sends(tmp_path: Path) -> None:
    """The receipts_only side writes between the holder's chunk transactions; neither fails.

    The holder (tests/bulk_receipts_driver.py) sends each chunk only once every row accepted so
    far has its receipt, so the two processes' writes interleave on every chunk. Every 7th row
    gets "undelivered", the rest "delivered"; the holder, which never saw a receipt itself,
    reads every row's state back from the shared file.
    """
    path = tmp_path / "shared.journal"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bulk_receipts_driver",
        str(path),
        str(ROWS),
        str(tmp_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(lambda: (tmp_path / "ready").exists() or child.returncode is not None)
        assert child.returncode is None
        with pytest.raises(JournalBusyError):
            Journal(path)  # the other process holds it
        recorded = 0
        with Journal(path, receipts_only=True) as side:
            (tmp_path / "go").write_text("go")
            while child.returncode is None and recorded < ROWS:
                try:
                    waiting = list(
                        side.rows("job", states=[RowState.ACCEPTED], deliveries=["none"])
                    )
                except JournalError:  # the job is not created yet
                    waiting = []
                batch = [
                    receipt(
                        r.umid,
                        "undelivered" if r.row % 7 == 0 else "delivered",
                        cmid=r.client_message_id,
                        error=1 if r.row % 7 == 0 else None,
                    )
                    for r in waiting
                ]
                recorded += await side.record_receipts(batch)
                await asyncio.sleep(0.005)
        out, err = await asyncio.wait_for(child.communicate(), 120)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()
    assert recorded == ROWS
    report = json.loads(out.decode().strip().splitlines()[-1])
    undelivered = len(range(0, ROWS, 7))
    assert report["results"] == ROWS
    assert (report["delivered"], report["undelivered"]) == (ROWS - undelivered, undelivered)
    assert {int(k) for k, v in report["states"].items() if v == "undelivered"} == set(
        range(0, ROWS, 7)
    )
