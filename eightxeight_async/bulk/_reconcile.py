"""Reconciliation: resolve a job's UNKNOWN rows from 8x8's own message log.

A row is UNKNOWN when its batch request may or may not have reached 8x8 (the process died
mid-request, a timeout after sending). :func:`reconcile` runs a log export over the job's time
window, from the journal's first request less ``padding`` to its last request plus ``padding``
(clocks differ, and 8x8 stamps ``createdAt`` on its side), reads it record by record, and matches
each record's ``clientMessageId`` against the UNKNOWN rows: a row found is ACCEPTED with its umid,
or REJECTED when 8x8 recorded it ``failed`` or ``rejected`` (how 8x8 logs a message it
refused). Rows not found stay UNKNOWN; only ``resend_unknown=True`` puts them back to PENDING, so
that the next ``send_many`` over the same input sends them again. Nothing is resent by default.

UNKNOWN rows that share one ``client_message_id`` (ids the caller gave twice) cannot be told
apart in the log: they stay UNKNOWN, and are never put back to PENDING.

Memory: the UNKNOWN rows' ids are held in a dict (at most ``concurrency * chunk_size`` rows per
interruption of the job); the export is streamed one record at a time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Protocol

import httpx

from .._errors import ValidationError
from .._log_records import LogRecord
from .._models import MessageState
from .._models_exports import LogExportStatus
from ._journal import Journal, Outcome
from ._results import ReconcileReport, RowState

__all__ = ["DEFAULT_PADDING", "LogExporter", "reconcile"]


class LogExporter(Protocol):
    """What reconcile needs of a client (``AsyncSmsClient`` is one): a log export, and its rows."""

    async def export_logs(
        self,
        *,
        start: datetime,
        end: datetime,
        poll_interval: float,
        max_wait: float,
        subaccount_id: str | None,
        timeout: float | httpx.Timeout | None,
    ) -> LogExportStatus:
        """Export the message logs of a time window and wait for the files."""
        ...

    def iter_log_records(
        self, source: LogExportStatus, *, timeout: float | httpx.Timeout | None
    ) -> AsyncIterator[LogRecord]:
        """Stream the rows of a finished export."""
        ...


#: How far the export window reaches before the first and after the last request of the job.
DEFAULT_PADDING = timedelta(minutes=15)
_RELEASED = "not found in 8x8's log export; put back to pending by reconcile(resend_unknown=True)"
_WRITE_EVERY = 1000
#: How 8x8's log shows a message it refused ("rejected" is the receipts' word for it).
_REFUSED = (MessageState.FAILED, MessageState.REJECTED)


async def reconcile(
    client: LogExporter,
    journal: Journal | str | os.PathLike[str],
    job_id: str,
    *,
    resend_unknown: bool = False,
    padding: timedelta = DEFAULT_PADDING,
    poll_interval: float = 2.0,
    max_wait: float = 900.0,
    subaccount_id: str | None = None,
    timeout: float | httpx.Timeout | None = None,
) -> ReconcileReport:
    """Resolve a job's UNKNOWN rows from a log export of its time window.

    Example::

        report = await reconcile(client, "sale.journal", "spring-sale")
        print(report.found, "found,", report.still_unknown, "still unknown")

    Args:
        client: The client (its ``export_logs`` and ``iter_log_records`` are used).
        journal: The job's journal, or its path.
        job_id: The job.
        resend_unknown: Put the rows the export did not show back to PENDING, so that the next
            ``send_many`` of the job sends them again. Only after the export: a row the export
            shows is never resent. 8x8's log can lag behind its sends; reconcile a while after
            the job's last request before resending.
        padding: How far the window reaches before the first and after the last request.
        poll_interval: The first pause between polls of the export job, in seconds.
        max_wait: How long to wait for the export in all, in seconds.
        subaccount_id: The subaccount to export; the one the job sent with when omitted.
        timeout: Overrides the client's timeout for each request.

    Returns:
        What was checked, found, left unknown and put back to pending.

    Raises:
        ValidationError: An argument breaks a rule; nothing was sent.
        JournalError: No such job in the journal, or the journal is held by another process.
        LogExportError: The export failed, or ``max_wait`` ran out (the rows stay UNKNOWN).
        APIError: A request of the export failed (the rows stay UNKNOWN).
    """
    if not isinstance(resend_unknown, bool):
        raise ValidationError("resend_unknown", "True or False")
    if not isinstance(padding, timedelta) or padding < timedelta(0):
        raise ValidationError("padding", "a timedelta of 0 or more")
    if isinstance(journal, Journal):
        return await _reconcile(
            client,
            journal,
            job_id,
            resend_unknown,
            padding,
            poll_interval,
            max_wait,
            subaccount_id,
            timeout,
        )
    opened = await asyncio.to_thread(Journal, journal)
    try:
        return await _reconcile(
            client,
            opened,
            job_id,
            resend_unknown,
            padding,
            poll_interval,
            max_wait,
            subaccount_id,
            timeout,
        )
    finally:
        await asyncio.to_thread(opened.close)


async def _reconcile(
    client: LogExporter,
    journal: Journal,
    job_id: str,
    resend_unknown: bool,
    padding: timedelta,
    poll_interval: float,
    max_wait: float,
    subaccount_id: str | None,
    timeout: float | httpx.Timeout | None,
) -> ReconcileReport:
    key, info = await journal.job(job_id)
    # Rows left IN_FLIGHT by a process that died are UNKNOWN (this process holds the journal).
    await journal.recover(key)
    unknown, ambiguous = await journal.unknown_rows(key, job_id)
    checked = len(unknown) + ambiguous
    if not unknown or info.first_request is None:
        return ReconcileReport(
            job_id=job_id,
            checked=checked,
            found=0,
            accepted=0,
            rejected=0,
            still_unknown=checked,
            resent=0,
        )
    assert info.last_request is not None
    start = info.first_request - padding
    end = info.last_request + padding
    export = await client.export_logs(
        start=start,
        end=end,
        poll_interval=poll_interval,
        max_wait=max_wait,
        subaccount_id=subaccount_id if subaccount_id is not None else info.subaccount_id,
        timeout=timeout,
    )
    seen: dict[int, int] = {}
    pending: list[Outcome] = []
    accepted = rejected = records = 0
    stream = client.iter_log_records(export, timeout=timeout)
    try:
        async for record in stream:
            records += 1
            cmid = record.client_message_id
            row = unknown.get(cmid) if cmid is not None else None
            if row is None:
                continue
            seen[row] = seen.get(row, 0) + 1
            if seen[row] > 1:
                continue
            if record.status in _REFUSED:
                rejected += 1
                reason = record.error_message or "8x8 logged the message as failed"
                pending.append((row, RowState.REJECTED, record.umid, reason))
            else:
                accepted += 1
                pending.append((row, RowState.ACCEPTED, record.umid, None))
            if len(pending) >= _WRITE_EVERY:
                await journal.record(key, pending)
                pending = []
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:  # the download's connection goes back now, even on an error
            await close()
    if pending:
        await journal.record(key, pending)
    missing = [row for row in unknown.values() if row not in seen]
    resent = 0
    if resend_unknown and missing:
        await journal.release(key, missing, _RELEASED)
        resent = len(missing)
    return ReconcileReport(
        job_id=job_id,
        checked=checked,
        found=accepted + rejected,
        accepted=accepted,
        rejected=rejected,
        still_unknown=len(missing) - resent + ambiguous,
        resent=resent,
        duplicates=sum(1 for count in seen.values() if count > 1),
        records_read=records,
        start=start.astimezone(timezone.utc),
        end=end.astimezone(timezone.utc),
    )
