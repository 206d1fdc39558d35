"""The ``eightxeight bulk FILE.csv`` command: send every row of a CSV file, resumably.

The file is read row by row (``_cli_bulk_csv``) into ``AsyncSmsClient.send_many`` with a journal,
so that a run stopped by Ctrl-C, a crash or a kill resumes where it stopped and no row is ever
sent twice; bad rows keep their place in the job as ``InvalidRow``, so that a row fixed in the
file is sent by the next run. This module holds the command and its checks (before anything is
read or sent). The columns are ``_cli_bulk_columns``, the reading ``_cli_bulk_csv``, a run
``_cli_bulk_run``, ``--dry-run`` ``_cli_bulk_dryrun``, what is shown and written ``_cli_bulk_view``,
``--receipts-listen`` ``_cli_bulk_receipts``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from typing import Any

import click
from click.core import ParameterSource

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_bulk_columns import FileProblem, Template
from ._cli_bulk_csv import RowReader, bom_encoding
from ._cli_bulk_csv import check_encoding as _check_encoding
from ._cli_bulk_dryrun import dry_run
from ._cli_bulk_receipts import ENV_AUTHORIZATION, ReceiptListener, check_receipt_options
from ._cli_bulk_run import (
    EXIT_ROWS_REFUSED,
    EXIT_UNKNOWN_ROWS,
    JobRun,
)
from ._cli_bulk_view import BarView, LineView, QuietView, View
from ._cli_errors import CliError
from ._cli_options import TEXT, apply, choice, connection_options
from ._client_bulk import MAX_CONCURRENCY
from ._config import ENV_ACCOUNT_ID
from ._errors import ValidationError
from ._models_batch import BatchMessage
from ._validators import check_account_id
from .bulk import Journal, JournalBusyError, JournalError, RowState
from .bulk._job import MAX_CHUNK, check_job_id, new_job_id

__all__ = ["EXIT_ROWS_REFUSED", "EXIT_UNKNOWN_ROWS", "bulk"]

#: Row states of a job that may have reached 8x8.
_MAY_HAVE_SENT = (RowState.IN_FLIGHT, RowState.ACCEPTED, RowState.REJECTED, RowState.UNKNOWN)
_DELIMITERS = {"auto": None, ",": ",", ";": ";", "tab": "\t", "pipe": "|"}
#: The options a resumed run must repeat (they shape the rows), in the order they are printed.
_RESUME_OPTIONS = ("template", "source", "country", "file_encoding", "delimiter", "report")


@click.command("bulk", short_help="Send every row of a CSV file; resumable, never twice.")
@click.argument("file", metavar="FILE.csv", type=TEXT)
@click.option(
    "--template", type=TEXT, help="Text with {{column}} variables, instead of a text column."
)
@click.option("--source", type=TEXT, help="Sender id for rows without a source column value.")
@click.option("--country", type=TEXT, help="ISO 3166-1 alpha-2 code for national numbers.")
@click.option(
    "--journal",
    type=TEXT,
    metavar="PATH",
    help="Journal file (SQLite).  [default: FILE.csv.journal]",
)
@click.option(
    "--job-id",
    type=TEXT,
    metavar="ID",
    help="Resume this job, or name a new one (A-Z a-z 0-9 _ -).",
)
@click.option("--new-job", is_flag=True, help="Start a new job though the journal holds others.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    metavar="N",
    help="Batch requests in flight at once.  [default: 4]",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, MAX_CHUNK),
    metavar="N",
    help="Messages per batch request.  [default: 10,000, 8x8's most]",
)
@click.option(
    "--dry-run", is_flag=True, help="Check every row, count parts and cost; send nothing."
)
@click.option(
    "--account-id",
    type=TEXT,
    metavar="GUID",
    help=f"Account for --dry-run prices [env {ENV_ACCOUNT_ID}].",
)
@click.option(
    "--report", type=TEXT, metavar="PATH", help="Write the rows not accepted to this CSV file."
)
@click.option("--reconcile", is_flag=True, help="Look the job's unknown rows up in 8x8's log.")
@click.option("--resend-unknown", is_flag=True, help="With --reconcile: send the rows 8x8 lacks.")
@click.option(
    "--file-encoding",
    type=TEXT,
    metavar="NAME",
    help=(
        "Encoding of FILE.csv.  [default: utf-8, or the UTF-8, UTF-16 or UTF-32 its byte-order "
        "mark names]"
    ),
)
@click.option(
    "--delimiter",
    type=choice("auto", ",", ";", "tab", "pipe"),
    default="auto",
    show_default=True,
    help="Field separator; auto reads it from the first line.",
)
@click.option(
    "--receipts-listen",
    type=TEXT,
    metavar="HOST:PORT",
    help=(
        "Receive 8x8's delivery receipts here (HTTP, needs uvicorn) while the job runs, and "
        "record each row's delivery state in the journal."
    ),
)
@click.option(
    "--receipts-authorization",
    type=TEXT,
    metavar="VALUE",
    envvar=ENV_AUTHORIZATION,
    show_envvar=False,
    help=(
        "The Authorization header 8x8 sends with each receipt (set_webhook's "
        f"http_authorization) [env {ENV_AUTHORIZATION}]."
    ),
)
@click.option(
    "--receipts-wait",
    type=opts.Finite(0, 86_400),  # click's FloatRange lets nan through: it waited forever
    metavar="SECONDS",
    help="After the last row, keep receiving until every accepted row has its receipt, at most "
    "this long.  [default: 0]",
)
@click.option("--quiet", is_flag=True, help="No progress and no per-row notes.")
@apply(connection_options(at_group=False))
@click.pass_context
def bulk(ctx: click.Context, /, file: str, **options: Any) -> None:
    """Send one SMS per row of FILE.csv, in batch requests, with a journal to resume from.

    Columns: destination (or to, phone, msisdn) and text, or --template "Hi {{name}}" with
    the other columns as variables; optional client_message_id, source, country. Bad rows are
    reported with their line and never sent. Ctrl-C stops taking rows and prints the command
    that resumes; a rerun never sends a row twice.

    Exits 9 if rows are left whose outcome is unknown (run --reconcile), 10 if rows were
    invalid or rejected (see --report).
    """
    settings = opts.current_settings()
    _check_input(file)
    _check_usage(ctx, options)
    journal_path = options["journal"] or f"{file}.journal"
    _check_paths(
        file, journal_path, options["report"], given_journal=options["journal"] is not None
    )
    check_receipt_options(ctx, options)
    reader = _open_reader(file, options)
    listener: ReceiptListener | None = None
    try:
        view = _make_view(options["quiet"])
        if options["dry_run"]:
            dry_run(settings, reader, options, view)
            return
        # The settings' own checks (key, subaccount, URL, CA file) come before any file is made.
        client = settings.client()
        owned = False
        try:
            if options["receipts_listen"] is not None:
                listener = ReceiptListener(
                    options["receipts_listen"], options["receipts_authorization"]
                )
            journal = _open_journal(
                journal_path, options["journal"] is not None, reconcile=options["reconcile"]
            )
            try:
                job_id = _job_id(journal, file, journal_path, options)
                command = _resume_command(ctx, file, journal_path, job_id)
                job = JobRun(settings, client, reader, journal, journal_path, job_id, options, view)
                job.listener = listener
                owned = True  # the run closes the client
                job.run(command)
            finally:
                journal.close()
        finally:
            if listener is not None:
                listener.close()
            if not owned:
                asyncio.run(client.aclose())
    finally:
        reader.close()


# --- checks before anything is read or sent ----------------------------------------------------


def _check_input(file: str) -> None:
    """Refuse a FILE.csv the command cannot use: exit 3, naming it (unreadable: exit 1, later).

    A resumable job needs a file it can read again from the start: not standard input.
    """
    problem = None
    if file == "-":
        problem = "standard input is not supported: pass a file (a job resumes from its file)"
    elif not os.path.exists(file):
        problem = f"{file} does not exist"
    elif os.path.isdir(file):
        problem = f"{file} is a directory"
    if problem is not None:
        raise CliError(errs.EXIT_VALIDATION, f"FILE.csv: {problem}. Nothing was sent.")


def _check_usage(ctx: click.Context, options: dict[str, Any]) -> None:
    if options["resend_unknown"] and not options["reconcile"]:
        raise click.UsageError("--resend-unknown works only with --reconcile.", ctx)
    if options["dry_run"] and options["reconcile"]:
        raise click.UsageError("--dry-run and --reconcile do not go together.", ctx)
    if options["new_job"] and (options["job_id"] or options["reconcile"]):
        raise click.UsageError("--new-job does not go with --job-id or --reconcile.", ctx)
    for name in ("template", "journal", "report"):
        # An empty value must not quietly mean "none" (the default journal, no template).
        if options[name] is not None and not options[name].strip():
            raise click.BadParameter("it is empty.", param_hint=[f"--{name}"])
    if options["job_id"] is not None:
        try:
            check_job_id(options["job_id"])
        except ValidationError as exc:
            raise click.BadParameter(f"must be {exc.rule}.", param_hint=["--job-id"]) from None
    if options["account_id"] is not None:
        try:
            check_account_id(options["account_id"])
        except ValidationError as exc:
            raise click.BadParameter(f"must be {exc.rule}.", param_hint=["--account-id"]) from None
    # --source and --country obey the rules of a message's own fields.
    for name in ("source", "country"):
        if options[name] is not None:
            try:
                BatchMessage(destination="+6591234567", text="x", **{name: options[name]})
            except ValidationError as exc:
                msg = f"Invalid --{name}: must be {exc.rule}. Nothing was sent."
                raise CliError(errs.EXIT_VALIDATION, msg) from None


def _open_reader(file: str, options: dict[str, Any]) -> RowReader:
    try:
        encoding = _check_encoding(options["file_encoding"] or "utf-8")
        template = Template.parse(options["template"]) if options["template"] else None
    except FileProblem as exc:
        raise CliError(errs.EXIT_VALIDATION, f"{exc.message} Nothing was sent.") from None
    try:
        binary = open(file, "rb")  # noqa: SIM115 (read to the end of the run; closed at exit)
    except OSError as exc:
        raise CliError(errs.EXIT_LOCAL, f"Cannot read {file}: {errs.os_reason(exc)}.") from None
    bom = None
    try:
        # A byte-order mark names the encoding (Excel's "Unicode text" is UTF-16) unless
        # --file-encoding does; peeked, so that a pipe is read from its start all the same.
        bom = bom_encoding(binary.peek(4)[:4])
        if options["file_encoding"] is None and bom is not None:
            encoding = bom
        reader = RowReader(
            binary,
            path=file,
            encoding=encoding,
            bom=bom,
            delimiter=_DELIMITERS[options["delimiter"]],
            template=template,
            source=options["source"],
            country=options["country"],
        )
        reader.open()
    except FileProblem as exc:
        binary.close()
        message = f"{exc.message} Nothing was sent."
        if bom is not None and bom != "utf-8-sig" and not encoding.startswith(bom):
            message += (
                f" The file starts with a {bom} byte-order mark: leave --file-encoding out to "
                "read it so."
            )
        raise CliError(errs.EXIT_VALIDATION, message) from None
    except OSError as exc:
        binary.close()
        raise CliError(errs.EXIT_LOCAL, f"Cannot read {file}: {errs.os_reason(exc)}.") from None
    return reader


def _check_paths(file: str, journal: str, report: str | None, *, given_journal: bool) -> None:
    """Refuse a --report or --journal that is the input itself, or that could not be written."""

    def same(a: str, b: str) -> bool:
        try:
            return os.path.samefile(a, b)
        except OSError:  # b does not exist yet: it cannot be a
            return os.path.abspath(a) == os.path.abspath(b)

    for option, path in (("--journal", journal), ("--report", report)):
        if path is not None and same(file, path):
            raise click.BadParameter("it names FILE.csv itself.", param_hint=[option])
    if report is not None and same(journal, report):
        raise click.BadParameter("it names the journal.", param_hint=["--report"])
    _check_output(journal, "--journal" if given_journal else _DEFAULT_JOURNAL)
    if report is not None:
        _check_output(report, "--report")


_DEFAULT_JOURNAL = "the journal (--journal, by default FILE.csv.journal)"


def _check_output(path: str, option: str) -> None:
    """Refuse, before anything is read, sent or created, a file the run could not write.

    A report found unwritable only at the end would be lost after every row was sent.

    Raises:
        CliError: ``path`` is a directory, in a folder that does not exist, or not writable
            (exit 3, naming the option; nothing was sent).
    """
    folder = os.path.dirname(os.path.abspath(path))
    problem = None
    if os.path.isdir(path):
        problem = "is a directory; name a file"
    elif not os.path.isdir(folder):
        problem = (
            f"is in a folder that does not exist ({folder})"
            if not os.path.exists(folder)
            else f"is in {folder}, which is not a folder"
        )
    elif os.path.exists(path):
        if not os.access(path, os.R_OK | os.W_OK):
            problem = "cannot be written (permission denied)"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"cannot be created: the folder {folder} is not writable"
    if problem is not None:
        raise CliError(errs.EXIT_VALIDATION, f"{option} {path} {problem}. Nothing was sent.")


def _make_view(quiet: bool) -> View:
    if quiet:
        return QuietView()
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return BarView() if terminal else LineView()


def _open_journal(path: str, given: bool, *, reconcile: bool = False) -> Journal:
    where = "--journal" if given else _DEFAULT_JOURNAL
    if reconcile and not os.path.lexists(path):
        # --reconcile reads a job's journal: a misspelt path must not leave an empty one behind.
        raise CliError(
            errs.EXIT_USAGE,
            f"There is no journal at {path}{'' if given else ' (the default --journal)'}: "
            "--reconcile looks up the rows of an existing one. Nothing was sent.",
            hint="Pass the --journal of the job.",
        )
    try:
        return Journal(path)
    except JournalBusyError:
        # Never suggest another journal: the same job under a second one would be sent twice.
        raise CliError(
            errs.EXIT_LOCAL,
            f"Another `eightxeight bulk` (or program) is using the journal {path}. "
            "Nothing was sent.",
            hint=(
                "Wait for it to finish; a second run of the same job at once could not resume "
                "it safely."
            ),
        ) from None
    except JournalError as exc:
        raise CliError(
            errs.EXIT_LOCAL,
            f"{errs.clean(str(exc))} Nothing was sent.",
            hint=f"Check {where}, or pass another with --journal PATH.",
        ) from None
    except OSError as exc:
        raise CliError(
            errs.EXIT_LOCAL,
            f"Cannot open {where} {path}: {errs.os_reason(exc)}. Nothing was sent.",
        ) from None


def _job_id(journal: Journal, file: str, journal_path: str, options: dict[str, Any]) -> str:
    """The job to run: --job-id, else a new one; never a second job by accident."""
    jobs = journal.jobs()
    if options["job_id"] is not None:
        job_id = str(options["job_id"])
        if options["reconcile"] and all(j.job_id != job_id for j in jobs):
            names = ", ".join(j.job_id for j in jobs) or "none"
            msg = (
                f"The journal {journal_path} holds no job {job_id} (its jobs: {names}). "
                "Nothing was sent."
            )
            raise CliError(errs.EXIT_USAGE, msg, hint="Check --job-id and --journal.")
        return job_id
    if options["reconcile"]:
        if len(jobs) == 1:
            return jobs[0].job_id
        if not jobs:
            msg = f"The journal {journal_path} holds no job to reconcile. Nothing was sent."
            raise CliError(errs.EXIT_USAGE, msg, hint="Pass the --journal of the job.")
        names = ", ".join(j.job_id for j in jobs)
        msg = f"--reconcile needs --job-id: the journal {journal_path} holds jobs {names}."
        raise CliError(errs.EXIT_USAGE, msg)
    # A job none of whose rows may have reached 8x8 (Redis down at the start: its rows are all
    # pending) cannot have a row sent twice: it does not block a plain rerun.
    jobs = [j for j in jobs if _may_have_sent(journal, j.job_id)]
    if jobs and not options["new_job"]:
        names = ", ".join(j.job_id for j in jobs[-3:])
        msg = (
            f"The journal {journal_path} already holds job(s) {names}; sending {file} as a new "
            "job could send its rows a second time. Nothing was sent."
        )
        hint = f"Resume a job with --job-id {jobs[-1].job_id}, or pass --new-job to send again."
        raise CliError(errs.EXIT_USAGE, msg, hint=hint)
    return new_job_id()


def _may_have_sent(journal: Journal, job_id: str) -> bool:
    summary = journal.summary(job_id)
    return any(summary[state] for state in _MAY_HAVE_SENT)


def _resume_command(ctx: click.Context, file: str, journal: str, job_id: str) -> str:
    """The command that resumes this job: the file, the journal, the job and the row options."""
    # A file named like an option ("-x.csv") must not be read as one.
    first = os.path.join(".", file) if file.startswith("-") else file
    words = ["eightxeight", "bulk", first, "--journal", journal, "--job-id", job_id]
    for name in _RESUME_OPTIONS:
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            words += ["--" + name.replace("_", "-"), str(ctx.params[name])]
    return shlex.join(words)
