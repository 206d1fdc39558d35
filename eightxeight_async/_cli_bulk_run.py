"""One run of ``eightxeight bulk``: the rows into ``send_many``, Ctrl-C, the summary, the exit code.

Ctrl-C once stops taking rows: the batch requests in flight finish and are recorded, then the
summary and the command that resumes the job are printed, and the command exits 130. Ctrl-C again
abandons the requests in flight: their rows are recorded UNKNOWN (``--reconcile`` resolves them).

Exit codes of its own, beside the command's table (``_cli_app``): :data:`EXIT_UNKNOWN_ROWS` (9)
when rows are left whose outcome is unknown, and :data:`EXIT_ROWS_REFUSED` (10) when every row is
settled but some were invalid or rejected by 8x8.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_bulk_columns import FileProblem
from ._cli_bulk_csv import BadRow, GoodRow, RowReader
from ._cli_bulk_receipts import ENV_AUTHORIZATION, ReceiptListener
from ._cli_bulk_view import (
    UPDATE_EVERY,
    ReportRow,
    RowLines,
    Tally,
    View,
    conclude,
    data_lines,
    plural,
    report_writer,
)
from ._cli_errors import CliError
from ._cli_options import Settings
from ._client import AsyncSmsClient
from ._errors import EightXEightError
from ._models_batch import BatchMessage
from .bulk import (
    BulkResult,
    DeliverySummary,
    InputChangedError,
    InvalidRow,
    Journal,
    JournalError,
    ReconcileReport,
    RowState,
    reconcile,
)
from .bulk._journal import row_id

__all__ = [
    "EXIT_ROWS_REFUSED",
    "EXIT_UNKNOWN_ROWS",
    "JobRun",
]

#: Exit code: the run ended with rows whose outcome is unknown (run ``--reconcile``).
EXIT_UNKNOWN_ROWS = 9
#: Exit code: every row is settled, but some were invalid or rejected by 8x8 (see ``--report``).
EXIT_ROWS_REFUSED = 10

_REPORTED = (RowState.REJECTED, RowState.UNKNOWN)
#: Delivery states of accepted rows that the report lists: the message did not arrive.
_NOT_DELIVERED = ("undelivered", "rejected")
_SETTLED = (RowState.ACCEPTED, RowState.REJECTED, RowState.INVALID, RowState.UNKNOWN)


@contextlib.contextmanager
def _interrupts(first: Callable[[int], None], second: Callable[[int], None]) -> Iterator[None]:
    """Ctrl-C or SIGTERM once calls ``first`` (stop taking rows); again, ``second`` (stop now)."""
    loop = asyncio.get_running_loop()
    count = 0

    def handle(number: int) -> None:
        nonlocal count
        count += 1
        (first if count == 1 else second)(number)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handle, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# --- a run -------------------------------------------------------------------------------------


class JobRun:
    """One run of a job: send (or reconcile), show progress, then the summary and exit code."""

    def __init__(
        self,
        settings: Settings,
        client: AsyncSmsClient,
        reader: RowReader,
        journal: Journal,
        journal_path: str,
        job_id: str,
        options: dict[str, Any],
        view: View,
    ) -> None:
        self.settings = settings
        self.client = client
        self.reader = reader
        self.journal = journal
        self.journal_path = journal_path
        self.job_id = job_id
        self.options = options
        self.view = view
        self.command = ""
        self.file = reader.path
        self.tally = Tally(total=data_lines(reader))
        self.lines = RowLines()
        self.report = report_writer(options["report"])
        self.interrupted = 0
        """1 after the first Ctrl-C (or SIGTERM), 2 after the second."""
        self.signal = int(signal.SIGINT)
        self.reconciled: ReconcileReport | None = None
        self.failure: EightXEightError | None = None
        self.reconcile_failed = False
        self.unreadable: FileProblem | OSError | None = None
        self.started = time.monotonic()
        self._group: list[Any] | None = None
        """Rows failed alike, not noted yet: [first row, last row, count, message]."""
        self.listener: ReceiptListener | None = None
        """The receiver of ``--receipts-listen``, when given."""
        self.sent_at: float | None = None
        """When sending ended (the job's time leaves out the wait for receipts)."""
        self.waited = 0.0
        """Seconds spent waiting for receipts after the last row (``--receipts-wait``)."""

    def run(self, command: str) -> None:
        """Run the job to its end, then print the summary and raise the exit code's error.

        Args:
            command: The command that resumes the job, printed first and on any stop.
        """
        self.command = command
        self.view.say(f"Job {self.job_id}, journal {self.journal_path}.")
        self.view.say(f"If it stops, resume with: {self.command}")
        if self._resume_note:
            self.view.say(self._resume_note)
        if not os.path.isfile(self.file):
            # A pipe (<(...), /dev/stdin) cannot be read again from its start by the resume.
            self.view.say(
                f"Warning: {self.file} is not a regular file (a pipe?): to resume, the input must "
                "be a file holding the same rows; save it to a file and run that instead."
            )
        try:
            opts.run_async(self._main())
            self.reader.close()
            self._finish()
        except BaseException:
            if self.report is not None:
                self.report.discard()
            raise
        finally:
            self.reader.close()

    @property
    def _resume_note(self) -> str:
        """What the resume command leaves out, for the user to add again.

        --redis-url (its password) and the receipt options (the Authorization value) are never
        printed.
        """
        left_out: list[str] = []
        if self.settings.redis_url is not None and "redis_url" not in self.settings.from_env:
            left_out.append("--redis-url")
        if self.options.get("receipts_listen") is not None:
            left_out.append("--receipts-listen options")
        if not left_out:
            return ""
        return f"(add your {' and '.join(left_out)} again)"

    async def _main(self) -> None:
        async with self.client as client:
            if self.listener is None:
                await self._work(client)
                return
            await self.listener.start(self.journal, warn=self.view.say)
            self.view.say(f"Recording delivery receipts received on {self.listener.url}")
            try:
                await self._work(client)
            finally:
                await self.listener.stop()

    async def _work(self, client: AsyncSmsClient) -> None:
        if self.options["reconcile"]:
            try:
                self.reconciled = await reconcile(
                    client,
                    self.journal,
                    self.job_id,
                    resend_unknown=self.options["resend_unknown"],
                )
            except EightXEightError as exc:  # the export failed: the rows stay unknown
                self.failure = exc
                self.reconcile_failed = True
            if self.reconciled is None or not (
                self.options["resend_unknown"] and self.reconciled.resent
            ):
                # Nothing to send: the file is read only to give the report its lines.
                for item in self.reader:
                    self._read(item)
                self.tally.total, self.tally.exact = self.tally.read, True
                return
        await self._send(client)

    async def _send(self, client: Any) -> None:
        # Any, not AsyncSmsClient: send_many's annotation does not list InvalidRow yet (B1).
        kwargs = {
            name: self.options[name]
            for name in ("chunk_size", "concurrency")
            if self.options[name] is not None
        }
        run = client.send_many(self._rows(), job_id=self.job_id, journal=self.journal, **kwargs)
        task = asyncio.current_task()
        assert task is not None

        def stop_taking_rows(number: int) -> None:
            self.interrupted, self.signal = 1, number
            self.view.say(
                "Stopping: the batch requests in flight finish first (Ctrl-C again: stop now, "
                "leaving their rows unknown)."
            )
            run.stop()

        def stop_now(number: int) -> None:
            self.interrupted = 2
            task.cancel()

        self.view.start(self.tally)
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            # In `async with`, any way out of the loop stops the job at once and records it.
            with _interrupts(stop_taking_rows, stop_now):
                async with run:
                    async for result in run:
                        self._count(result)
        except asyncio.CancelledError:
            if self.interrupted < 2:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()
        except EightXEightError as exc:  # a failure of the whole job; its rows stand in the journal
            self.failure = exc
        except (FileProblem, OSError) as exc:  # the file could not be read on (rows taken stand)
            self.unreadable = exc
        finally:
            ticker.cancel()
            self._flush_notes()
            self.view.stop(self.tally)
        self.sent_at = time.monotonic()
        wait = self.options["receipts_wait"]
        if self.listener is not None and wait and self._went_through():
            await self._wait_for_receipts(float(wait))

    def _went_through(self) -> bool:
        """The job ran to its end: no Ctrl-C, no failure (a wait then only delays the error)."""
        return not self.interrupted and self.failure is None and self.unreadable is None

    async def _wait_for_receipts(self, limit: float) -> None:
        """Receive on until no accepted row lacks a final receipt, ``limit`` s, or Ctrl-C."""
        stop = asyncio.Event()

        def end_wait(number: int) -> None:
            stop.set()

        with _interrupts(end_wait, end_wait):
            await self._receive_until(stop, limit)
        self.waited = time.monotonic() - (self.sent_at or time.monotonic())

    async def _receive_until(self, stop: asyncio.Event, limit: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        said = False
        while True:
            # On a thread: the loop goes on serving receipts while the journal counts.
            awaiting = (
                await asyncio.to_thread(self.journal.delivery_summary, self.job_id)
            ).awaiting
            if not awaiting or loop.time() >= deadline or stop.is_set():
                return
            if not said:
                said = True
                self.view.say(
                    f"Waiting up to {limit:g} s for the receipts of {plural(awaiting, 'row')} "
                    "(Ctrl-C: stop waiting)."
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), min(1.0, max(0.0, deadline - loop.time())))

    async def _tick(self) -> None:
        """Update the progress while a chunk is in flight (no result comes meanwhile)."""
        while True:
            await asyncio.sleep(1.0)
            self.view.update(self.tally)

    def _rows(self) -> Iterator[BatchMessage | InvalidRow]:
        """The file's rows for send_many, bad rows in their place as InvalidRow."""
        for item in self.reader:
            yield self._read(item)
        self.tally.total, self.tally.exact = self.tally.read, True

    def _read(self, item: GoodRow | BadRow) -> BatchMessage | InvalidRow:
        self.lines.add(self.tally.read, item.line)
        self.tally.read += 1
        if isinstance(item, GoodRow):
            return item.message
        # Noted when its result comes (_count), in line order with the rows 8x8 refused:
        # reading runs ahead of the answers.
        if self.report is not None:
            self.report.add_bad(item, row_id(self.job_id, self.tally.read - 1))
        return InvalidRow(f"line {item.line}: {item.reason}")

    def _count(self, result: Any) -> None:
        tally = self.tally
        state = result.state
        if state is RowState.INVALID:
            tally.invalid += 1
            self._note(result.row, _LINE_PREFIX.sub("", result.reason or "invalid"))
        elif state is RowState.UNKNOWN:
            tally.unknown += 1
            if not result.resumed:
                self._note(result.row, _unknown_note(result.reason))
        elif result.resumed:
            tally.earlier += 1
        elif state is RowState.ACCEPTED:
            tally.accepted += 1
        elif state is RowState.REJECTED:
            tally.rejected += 1
            self._note(result.row, f"rejected by 8x8: {result.reason}")
        if tally.done % UPDATE_EVERY == 0:
            self.view.update(tally)

    def _note(self, row: int, message: str) -> None:
        """Note a row; consecutive rows that failed alike (a chunk's timeout) become one note."""
        group = self._group
        if group is not None and group[3] == message and group[1] == row - 1:
            group[1], group[2] = row, group[2] + 1
            return
        self._flush_notes()
        self._group = [row, row, 1, message]

    def _flush_notes(self) -> None:
        if self._group is not None:
            first, last, count, message = self._group
            line, last_line = self.lines.line(first), self.lines.line(last)
            self.view.note(line, message, last=last_line, count=count)
            self._group = None

    # --- the end -----------------------------------------------------------------------------

    def _journal_rows(self) -> Iterator[ReportRow]:
        refused = self.journal.rows(self.job_id, states=_REPORTED)
        undelivered = self.journal.rows(
            self.job_id, states=[RowState.ACCEPTED], deliveries=_NOT_DELIVERED
        )
        for result in heapq.merge(refused, undelivered, key=_row_order):
            line = self.lines.line(result.row)
            delivery = "" if result.delivery is None else str(result.delivery)
            code = "" if result.delivery_error is None else str(result.delivery_error)
            yield (
                line,
                result.client_message_id,
                result.state.value,
                result.reason or "",
                delivery,
                code,
            )

    def _finish(self) -> None:
        deliveries: DeliverySummary | None = None
        try:
            summary = self.journal.summary(self.job_id)
            deliveries = self.journal.delivery_summary(self.job_id)
        except JournalError:  # stopped before the job was recorded
            summary = dict.fromkeys(RowState, 0)
        written = self.report.finish(self._journal_rows()) if self.report is not None else None
        elapsed = (self.sent_at or time.monotonic()) - self.started
        counts = {state.value: summary[state] for state in _SETTLED}
        if self.tally.exact:
            # Rows never reached have no record: the file's rows less the settled ones.
            counts["pending"] = max(0, self.tally.read - sum(counts.values()))
        else:
            counts["pending"] = summary[RowState.PENDING] + summary[RowState.IN_FLIGHT]
        document: dict[str, Any] = {
            "job_id": self.job_id,
            "journal": self.journal_path,
            "file": self.file,
            "dry_run": False,
            "complete": self.tally.exact and not counts["pending"] and not self.interrupted,
            "rows": self.tally.read,
            **counts,
            # The file was not read to its end: how many rows are left to send is not known.
            "pending": counts["pending"] if self.tally.exact else None,
            "rest_of_file_unread": not self.tally.exact,
            "this_run": {
                "accepted": self.tally.accepted,
                "rejected": self.tally.rejected,
                "unknown": self.tally.unknown,
                "invalid": self.tally.invalid,
                "done_earlier": self.tally.earlier,
            },
            "elapsed_seconds": round(elapsed, 3),
            "rows_per_second": round(self.tally.done / elapsed, 1) if elapsed > 0 else None,
            "report": None if self.report is None else {"path": self.report.path, "rows": written},
            # From the receipts recorded in the journal (a receiver running beside the job).
            "delivery": None if deliveries is None else _delivery_document(deliveries),
            "receipts": None
            if self.listener is None
            else {
                "listen": self.listener.url,
                "received": self.listener.received,
                # Posts refused for their Authorization: receipts that were never recorded.
                "refused_unauthorized": self.listener.refused,
                "answers": {str(status): n for status, n in self.listener.answers.items()},
                "waited_seconds": round(self.waited, 3),
            },
            "resume_command": self.command,
        }
        if self.reconciled is not None:
            document["reconcile"] = _reconcile_document(self.reconciled)
        lines = self._summary_lines(counts, written, deliveries)
        if self.options["reconcile"] and not (self.reconciled and self.reconciled.resent):
            # No row was sent: the time went to the log export.
            title = f"Job {self.job_id}: reconciled in {elapsed:.1f} s ({self.file})."
        else:
            title = (
                f"Job {self.job_id}: {plural(self.tally.read, 'row')} of {self.file} read in "
                f"{elapsed:.1f} s."
            )
        conclude(self.settings, title, lines, document, self._failure_error(counts, document))

    def _summary_lines(
        self, counts: dict[str, int], written: int | None, deliveries: DeliverySummary | None
    ) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        if self.reconciled is not None:
            lines.append(("reconciled", _reconcile_line(self.reconciled)))
        notes = {
            "rejected": "refused by 8x8",
            "invalid": "never sent",
            "unknown": "may or may not have reached 8x8",
            "pending": "not sent yet",
        }
        for name, count in counts.items():
            if name == "pending" and not count and self.tally.exact:
                continue
            text = f"{count:,}" + (f" ({notes[name]})" if count and name in notes else "")
            if name == "pending" and not self.tally.exact:
                rows = f"{plural(count, 'row')} and " if count else ""
                text = f"{rows}the rest of the file (not sent yet)"
            lines.append((name, text))
        if self.tally.earlier:
            lines.append(
                ("earlier", f"{plural(self.tally.earlier, 'row')} settled by an earlier run")
            )
        if deliveries is not None and (
            self.listener is not None
            or deliveries.delivered
            or deliveries.undelivered
            or deliveries.rejected
        ):
            # Only once receipts were recorded: without a receiver, every row would read
            # "no receipt yet", which says nothing.
            lines.append(("delivery", _delivery_line(deliveries)))
        if self.listener is not None:
            text = f"{self.listener.received:,} received on {self.listener.url}"
            if self.waited:
                text += f" (waited {self.waited:.1f} s after the last row)"
            lines.append(("receipts", text))
            if self.listener.refused:
                lines.append(
                    (
                        "refused",
                        f"{plural(self.listener.refused, 'post')} refused: wrong Authorization; "
                        f"check --receipts-authorization / {ENV_AUTHORIZATION} against the "
                        "webhook's http_authorization",
                    )
                )
            for status, count in self.listener.answers.items():
                if status in _OTHER_REFUSALS:
                    what = f"{plural(count, 'post')} refused with {status}"
                    lines.append(("refused", f"{what}: {_OTHER_REFUSALS[status]}"))
        elapsed = self.view.elapsed()
        if self.sent_at is not None:  # the wait for receipts is no part of the sending rate
            elapsed -= time.monotonic() - self.sent_at
        if elapsed > 0 and self.tally.done:
            sent = self.tally.done - self.tally.earlier  # rows an earlier run settled cost nothing
            lines.append(("rate", f"{sent / elapsed:,.0f} rows/s"))
        if self.report is not None:
            lines.append(("report", f"{self.report.path} ({plural(written or 0, 'row')})"))
        return lines

    def _failure_error(self, counts: dict[str, int], document: dict[str, Any]) -> CliError | None:
        """The error the run ends with, or None for exit 0."""
        # The command ends the line, so that the line's end can be pasted as it is.
        resume = (
            f"Resume with{' ' + self._resume_note if self._resume_note else ''}: {self.command}"
        )
        if counts["unknown"] and not self.reconcile_failed:
            # Resuming never sends these rows again: only --reconcile settles them. A line of
            # its own, so that each line ends with a command to paste.
            resume += (
                f"\n  {plural(counts['unknown'], 'row')} may or may not have reached 8x8; look "
                f"them up with: {self.command} --reconcile"
            )
        if self.interrupted:
            by = "Interrupted" if self.signal == signal.SIGINT else "Stopped by SIGTERM"
            return CliError(
                128 + self.signal,  # 130 for Ctrl-C, as a shell reports it; 143 for SIGTERM
                f"{by}: the rows not sent yet stay pending in the journal.",
                hint=resume,
                document=document,
            )
        if self.unreadable is not None:
            problem = self.unreadable
            message = (
                problem.message
                if isinstance(problem, FileProblem)
                else f"Reading {self.file} failed: {errs.os_reason(problem)}."
            )
            return CliError(errs.EXIT_LOCAL, message, hint=resume, document=document)
        if isinstance(self.failure, InputChangedError):
            return self._input_changed(self.failure, document)
        if self.failure is not None:
            code, message, hints, _ = errs.describe(self.failure, self.settings)
            message = _job_wording(message, counts)
            if self.reconcile_failed:
                resume = (
                    "The unknown rows stay unknown (nothing was sent); reconcile again later: "
                    f"{self.command} --reconcile"
                )
            return CliError(code, message, hint=" ".join([*hints, resume]), document=document)
        if counts["unknown"]:
            if self.reconciled is None:
                hint = f"Look them up in 8x8's log export: {self.command} --reconcile"
            else:
                hint = (
                    "8x8's log does not show them. It can lag behind: reconcile again later, or "
                    f"send them again with: {self.command} --reconcile --resend-unknown"
                )
            return CliError(
                EXIT_UNKNOWN_ROWS,
                f"{counts['unknown']:,} row(s) may or may not have reached 8x8; "
                "they are not sent again.",
                hint=hint,
                document=document,
            )
        refused = counts["rejected"] + counts["invalid"]
        if refused:
            hint = (
                f"{self.report.path} lists them by line."
                if self.report is not None
                else f"Add --report PATH to list them by line: {self.command} --report PATH "
                "(nothing is sent again)."
            )
            return CliError(
                EXIT_ROWS_REFUSED,
                f"{refused:,} row(s) were not accepted (invalid, or rejected by 8x8).",
                hint=hint,
                document=document,
            )
        if counts["pending"]:
            self.view.say(
                f"{counts['pending']:,} row(s) are not sent yet; send them with: {self.command}"
            )
        return None

    def _input_changed(self, error: InputChangedError, document: dict[str, Any]) -> CliError:
        line = None if error.row is None else self.lines.line(error.row)
        what = (
            "its options (--template, --source, --country) differ"
            if error.row is None
            else f"the row on line {line} differs"
            if line is not None
            else f"row {error.row} differs"
        )
        return CliError(
            errs.EXIT_VALIDATION,
            f"{self.file} is not the input job {self.job_id} was started with: {what}. "
            "Nothing more was sent.",
            hint=(
                "Resume with the same file and options (fix a bad row in place: it is sent then), "
                "or send this file as a new job with --new-job (rows the job sent would be sent "
                "again)."
            ),
            document=document,
        )


def _unknown_note(reason: str | None) -> str:
    """A row of unknown outcome, in the command's terms.

    The SDK's "run reconcile" advice becomes the option that does it.
    """
    why = _RECONCILE_ADVICE.sub("", reason or "").strip()
    return (
        f"outcome unknown: run --reconcile ({why})" if why else "outcome unknown: run --reconcile"
    )


#: The "line N: " an InvalidRow's reason starts with (the note puts the line first itself).
_LINE_PREFIX = re.compile(r"^line \d+: ")
_RECONCILE_ADVICE = re.compile(r"(^|;\s*)(its outcome is unknown; )?run reconcile\b.*$")


def _row_order(result: BulkResult) -> int:
    return result.row


def _delivery_document(deliveries: DeliverySummary) -> dict[str, int]:
    return {
        "delivered": deliveries.delivered,
        "undelivered": deliveries.undelivered,
        "rejected": deliveries.rejected,
        "awaiting": deliveries.awaiting,
    }


def _delivery_line(deliveries: DeliverySummary) -> str:
    return (
        f"{deliveries.delivered:,} delivered, {deliveries.undelivered:,} undelivered, "
        f"{deliveries.rejected:,} rejected, "
        f"{deliveries.awaiting:,} accepted with no receipt yet"
    )


def _reconcile_document(report: ReconcileReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "found": report.found,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "still_unknown": report.still_unknown,
        "resent": report.resent,
        "duplicates": report.duplicates,
        "records_read": report.records_read,
    }


def _reconcile_line(report: ReconcileReport) -> str:
    text = (
        f"{report.checked:,} unknown row(s) looked up in 8x8's log export: {report.found:,} found "
        f"({report.accepted:,} accepted, {report.rejected:,} rejected), "
        f"{report.still_unknown:,} not found"
    )
    if report.resent:
        text += f", {report.resent:,} sent again"
    if report.duplicates:
        text += f"; {report.duplicates:,} row(s) appear more than once at 8x8"
    return text


#: Why the receiver refused a post, besides a wrong Authorization (401).
_OTHER_REFUSALS = {
    400: "not an 8x8 webhook body (a legacy Wavecell body is one)",
    405: "not a POST",
    413: "a body larger than 64 KiB",
}

_NOTHING_SENT = re.compile(r"([;.]) ?[Nn]othing was sent\.$")


def _job_wording(message: str, counts: dict[str, int]) -> str:
    """An error's "nothing was sent", made true for a job that sent rows before it.

    The SDK's message speaks of one request; the job may have had rows accepted (or refused,
    or left unknown) by earlier requests, which stand in the journal.
    """
    earlier = counts["accepted"] + counts["rejected"] + counts["unknown"]
    if not earlier:
        return message
    tally = ", ".join(
        f"{counts[name]:,} {name}"
        for name in ("accepted", "rejected", "unknown")
        if counts[name] or name == "accepted"
    )
    sent = (
        "the last request was not sent; the rows of earlier requests stand in the journal "
        f"({tally})."
    )

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == ";":  # "...; nothing was sent."
            return f"; {sent}"
        return f". {sent[0].upper()}{sent[1:]}"  # "... Nothing was sent."

    return _NOTHING_SENT.sub(replace, message)
