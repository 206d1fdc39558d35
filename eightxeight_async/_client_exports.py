"""The log export methods of ``AsyncSmsClient``: jobs, waiting for them, reading their rows.

The three job operations are a typed signature, a docstring and one ``self._call(...)`` each.
``export_logs`` strings them together (``_exports.wait_for_export`` polls), and
``iter_log_records`` streams the finished files (``_exports.CsvDownloader``) into typed rows
(``_models_exports.aparse_log_records``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Sequence
from datetime import date, datetime
from typing import cast

import attrs
import httpx

from ._calls import OperationClient, status_error, to_timeout
from ._errors import EightXEightError, ValidationError
from ._exports import CsvDownloader, check_download_link, check_polling, wait_for_export
from ._models_exports import (
    LogExportRequest,
    LogExportStarted,
    LogExportState,
    LogExportStatus,
    LogRecord,
    aparse_log_records,
)
from ._operations import CANCEL_LOG_EXPORT, GET_LOG_EXPORT, START_LOG_EXPORT
from ._transport_errors import explain_failure

__all__ = ["ExportMethods"]


class ExportMethods(OperationClient):
    """Export the message logs of a subaccount as CSV files, and read them as typed records."""

    async def start_log_export(
        self,
        *,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        phone_number: str | None = None,
        countries: Sequence[str] | None = None,
        limit: int | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> LogExportStarted:
        """Start a job that exports the subaccount's message logs to CSV files.

        Args:
            start: The first day (a ``date``, read in UTC) or instant (an aware ``datetime``);
                8x8 starts 7 days ago when omitted. With ``end`` omitted (8x8's default is
                today), not after today (UTC).
            end: The last day or instant, not before ``start``; today when omitted. With
                ``start`` omitted, not before the day 7 days ago (UTC).
            phone_number: Only messages to or from this number (E.164).
            countries: Only messages to these countries (ISO 3166-1 alpha-2 codes).
            limit: The most messages to export; 0 for no limit.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The job's id, for :meth:`get_log_export` and :meth:`cancel_log_export`.

        Raises:
            ValidationError: A filter breaks a documented rule; nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            START_LOG_EXPORT,
            body=LogExportRequest(
                start=start,
                end=end,
                phone_number=phone_number,
                countries=countries,
                limit=limit,
            ),
            subaccount_id=subaccount_id,
            timeout=timeout,
        )

    async def get_log_export(
        self,
        job_id: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> LogExportStatus:
        """Read the state of a log export job and, once it succeeded, its download links.

        Args:
            job_id: The job's id, from :meth:`start_log_export`.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The job's status (``job_id`` filled in); ``links`` once it ``succeeded``.

        Raises:
            ValidationError: ``job_id`` is not a usable id; nothing was sent.
            NotFoundError: No such job (code 4018).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        status = await self._call(
            GET_LOG_EXPORT, path={"job_id": job_id}, subaccount_id=subaccount_id, timeout=timeout
        )
        return attrs.evolve(status, job_id=job_id)

    async def cancel_log_export(
        self,
        job_id: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Cancel a log export job.

        Args:
            job_id: The job's id, from :meth:`start_log_export`.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: ``job_id`` is not a usable id; nothing was sent.
            NotFoundError: No such job (code 4018).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
        """
        await self._call(
            CANCEL_LOG_EXPORT,
            path={"job_id": job_id},
            subaccount_id=subaccount_id,
            timeout=timeout,
        )

    async def export_logs(
        self,
        *,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        phone_number: str | None = None,
        countries: Sequence[str] | None = None,
        limit: int | None = None,
        poll_interval: float = 2.0,
        max_wait: float = 900.0,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> LogExportStatus:
        """Export the message logs: start a job, wait until it is done, return its links.

        Polls with capped exponential backoff and jitter: the n-th pause is drawn from
        ``[c/2, c]`` with ``c = min(poll_interval * 2**n, max(poll_interval, 30))``. Read the
        rows with :meth:`iter_log_records`.

        Args:
            start: The first day or instant (see :meth:`start_log_export`).
            end: The last day or instant.
            phone_number: Only messages to or from this number.
            countries: Only messages to these countries.
            limit: The most messages to export; 0 for no limit.
            poll_interval: The first pause between polls, in seconds.
            max_wait: How long to wait for the job in all, in seconds.
            subaccount_id: Overrides the client's subaccount.
            timeout: The timeout of each request.

        Returns:
            The final status: ``succeeded`` (with ``links``) or ``empty`` (no links).

        Raises:
            ValidationError: An argument breaks a rule; nothing was sent.
            LogExportError: 8x8 reported the job ``failed``, ``error`` or ``cancelled``.
            LogExportTimeoutError: The job was not done after ``max_wait`` seconds. It is left
                running: read it later with :meth:`get_log_export`, or cancel it.
            APIStatusError: 8x8 answered a request with an error.
            APIConnectionError: A connection failed.
        """
        interval, wait = check_polling(poll_interval, max_wait)
        started = await self.start_log_export(
            start=start,
            end=end,
            phone_number=phone_number,
            countries=countries,
            limit=limit,
            subaccount_id=subaccount_id,
            timeout=timeout,
        )
        job_id = started.job_id
        return await wait_for_export(
            job_id,
            lambda: self.get_log_export(job_id, subaccount_id=subaccount_id, timeout=timeout),
            poll_interval=interval,
            max_wait=wait,
        )

    def iter_log_records(
        self,
        source: LogExportStatus | str,
        *,
        timeout: float | httpx.Timeout | None = None,
    ) -> AsyncGenerator[LogRecord, None]:
        """Stream the rows of a finished log export as typed records, one at a time.

        The files are read as they download, in bounded memory (at most one row, and 1 MiB per
        row). The API key is sent only to the client's own origin (scheme, host and port of its
        base URL), and only while the link started there and every redirect so far stayed there:
        a link elsewhere is fetched without it, even when it redirects to the client's origin.
        Plain http is refused except to a loopback host. Leaving the loop early closes the
        download; use ``contextlib.aclosing`` to close it at once.

        Example::

            status = await client.export_logs(start=date(2026, 11, 1))
            async for record in client.iter_log_records(status):
                print(record.umid, record.status, record.price_total)

        Args:
            source: A status from :meth:`export_logs` or :meth:`get_log_export` (``succeeded``:
                every file, in order; ``empty``: nothing), or one download link.
            timeout: Overrides the client's timeout for each read.

        Returns:
            An async generator of :class:`LogRecord` (``aclose()`` ends the download).

        Raises:
            ValidationError: Raised here, before any I/O: the status is not ``succeeded`` or
                ``empty``, a link is not https (or http to loopback), or the timeout is bad.
            APIStatusError: While iterating: the download was refused (e.g. expired: 404).
            APIConnectionError: While iterating: the connection failed.
            ResponseValidationError: While iterating: a file is not the documented CSV.
        """
        if isinstance(source, LogExportStatus):
            if source.status == LogExportState.EMPTY:
                links: list[httpx.URL] = []
            elif source.status != LogExportState.SUCCEEDED:
                raise ValidationError(
                    "source", "a finished export (status succeeded or empty), or a download link"
                )
            else:
                links = [check_download_link(link) for link in source.links]
        else:
            links = [check_download_link(source)]
        read_timeout = self._settings.timeout if timeout is None else to_timeout(timeout)
        return self._log_records(links, read_timeout)

    async def _log_records(
        self, links: list[httpx.URL], timeout: httpx.Timeout
    ) -> AsyncGenerator[LogRecord, None]:
        if self._closed_view():  # a with_options() client closed on its own (the pool lives on)
            msg = "Cannot call iter_log_records: this AsyncSmsClient was closed with aclose()."
            raise RuntimeError(msg)
        core = self._core
        downloader = CsvDownloader(
            http=core.sender.client,
            base_url=self._settings.base_url,
            authorization=core.sender.auth_headers()["Authorization"],
            user_agent=core.sender.auth_headers().get("User-Agent"),
            timeout=timeout,
            transport_error=functools.partial(_download_error, connect_timeout=timeout.connect),
            status_error=status_error,
            guard=lambda: core.tracked("iter_log_records"),
        )
        for link in links:
            # Closed explicitly, so that leaving the loop early releases the connection now,
            # not when the garbage collector finds the generators.
            async with contextlib.aclosing(downloader.records(link)) as records:
                parsed = cast("AsyncGenerator[LogRecord, None]", aparse_log_records(records))
                async with contextlib.aclosing(parsed):
                    async for record in parsed:
                        yield record


async def _download_error(
    exc: BaseException, request: httpx.Request, *, connect_timeout: float | None
) -> EightXEightError:
    # Classified as a call's failure is, probe included: an http:// link to a TLS port is named
    # as such ("use https://"), not as a failure after the request was sent.
    return await explain_failure(
        exc,
        request,
        connect_timeout=connect_timeout,
        answered=False,
        traced=False,
        headers_started=False,
        send=None,
    )
