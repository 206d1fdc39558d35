"""A worker that drains an ``asyncio.Queue`` of SMS jobs with ``send_many`` and a journal.

A producer task fills the queue (from a CSV file, or a generator of test numbers, standing in for
whatever feeds your queue: a web handler, a message broker); the worker hands the queue to
``send_many`` as an async iterable, which sends it as batch requests of ``--chunk-size`` messages
with ``--concurrency`` requests in flight, and records every row in the journal before and after
its request. Run it again with the same ``--job-id`` and the same input after a crash: rows already
accepted, rejected or invalid are not sent again.

Configuration is the client's environment (``eightxeight sandbox`` prints it)::

    EIGHTXEIGHT_API_KEY, EIGHTXEIGHT_SUBACCOUNT_ID, EIGHTXEIGHT_BASE_URL, EIGHTXEIGHT_CA_BUNDLE

Run::

    python examples/queue_worker.py --generate 2000 --journal worker.journal
    python examples/queue_worker.py --csv jobs.csv --job-id spring-sale --journal worker.journal

With ``--listen HOST:PORT`` the worker also receives 8x8's delivery receipts while it runs (a
``WebhookReceiver`` under uvicorn, registered with ``set_webhook``), records each in the journal
(``Journal.receipt_handler``), and after the job waits up to ``--receipts-wait`` seconds for the
rest, then prints the delivery counts. It needs ``EIGHTXEIGHT_ACCOUNT_ID`` and
``WORKER_WEBHOOK_AUTHORIZATION`` (the ``Authorization`` value 8x8 is to send), and
``WORKER_WEBHOOK_URL`` when 8x8 reaches the worker at another address than ``http://HOST:PORT/``.

The CSV has a ``destination`` column and, optionally, ``text`` (else ``--text``); it is read as
UTF-8 (a byte-order mark is skipped) unless ``--encoding`` says otherwise. Ctrl-C stops taking
jobs: the requests in flight finish, the summary and the command that resumes are printed (exit
130; Ctrl-C again abandons the requests in flight, their rows UNKNOWN). Exit status: 0 when every
row has a final state, 1 when some are UNKNOWN (run the worker again with ``--reconcile``), 2 for
a configuration or input error, 3 when the whole job stopped on an error (8x8 unreachable, a 5xx
after the retries) leaving no row UNKNOWN: the same command sends the rest. No message text or
full number is printed.

The journal is ``--journal`` (default ``queue-worker.journal`` in the current directory, with a
``queue-worker.journal-lock`` beside it while it is open): keep it until the job is finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import functools
import os
import shlex
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import uvicorn

from eightxeight_async import (
    AsyncSmsClient,
    AuthenticationError,
    EightXEightError,
    ValidationError,
    estimate_segments,
)
from eightxeight_async.bulk import (
    BulkResult,
    DeliverySummary,
    Journal,
    JournalError,
    RowState,
    reconcile,
)
from eightxeight_async.webhooks import WebhookReceiver

#: The variables the client needs; the others (base URL, CA bundle) have defaults.
REQUIRED = ("EIGHTXEIGHT_API_KEY", "EIGHTXEIGHT_SUBACCOUNT_ID")
#: How many jobs may wait in the queue: the producer waits when the worker falls behind.
QUEUE_SIZE = 5_000
#: How many rows that did not end ACCEPTED are shown one by one.
SHOWN = 5
#: The sandbox's test number that 8x8 REJECTS in its answer (see ``eightxeight sandbox``).
REJECTED_NUMBER = "+15550100003"
#: The sandbox's test number that is accepted and ends undelivered (error 15).
UNDELIVERED_NUMBER = "+15550100001"
#: The variables ``--listen`` needs besides the client's.
LISTEN_REQUIRED = ("EIGHTXEIGHT_ACCOUNT_ID", "WORKER_WEBHOOK_AUTHORIZATION")

Job = dict[str, str]
_END: Any = object()


class StartError(Exception):
    """The worker cannot start as configured; the message names the option or variable."""


def generated(count: int) -> Iterator[Job]:
    """``count`` jobs for the sandbox, whose outcomes are known in advance (made as needed).

    Every 100th row (99, 199, ...) is the test number 8x8 REJECTS; rows 125, 375, 625, ... hold
    a bad number (INVALID, never sent); rows 49, 149, 249, ... the test number that is ACCEPTED
    and ends undelivered; the rest are valid numbers, ACCEPTED and delivered.
    """
    for row in range(count):
        if row % 100 == 99:
            destination = REJECTED_NUMBER
        elif row % 100 == 49:
            destination = UNDELIVERED_NUMBER
        elif row % 250 == 125:
            destination = "not-a-number"
        else:
            destination = f"+6591{row % 1_000_000:06d}"
        yield {"destination": destination}


async def produce(queue: asyncio.Queue[Any], jobs: Any) -> None:
    """Put every job on the queue, then the end marker (waits whenever the queue is full)."""
    try:
        for job in jobs:
            await queue.put(job)
    except Exception:
        await queue.put(_END)  # the rows so far are sent; the worker reports the error
        raise
    await queue.put(_END)


def decoded_lines(file: BinaryIO, path: Path, encoding: str) -> Iterator[str]:
    """The file's lines decoded one by one, so that a bad byte is reported with its line."""
    shown = "UTF-8" if encoding == "utf-8-sig" else encoding
    for number, raw in enumerate(file, start=1):
        try:
            # utf-8-sig skips a byte-order mark (Excel writes one); on later lines it is utf-8.
            yield raw.decode(encoding)
        except UnicodeDecodeError:
            msg = (
                f"{path} line {number}: bytes that are not {shown}; give the file's encoding"
                " with --encoding (e.g. --encoding cp1252 or latin-1)."
            )
            raise ValueError(msg) from None


def csv_jobs(path: Path, encoding: str = "utf-8-sig") -> Any:
    """The CSV's rows as jobs, read lazily (a file of millions of rows never sits in memory)."""
    with path.open("rb") as file:
        reader = csv.DictReader(decoded_lines(file, path, encoding))
        if reader.fieldnames is None or "destination" not in reader.fieldnames:
            msg = f"{path} has no 'destination' column in its header line."
            raise ValueError(msg)
        for line in reader:
            job = {"destination": line["destination"] or ""}
            if line.get("text"):
                job["text"] = line["text"]
            yield job


async def drain(
    queue: asyncio.Queue[Any], default_text: str, too_long: list[int]
) -> AsyncIterator[Job]:
    """The queue as an async iterable, ending at the end marker: what ``send_many`` reads.

    Rows whose text needs more than 10 SMS parts (8x8 cuts the rest) are noted in ``too_long``.
    """
    row = 0
    while True:
        job = await queue.get()
        queue.task_done()
        if job is _END:
            return
        if truncated(job.get("text") or default_text):
            too_long.append(row)
        row += 1
        yield job


@functools.lru_cache(maxsize=256)
def truncated(text: str) -> bool:
    """Whether 8x8 would cut ``text`` (over 10 parts); cached: most rows share a few texts."""
    return estimate_segments(text).truncated


def configuration_problems(environ: Mapping[str, str]) -> list[str]:
    """What is missing from the environment, as sentences (empty when nothing is)."""
    return [
        f"{name} is not set (eightxeight sandbox prints it; for 8x8, see your account)."
        for name in REQUIRED
        if not environ.get(name)
    ]


async def run(args: argparse.Namespace) -> int:
    """Send the jobs (receiving receipts with ``--listen``); print a summary; the exit status."""
    if args.reconcile:
        return await reconcile_job(args)
    if args.csv is not None:
        jobs: Any = csv_jobs(args.csv, args.encoding)
        where = f"CSV {args.csv}"
    else:
        jobs = generated(args.generate)
        where = f"a generator of {args.generate:,} jobs"
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)
    counts: Counter[RowState] = Counter()
    notable: list[BulkResult] = []
    too_long: list[int] = []
    resumed = 0
    interrupted = sending = wait_ended = False
    stopped: EightXEightError | None = None
    unknown_left = 0
    started = time.monotonic()
    with Journal(args.journal) as journal:
        async with AsyncSmsClient() as client, receiving(args, client, journal) as receiver:
            producer = asyncio.create_task(produce(queue, jobs))
            job = client.send_many(
                drain(queue, args.text, too_long),
                template={"text": args.text},
                job_id=args.job_id,
                journal=journal,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
            )
            print(f"queue worker: job {job.job_id}, jobs from {where}")
            main_task = asyncio.current_task()
            assert main_task is not None

            def on_interrupt() -> None:
                nonlocal interrupted, wait_ended
                if sending and interrupted:  # the second Ctrl-C: abandon the requests in flight
                    main_task.cancel()
                elif sending:
                    interrupted = True
                    print("Stopping after the requests in flight (Ctrl-C again: stop now).")
                    job.stop()
                else:  # while waiting for receipts: the summary now
                    wait_ended = True

            # Ctrl-C is handled here until asyncio.run closes the loop (the receiver's uvicorn
            # leaves it alone): a second one just after the job must not end in a traceback.
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
            sending = True
            try:
                async with job:
                    async for result in job:
                        counts[result.state] += 1
                        resumed += result.resumed
                        if result.state is not RowState.ACCEPTED:
                            # The first rows by position: chunks finish in any order.
                            notable = sorted([*notable, result], key=lambda r: r.row)[:SHOWN]
            except asyncio.CancelledError:
                if not interrupted:
                    raise
                # The second Ctrl-C: `async with job` recorded the abandoned rows UNKNOWN.
                if sys.version_info >= (3, 11):
                    main_task.uncancel()
            except (AuthenticationError, ValidationError):
                raise  # a setting: main() says so (exit 2)
            except EightXEightError as exc:  # 8x8 unreachable, a 5xx after the retries, ...
                stopped = exc
                unknown_left = journal.summary(job.job_id)[RowState.UNKNOWN]
            finally:
                sending = False
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
            producer_error = None if producer.cancelled() else producer.exception()
            elapsed = time.monotonic() - started
            deliveries = None
            if receiver is not None and not interrupted and stopped is None:
                deliveries = await receipts_awaited(
                    journal, job.job_id, args.receipts_wait, lambda: wait_ended
                )
                await receiver.drain()
    if stopped is not None:
        return job_stopped(args, job.job_id, stopped, unknown_left)
    if producer_error is not None:  # the CSV broke off: the rows read so far stand
        print(f"The input stopped early: {producer_error}", file=sys.stderr)
    total = sum(counts.values())
    for result in notable:
        print(f"  row {result.row}: {result.state.value}: {result.reason} ({result.destination})")
    for state in RowState:
        print(f"{state.value:<12}{counts[state]:>8,}")
    print(f"{'total':<12}{total:>8,}")
    if resumed:
        print(f"{resumed:,} row(s) stood in the journal from an earlier run: not sent again")
    rate = f", {total / elapsed:,.0f} rows/s" if elapsed > 0 else ""
    print(f"sent in {elapsed:.1f} s{rate}; journal {args.journal}")
    if too_long:
        rows = ", ".join(str(row) for row in too_long[:SHOWN])
        print(
            f"{len(too_long):,} row(s) have a text over 10 SMS parts, which 8x8 cuts (row {rows}"
            f"{', ...' if len(too_long) > SHOWN else ''})"
        )
    if deliveries is not None:
        print("delivery receipts recorded in the journal:")
        for name in ("delivered", "undelivered", "rejected", "awaiting"):
            print(f"{name:<12}{getattr(deliveries, name):>8,}")
    if counts[RowState.UNKNOWN]:
        print(
            f"{counts[RowState.UNKNOWN]:,} row(s) have an unknown outcome; look them up in"
            f" 8x8's log: {command(args, job.job_id, '--reconcile')}",
            file=sys.stderr,
        )
    if interrupted:
        print(f"Interrupted. To send the rest: {command(args, job.job_id)}", file=sys.stderr)
        return 130  # as a shell reports Ctrl-C
    if counts[RowState.UNKNOWN]:
        return 1
    return 2 if producer_error is not None else 0


def job_stopped(args: argparse.Namespace, job_id: str, error: Exception, unknown: int) -> int:
    """Say why the whole job stopped and what to run next; the exit status (1 or 3)."""
    print(f"queue worker stopped: {error}", file=sys.stderr)
    if unknown:
        print(
            f"{unknown:,} row(s) have an unknown outcome; look them up in 8x8's log:"
            f" {command(args, job_id, '--reconcile')}",
            file=sys.stderr,
        )
        return 1
    # Every row stands in the journal as sent or not sent: the same command sends the rest.
    print(
        f"No row has an unknown outcome. To send the rest: {command(args, job_id)}", file=sys.stderr
    )
    return 3


def command(args: argparse.Namespace, job_id: str, *extra: str) -> str:
    """The worker's command line again, for ``job_id`` (to resume or reconcile it)."""
    argv = [a for a in sys.argv[1:] if a != "--reconcile"]
    if args.job_id is None:
        argv += ["--job-id", job_id]
    return shlex.join(["python", sys.argv[0], *argv, *extra])


async def reconcile_job(args: argparse.Namespace) -> int:
    """``--reconcile``: look the job's UNKNOWN rows up in 8x8's log; the exit status."""
    async with AsyncSmsClient() as client:
        report = await reconcile(client, args.journal, args.job_id)
    print(
        f"job {report.job_id}: {report.checked:,} unknown row(s) checked, {report.accepted:,}"
        f" accepted, {report.rejected:,} rejected, {report.still_unknown:,} still unknown"
    )
    return 1 if report.still_unknown else 0


@contextlib.asynccontextmanager
async def receiving(
    args: argparse.Namespace, client: AsyncSmsClient, journal: Journal
) -> AsyncIterator[WebhookReceiver | None]:
    """With ``--listen``: serve a receiver that records receipts in ``journal``; else nothing."""
    if args.listen is None:
        yield None
        return
    host, _, port = args.listen.rpartition(":")
    authorization = os.environ["WORKER_WEBHOOK_AUTHORIZATION"]
    receiver = WebhookReceiver(journal.receipt_handler(), authorization=authorization)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.bind((host.strip("[]"), int(port)))
    except OSError as exc:  # in use, not this machine's address, no such host
        sock.close()
        msg = f"--listen {args.listen}: cannot listen there ({exc.strerror or exc})."
        raise StartError(msg) from None
    server = QuietServer(uvicorn.Config(receiver, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # uvicorn.Server reports its start with a flag, not an event.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if serving.done():
            msg = f"--listen {args.listen}: the receiver did not start."
            raise StartError(msg)
        bound = sock.getsockname()[1]
        url = os.environ.get("WORKER_WEBHOOK_URL") or f"http://{host}:{bound}/"
        await client.set_webhook(url=url, http_authorization=authorization)
        print(f"receiving delivery receipts at {url}")
        yield receiver
    finally:
        server.should_exit = True
        await serving
        sock.close()


class QuietServer(uvicorn.Server):
    """uvicorn without its own Ctrl-C handling: the worker's stops the job first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signal handlers alone."""
        yield


async def receipts_awaited(
    journal: Journal, job_id: str, limit: float, stopped: Callable[[], bool]
) -> DeliverySummary:
    """The job's delivery counts when no accepted row awaits a receipt, or at the end of the wait.

    The wait ends after ``limit`` seconds, or once ``stopped()`` (Ctrl-C).
    """
    deadline = time.monotonic() + limit
    while True:
        deliveries = journal.delivery_summary(job_id)
        if deliveries.awaiting == 0 or time.monotonic() >= deadline or stopped():
            return deliveries
        await asyncio.sleep(0.2)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = cli.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="a CSV with a destination column")
    source.add_argument("--generate", type=int, metavar="N", help="N jobs for the sandbox")
    cli.add_argument("--job-id", help="the job's id; give it again to resume (else a new one)")
    cli.add_argument(
        "--journal",
        default="queue-worker.journal",
        help=(
            "the journal file (default: queue-worker.journal in the current directory, with"
            " its queue-worker.journal-lock beside it)"
        ),
    )
    cli.add_argument("--text", default="Your parcel is on its way.", help="the default text")
    cli.add_argument("--chunk-size", type=int, default=500, help="messages per batch request")
    cli.add_argument("--concurrency", type=int, default=4, help="batch requests in flight")
    cli.add_argument("--encoding", default="utf-8-sig", help="the CSV's encoding (UTF-8)")
    cli.add_argument("--listen", metavar="HOST:PORT", help="receive delivery receipts there")
    cli.add_argument(
        "--reconcile", action="store_true", help="look the job's unknown rows up in 8x8's log"
    )
    cli.add_argument(
        "--receipts-wait", type=float, default=30.0, help="seconds to wait for receipts at the end"
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, check the environment, run; the exit status."""
    args = parser().parse_args(argv)
    problems = configuration_problems(os.environ)
    if args.generate is not None and args.generate < 0:
        problems.append("--generate must be 0 or more.")
    if not 0 <= args.receipts_wait <= 86_400:  # also refuses nan
        problems.append("--receipts-wait must be 0 to 86400 seconds.")
    if args.csv is not None and not args.csv.is_file():
        problems.append(f"--csv {args.csv} is not a file.")
    try:
        "".encode(args.encoding)
    except LookupError:
        problems.append(f"--encoding {args.encoding} is not an encoding Python knows.")
    if args.reconcile and (args.job_id is None or not Path(args.journal).is_file()):
        problems.append("--reconcile needs --job-id and the --journal of that job.")
    if args.listen is not None:
        problems += [
            f"{name} is not set: --listen registers a webhook that sends it."
            for name in LISTEN_REQUIRED
            if not os.environ.get(name)
        ]
        host, _, port = args.listen.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            problems.append("--listen must be HOST:PORT, e.g. 127.0.0.1:8001 (0: any free port).")
        authorization = os.environ.get("WORKER_WEBHOOK_AUTHORIZATION", "")
        if not (authorization.isascii() and authorization.isprintable()):
            problems.append("WORKER_WEBHOOK_AUTHORIZATION must be printable ASCII.")
        elif authorization != authorization.strip():
            # Servers strip a header value's ends: such a value could never match (and a blank
            # one would match an empty header): the receiver refuses both.
            problems.append("WORKER_WEBHOOK_AUTHORIZATION must not start or end with a space.")
        url = os.environ.get("WORKER_WEBHOOK_URL", "")
        if url and not url.startswith(("https://", "http://")):
            problems.append("WORKER_WEBHOOK_URL must be an http(s) URL.")
    if problems:
        print("queue worker cannot start:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except (ValidationError, StartError) as exc:  # a setting broke a rule; names no secret
        print(f"queue worker cannot start: {exc}", file=sys.stderr)
        return 2
    except AuthenticationError:
        print(
            "queue worker cannot start: 8x8 refused EIGHTXEIGHT_API_KEY (401); check the key"
            " and EIGHTXEIGHT_SUBACCOUNT_ID.",
            file=sys.stderr,
        )
        return 2
    except JournalError as exc:
        print(f"queue worker: the journal cannot be used: {exc}", file=sys.stderr)
        return 2
    except EightXEightError as exc:  # before the job sent anything (e.g. set_webhook failed)
        print(f"queue worker stopped: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
