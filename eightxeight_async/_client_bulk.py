"""The bulk method of ``AsyncSmsClient``: ``send_many``, over ``eightxeight_async.bulk``.

The runner lives in ``bulk._job``; this mixin checks the arguments (before any I/O) and gives the
runner one function that sends one batch request through the client's usual call path (rate
limits, retries, errors).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

import httpx

from ._calls import OperationClient, to_timeout
from ._errors import ValidationError
from ._models_batch import BatchMessage, BatchRequest, BatchResponse, BatchTemplate, _batch_template
from ._operations import SEND_BATCH
from .bulk._job import MAX_CHUNK, BulkRun, NotSentError, check_job_id, new_job_id
from .bulk._journal import Journal
from .bulk._results import InvalidRow

__all__ = ["BulkMethods"]

#: The most batch requests one job may keep in flight.
MAX_CONCURRENCY = 256


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"a whole number from {low:,} to {high:,}")
    return value


class BulkMethods(OperationClient):
    """Send any number of messages as batch requests, with a journal that survives crashes."""

    def send_many(
        self,
        messages: Iterable[BatchMessage | Mapping[str, Any] | str | InvalidRow]
        | AsyncIterable[BatchMessage | Mapping[str, Any] | str | InvalidRow],
        *,
        template: BatchTemplate | Mapping[str, Any] | None = None,
        job_id: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        chunk_size: int = MAX_CHUNK,
        concurrency: int = 4,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> BulkRun:
        """Send messages of any number as batch requests of up to 10,000; yield each row's result.

        The input is read lazily (memory stays within ``concurrency * chunk_size`` rows), each
        row gets a ``client_message_id`` of ``f"{job_id}-{row}"`` unless it has one, and with
        a ``journal`` every row's state is committed before and after its request, so that
        rerunning the same ``job_id`` over the same input resumes the job: rows ACCEPTED,
        REJECTED or INVALID are never sent again, and UNKNOWN rows (their request may or may
        not have reached 8x8) wait for :func:`eightxeight_async.bulk.reconcile`. An invalid row
        is an INVALID result naming its field and rule, never sent, and does not stop the job.

        Example::

            async for result in client.send_many(rows, job_id="spring-sale", journal="sale.db"):
                if result.state is not RowState.ACCEPTED:
                    print(result.row, result.state, result.reason)

        Args:
            messages: An iterable or async iterable of ``BatchMessage`` objects, mappings of
                their fields, or destination numbers (which take ``template.text``).
            template: What every message shares (``text``, ``source``, ``scheduled``...); a
                message's own field wins.
            job_id: The job's id, 1 to 40 of ``A-Z a-z 0-9 _ -``; generated when omitted (read
                it on the result's ``.job_id``). Give the same one to resume.
            journal: A :class:`~eightxeight_async.bulk.Journal`, or the path of one (opened
                and closed by the job); ``None`` keeps no record (no resuming after a crash).
                A ``Journal(path, receipts_only=True)`` is refused (``JournalError``); give the
                same Journal to ``receipt_handler()`` to record receipts while the job runs.
            chunk_size: Messages per batch request, 1 to 10,000.
            concurrency: Batch requests in flight at once, 1 to 256; keep it within the client's
                ``max_connections``, or requests wait for a connection (``timeout.pool``).
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for each request.

        Returns:
            A :class:`~eightxeight_async.bulk.BulkRun`: an async iterator of
            :class:`~eightxeight_async.bulk.BulkResult`, with ``.job_id``, ``.counts``,
            ``.stop()`` and ``.aclose()``. Nothing happens until it is iterated.

        Raises:
            ValidationError: Raised here, before any I/O: an argument breaks a rule.
            RuntimeError: Raised here: the client was closed.
            InputChangedError: While iterating: a resumed job's input differs from its record.
            JournalError: While iterating: the journal is held by another process, or is not
                a journal.
            APIError: While iterating, after the chunks in flight finished: a failure that
                stops the job (see the ``eightxeight_async.bulk._job`` table); every row stands
                in the journal.
        """
        if isinstance(messages, (str, bytes, bytearray, Mapping)) or not isinstance(
            messages, (Iterable, AsyncIterable)
        ):
            raise ValidationError("messages", "an iterable or async iterable of messages")
        checked_template = _batch_template(template)
        job = new_job_id() if job_id is None else check_job_id(job_id)
        if journal is not None and not isinstance(journal, (Journal, str, os.PathLike)):
            raise ValidationError("journal", "a Journal, a path, or None")
        size = _whole(chunk_size, "chunk_size", 1, MAX_CHUNK)
        width = _whole(concurrency, "concurrency", 1, MAX_CONCURRENCY)
        subaccount = self._subaccount(subaccount_id)
        request_timeout = None if timeout is None else to_timeout(timeout)
        if self._closed_view() or self._core.is_closed:
            msg = "Cannot call send_many: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)

        async def send(request: BatchRequest) -> BatchResponse:
            # A closed client or a foreign loop refuses before anything leaves: say so, so that
            # the runner puts the rows back to PENDING rather than UNKNOWN.
            loop = self._core.loop
            if (
                self._closed_view()
                or self._core.is_closed
                or (loop is not None and loop is not asyncio.get_running_loop())
            ):
                msg = (
                    "The AsyncSmsClient was closed (or belongs to another event loop); "
                    "nothing was sent."
                )
                raise NotSentError(msg)
            return await self._call(
                SEND_BATCH, body=request, subaccount_id=subaccount, timeout=request_timeout
            )

        return BulkRun(
            source=messages,
            send=send,
            template=checked_template,
            job_id=job,
            journal=journal,
            chunk_size=size,
            concurrency=width,
            subaccount_id=subaccount,
        )
