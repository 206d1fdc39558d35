"""What ``eightxeight bulk`` shows and writes: progress, notes on bad rows, the summary, the report.

Progress goes to stderr: a rich bar on a terminal, else a plain line every
:data:`LINE_INTERVAL` seconds (logs and CI keep them readable). stdout holds the summary alone, or
the one JSON document of ``--json``.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import os
import tempfile
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import click
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from . import _cli_errors as errs
from ._cli_bulk_csv import BadRow, RowReader
from ._cli_errors import CliError, clean
from ._cli_options import Settings
from ._converters import dumps_for_humans
from ._redact import mask_numbers

__all__ = [
    "LINE_INTERVAL",
    "NOTE_LIMIT",
    "REPORT_COLUMNS",
    "UPDATE_EVERY",
    "BarView",
    "LineView",
    "QuietView",
    "ReportWriter",
    "RowLines",
    "Tally",
    "View",
    "conclude",
    "count_lines",
    "data_lines",
    "plural",
    "report_writer",
]

#: Seconds between two plain progress lines.
LINE_INTERVAL = 5.0
#: Bad rows named one by one on screen; the rest are counted (all are in ``--report``).
NOTE_LIMIT = 20
REPORT_COLUMNS = ("line", "client_message_id", "state", "reason", "delivery", "error_code")


def count_lines(path: str) -> int | None:
    """The lines of a regular file, counted in 1 MiB reads (None for a pipe or a device)."""
    try:
        if not Path(path).is_file():
            return None
        lines = 0
        last = b"\n"
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return lines + (last != b"\n")
    except OSError:
        return None


#: Results between two progress updates (a rich update per row would cost more than the row).
UPDATE_EVERY = 256


class RowLines:
    """Where each row of the job starts in the file, in memory that grows only with irregularities.

    Rows follow each other on consecutive lines but for the header, blank lines and texts with
    line breaks; only those breaks are stored, as (row, line - row).
    """

    def __init__(self) -> None:
        self._rows = array("q")
        self._offsets = array("q")
        self.count = 0
        """How many rows were added."""

    def add(self, row: int, line: int) -> None:
        """Record that ``row`` (0-based, in order) starts on ``line``."""
        offset = line - row
        if not self._offsets or self._offsets[-1] != offset:
            self._rows.append(row)
            self._offsets.append(offset)
        self.count = row + 1

    def line(self, row: int) -> int | None:
        """The line of ``row``, or None when it was not read."""
        if not 0 <= row < self.count:
            return None
        index = bisect_right(self._rows, row) - 1
        return row + self._offsets[index]


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2,000 rows``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def data_lines(reader: RowReader) -> int | None:
    """The rows the file may hold, from its line count (None when it cannot be counted)."""
    lines = count_lines(reader.path)
    columns = reader.columns
    if lines is None or columns is None:
        return None
    return max(0, lines - (1 if columns.header else 0))


def report_writer(path: str | None) -> ReportWriter | None:
    """The writer of ``--report PATH`` (None without it), checked writable before any send.

    Raises:
        CliError: PATH cannot be written (exit 3, a file the command cannot use, naming
            --report).
    """
    if path is None:
        return None
    try:
        return ReportWriter(path)
    except OSError as exc:
        raise CliError(
            errs.EXIT_VALIDATION,
            f"Cannot write --report {path}: {errs.os_reason(exc)}. Nothing was sent.",
        ) from None


# --- output --------------------------------------------------------------------------------------


# --- counts ------------------------------------------------------------------------------------


@attrs.define
class Tally:
    """Rows of the job by outcome, as far as this run knows them."""

    read: int = 0
    """Rows read from the file (valid or not)."""
    invalid: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    earlier: int = 0
    """Rows an earlier run of the job settled (nothing sent for them now)."""
    total: int | None = None
    """Rows the file holds: an estimate from its line count until the end is read."""
    exact: bool = False
    """Whether ``total`` is exact (the whole file was read)."""
    dry_run: bool = False
    """Rows are only checked: ``accepted`` counts the valid ones."""

    @property
    def done(self) -> int:
        """Rows whose outcome is known (or that need reconciling)."""
        return self.invalid + self.accepted + self.rejected + self.unknown + self.earlier


# --- progress ----------------------------------------------------------------------------------


class View:
    """Where the progress of a run goes; this base class shows nothing (``--quiet``, tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.notes = 0

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self.started

    def rate(self, tally: Tally) -> float:
        """Rows settled per second so far."""
        elapsed = self.elapsed()
        return tally.done / elapsed if elapsed > 0 else 0.0

    def start(self, tally: Tally) -> None:
        """Sending (or reading, for a dry run) begins: the rate counts from now."""
        self.started = self._clock()

    def update(self, tally: Tally) -> None:
        """Counts changed."""

    def note(
        self, line: int | None, message: str, *, last: int | None = None, count: int = 1
    ) -> None:
        """Rows went wrong (``count`` of them, ``line`` to ``last``, for the same reason).

        Named while fewer than :data:`NOTE_LIMIT` notes were, then counted.
        """
        self.notes += 1
        if self.notes <= NOTE_LIMIT:
            if count > 1:
                where = f"lines {line} to {last} ({count:,} rows)"
            else:
                where = f"line {line}" if line is not None else "a row of an earlier run"
            self.say(f"{where}: {mask_numbers(message)}")
        elif self.notes == NOTE_LIMIT + 1:
            self.say(f"(more than {NOTE_LIMIT} rows went wrong; --report PATH lists every one)")

    def say(self, message: str) -> None:
        """A line for the user on stderr, between progress updates.

        Progress is best effort: a stderr that cannot be written to must not stop the job.
        """
        with contextlib.suppress(OSError, ValueError):
            click.echo(clean(message), err=True)

    def stop(self, tally: Tally) -> None:
        """The run ended (the summary follows)."""


class QuietView(View):
    """``--quiet``: no progress and no per-row notes; the job line, errors and summary remain."""

    def note(
        self, line: int | None, message: str, *, last: int | None = None, count: int = 1
    ) -> None:
        """Count the rows, silently (``--report`` lists them)."""
        self.notes += 1


def _describe(tally: Tally, rate: float) -> str:
    """One progress line: rows done of the total, outcomes, rate and time left."""
    if tally.total:
        approx = "" if tally.exact else "~"
        share = min(100, 100 * tally.done // max(tally.total, 1))
        rows = f"{tally.done:,} of {approx}{tally.total:,} rows ({share}%)"
    else:
        rows = f"{tally.done:,} rows"
    if tally.dry_run:
        parts = [f"{tally.accepted:,} valid", f"{tally.invalid:,} invalid"]
    else:
        parts = [
            f"{tally.accepted:,} accepted",
            f"{tally.rejected:,} rejected",
            f"{tally.unknown:,} unknown",
            f"{tally.invalid:,} invalid",
        ]
    if tally.earlier:
        parts.append(f"{tally.earlier:,} done earlier")
    line = f"{rows}: {', '.join(parts)}; {rate:,.0f} rows/s"
    if tally.total and rate > 0 and tally.done < tally.total:
        line += f", about {_duration((tally.total - tally.done) / rate)} left"
    return line


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class LineView(View):
    """Not a terminal: a plain line every :data:`LINE_INTERVAL` seconds, and one at the end."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, interval: float = LINE_INTERVAL
    ) -> None:
        super().__init__(clock)
        self._interval = interval
        self._next = self.started + interval

    def update(self, tally: Tally) -> None:
        """Print a line when the interval has passed."""
        now = self._clock()
        if now >= self._next:
            self._next = now + self._interval
            self.say(f"bulk: {_describe(tally, self.rate(tally))}")

    def stop(self, tally: Tally) -> None:
        """The last line, with the final counts."""
        self.say(f"bulk: {_describe(tally, self.rate(tally))}")


def _counts_line(tally: Tally) -> Text:
    """The outcome counts, coloured: the bar's second line."""
    names = (
        (("accepted", "valid", "green"), ("invalid", "invalid", "magenta"))
        if tally.dry_run
        else (
            ("accepted", "accepted", "green"),
            ("rejected", "rejected", "red"),
            ("unknown", "unknown", "yellow"),
            ("invalid", "invalid", "magenta"),
        )
    )
    text = Text("     ")
    for name, label, style in names:
        text.append(f"  {getattr(tally, name):,} {label}", style=style)
    if tally.earlier:
        text.append(f"  {tally.earlier:,} done earlier")
    return text


class _Rows(ProgressColumn):
    """``done/~total rows``, the rate and the time left, from the view's own counts."""

    def __init__(self, view: BarView) -> None:
        super().__init__()
        self._view = view

    def render(self, task: Task) -> Text:
        tally = self._view.tally
        rate = self._view.rate(tally)
        total = "" if tally.total is None else f"/{'' if tally.exact else '~'}{tally.total:,}"
        text = f"{tally.done:,}{total} rows  {rate:,.0f} rows/s"
        if tally.total and rate > 0 and tally.done < tally.total:
            text += f"  ETA {_duration((tally.total - tally.done) / rate)}"
        return Text(text)


class _TwoLines(Progress):
    """The bar, rows, rate and ETA on one line, the counts under it: both fit 80 columns."""

    def __init__(self, view: BarView, console: Console) -> None:
        self._view = view  # before Progress.__init__, which renders once
        super().__init__(
            TextColumn("bulk"),
            BarColumn(bar_width=24),
            _Rows(view),
            console=console,
            refresh_per_second=4,
        )

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield _counts_line(self._view.tally)


class BarView(View):
    """A terminal: rich's progress bar on stderr, bad rows printed above it."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.tally = Tally()
        self._console = console or Console(stderr=True, highlight=False)
        self._progress = _TwoLines(self, self._console)
        self._task = self._progress.add_task("bulk", total=None, start=True)

    def start(self, tally: Tally) -> None:
        """Show the bar."""
        super().start(tally)
        self.tally = tally
        self._progress.start()
        self.update(tally)

    def update(self, tally: Tally) -> None:
        """Move the bar and its counts."""
        self.tally = tally
        self._progress.update(self._task, completed=tally.done, total=tally.total)

    def say(self, message: str) -> None:
        """Print above the bar; Text, so that brackets in a reason are not read as markup.

        Never wrapped at the terminal's width: a line may hold a command, a path or a job id to
        copy, and a line break inserted by rich would break it when pasted.
        """
        with contextlib.suppress(OSError, ValueError):
            self._console.print(Text(clean(message)), soft_wrap=True, overflow="ignore", crop=False)

    def stop(self, tally: Tally) -> None:
        """Leave the final bar on screen."""
        self.update(tally)
        self._progress.stop()


# --- the summary ------------------------------------------------------------------------------


def _print_summary(
    settings: Settings, title: str, lines: list[tuple[str, str]], document: dict[str, Any]
) -> None:
    """The summary on stdout: aligned lines, or the JSON document."""
    if settings.as_json:
        click.echo(dumps_for_humans(document))
        return
    click.echo(title)
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        click.echo(f"  {name.ljust(width)}  {errs.clean(value)}")


def conclude(
    settings: Settings,
    title: str,
    lines: list[tuple[str, str]],
    document: dict[str, Any],
    failure: CliError | None,
) -> None:
    """Print the summary, then end with ``failure``'s exit code (if any).

    With ``--json`` and a failure, the top-level report prints the document with its error, so
    that stdout holds one document. A reader that left (``| head``) keeps the failure's code.
    """
    if failure is not None and settings.as_json:
        raise failure
    try:
        _print_summary(settings, title, lines, document)
    except BrokenPipeError:
        if failure is None:
            raise
    if failure is not None:
        failure.printed = True
        raise failure


# --- the report file ---------------------------------------------------------------------------

#: One row of the report: (line or None, client_message_id, state, reason, delivery state,
#: delivery error code); the last two are "" for a row with no receipt.
ReportRow = tuple[int | None, str, str, str, str, str]


class ReportWriter:
    """``--report PATH``: the rows that were not accepted, in line order, written at the end.

    Also the accepted rows whose delivery receipt said ``undelivered`` or ``rejected`` (state
    ``accepted``, with the ``delivery`` and ``error_code`` columns), when receipts were recorded.
    Bad rows of the file arrive while it is read and go to a temporary file; the journal's
    rejected and unknown rows come at the end in row order; the two sorted streams are merged,
    so memory stays flat. The report replaces PATH in one step (written beside it, then renamed).

    Raises:
        OSError: From the constructor when PATH cannot be written (checked before any send).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._partial = f"{path}.partial"
        # Fail now, before anything is sent, if the report could not be written at the end.
        with open(self._partial, "w", encoding="utf-8"):
            pass
        # Closed by finish() or discard(): it lives as long as the run.
        self._spool: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", newline=""
        )
        self._bad = csv.writer(self._spool)
        self.rows = 0

    def add_bad(self, row: BadRow, client_message_id: str | None = None) -> None:
        """A row of the file that is never sent (with the id the job gave it, if any)."""
        cmid = row.client_message_id or client_message_id or ""
        self._bad.writerow([row.line, cmid, "invalid", row.reason, "", ""])

    def _spooled(self) -> Iterator[ReportRow]:
        self._spool.seek(0)
        for line, cmid, state, reason, delivery, code in csv.reader(self._spool):
            yield int(line), cmid, state, reason, delivery, code

    def finish(self, journal_rows: Iterable[ReportRow] = ()) -> int:
        """Write the report (bad rows merged with ``journal_rows``); return its row count."""
        with open(self._partial, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(REPORT_COLUMNS)
            for line, cmid, state, reason, delivery, code in heapq.merge(
                self._spooled(), journal_rows, key=_line_order
            ):
                # An id may hold a number (a row's own id, "{batch}/{destination}"): masked
                # like the reason, as everywhere the CLI shows one.
                writer.writerow(
                    [
                        "" if line is None else line,
                        mask_numbers(cmid),
                        state,
                        mask_numbers(reason),
                        delivery,
                        code,
                    ]
                )
                self.rows += 1
        os.replace(self._partial, self.path)
        self._spool.close()
        return self.rows

    def discard(self) -> None:
        """Remove the partial file (the run failed before the report could be written)."""
        self._spool.close()
        with contextlib.suppress(OSError):
            os.remove(self._partial)


def _line_order(item: ReportRow) -> float:
    return float("inf") if item[0] is None else item[0]
