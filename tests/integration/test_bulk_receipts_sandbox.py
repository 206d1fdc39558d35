"""The journal records the sandbox's real delivery receipts while send_many runs the job.

The sandbox (TLS 1.3 on 127.0.0.1) posts each message's receipt to a WebhookReceiver served by
uvicorn on 127.0.0.1, whose handler is ``journal.receipt_handler()``; the same ``Journal`` runs
the job. Its test numbers give undelivered rows (errors 15 and 1) and a row 8x8 rejects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eightxeight_async import AsyncSmsClient, MessageState
from eightxeight_async.bulk import DeliverySummary, Journal, RowState
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.webhooks import WebhookReceiver

from .conftest import eventually, serve_http

pytestmark = pytest.mark.integration

AUTH = "Basic YnVsazpyZWNlaXB0cy1zM2NyZXQ="
ROWS = 45
SPECIAL = {3: "+15550100001", 11: "+15550100002", 27: "+15550100003"}


def destination(row: int) -> str:
    return SPECIAL.get(row, f"+6591{row:06d}")


async def test_every_row_ends_with_its_delivery_state(
    sandbox: Sandbox, client: AsyncSmsClient, tmp_path: Path
) -> None:
    """Delivered, undelivered (with 8x8's error code) and rejected rows, as their receipts said."""
    source = [{"destination": destination(row), "text": f"Row {row}"} for row in range(ROWS)]
    with Journal(tmp_path / "sale.journal") as journal:
        receiver = WebhookReceiver(
            journal.receipt_handler(), authorization=AUTH, allowed_ips=["127.0.0.1"]
        )
        async with serve_http(receiver) as base:
            await client.set_webhook(url=base, http_authorization=AUTH)
            results = [
                r
                async for r in client.send_many(
                    source, job_id="sale", journal=journal, chunk_size=10, concurrency=2
                )
            ]
            assert {r.row: r.state for r in results} == {
                row: RowState.REJECTED if row == 27 else RowState.ACCEPTED for row in range(ROWS)
            }
            await eventually(lambda: sum(1 for _ in journal.rows("sale", deliveries=["none"])) == 0)
            await receiver.drain()
        found = {r.row: r for r in journal.rows("sale")}
        assert journal.delivery_summary("sale") == DeliverySummary(
            delivered=ROWS - 3, undelivered=2, rejected=1, awaiting=0
        )
    assert (found[3].delivery, found[3].delivery_error) == (MessageState.UNDELIVERED, 15)
    assert (found[11].delivery, found[11].delivery_error) == (MessageState.UNDELIVERED, 1)
    assert (found[27].state, found[27].delivery) == (RowState.REJECTED, MessageState.REJECTED)
    for row in set(range(ROWS)) - set(SPECIAL):
        assert found[row].delivery is MessageState.DELIVERED
        assert found[row].delivery_time is not None
        assert found[row].umid == next(r.umid for r in results if r.row == row)
    # One receipt per message, each answered 200 once.
    assert len(sandbox.state.dlr_attempts) == ROWS
    assert {status for _, _, status in sandbox.state.dlr_attempts} == {200}
