"""Benchmark bulk sending (`eightxeight bulk FILE.csv`, `send_many`) against the sandbox and a fake.

Usage: python benchmarks/bulk.py [--rows 100000] [--big-rows 1000000] [--servers sandbox,fake]
                                 [--skip-big-sandbox] [--out DIR] [--save]

In one run, each client in its own process (so that its CPU time and peak RSS are its own, read
with os.wait4), each server in its own process, started here and stopped by its PID:

- ``cli``: ``eightxeight --json bulk FILE.csv --journal J --job-id bench`` (a real subprocess of
  the command) over a CSV file of ``--rows`` rows (and ``--big-rows`` against the fake);
- ``send_many``: a small driver (``bulk.py driver``) sending ``--rows`` and ``--big-rows`` rows
  generated on the fly through ``client.send_many(..., journal=J)`` (and once without a journal);
- against ``sandbox`` (``eightxeight sandbox --json``, one Python process that validates, stores
  and schedules every message) and ``fake`` (benchmarks/bulk_fake.py: HTTP/1.1 over TLS 1.3 on
  127.0.0.1 with a trustme certificate, answering every message QUEUED with a umid, keeping
  nothing). Both get the same rows.
- ``components``: the client's CPU per row split into its parts, in one process with the parts
  run alone (``bulk.py components``): reading the CSV file, validation, building and encoding
  the batch requests, parsing the answers, the journal's two transactions per chunk.

Figures per run: rows/s end to end (process start to exit) and within the job, client CPU µs per
row (user + system of the whole client process, its journal thread included), peak RSS of the
client (ru_maxrss), journal bytes per row, and the server's CPU over the same run (from
/proc/PID/stat: Linux). The load average is noted before and after each run. Writes
results.json and results.md to benchmarks/runs/bulk-<UTC time>/ (or --out DIR); --save also
copies them to benchmarks/results/bulk.json and bulk.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"
RUNS = HERE / "runs"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
JOB_ID = "bench"
TEXT = (
    "Hello {name}, your order {order:07d} has shipped and arrives tomorrow. Reply STOP to opt out."
)
NAMES = ("Ana", "Budi", "Chen", "Dewi", "Eko", "Farah", "Gita", "Hadi")


# --- the rows ------------------------------------------------------------------------------------


def row(i: int) -> tuple[str, str]:
    """Row ``i`` of every run: a Singapore mobile number and a one-part GSM-7 text (~90 chars)."""
    return f"+65{80000000 + i}", TEXT.format(name=NAMES[i % len(NAMES)], order=i)


def rows(n: int) -> Iterator[dict[str, str]]:
    """The first ``n`` rows as ``send_many`` takes them, generated on the fly."""
    for i in range(n):
        destination, text = row(i)
        yield {"destination": destination, "text": text}


def write_csv(path: Path, n: int) -> None:
    """The first ``n`` rows as a CSV file (header ``destination,text``)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("destination,text\n")
        for i in range(n):
            destination, text = row(i)
            out.write(f'{destination},"{text}"\n')


# --- processes -----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


class Sampler:
    """Samples the RSS of some processes every 0.25 s on a thread, while a run lasts."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak: dict[str, float] = {}
        self.series: dict[str, list[float]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            for name, pid in self.pids.items():
                value = rss_mib(pid)
                if value is not None:
                    self.series[name].append(round(value, 1))
                    self.peak[name] = max(self.peak.get(name, 0.0), value)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server this script started, by its PID: SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def sandbox() -> Iterator[tuple[int, dict[str, str]]]:
    """A fresh sandbox in its own process: (its PID, the client's EIGHTXEIGHT_* variables)."""
    command = [sys.executable, "-m", "eightxeight_async", "sandbox", "--json"]
    # A large balance: the default 100 EUR would run out after ~14,000 messages (the sandbox
    # goes on sending, but the benchmark should not depend on that).
    command += ["--start-balance", "1000000000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        document = json.loads(process.stdout.readline())
        env = {k: str(v) for k, v in document.items() if k.startswith("EIGHTXEIGHT_")}
        yield process.pid, env
    finally:
        stop(process)


@contextmanager
def fake(tmp: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """The fast fake (bulk_fake.py) in its own process, over TLS 1.3 with a trustme CA."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp / "fake.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "fake.pem"))
    ca.cert_pem.write_to_path(str(tmp / "fake-ca.pem"))
    process = subprocess.Popen(
        [sys.executable, str(HERE / "bulk_fake.py"), str(tmp / "fake.pem"), str(tmp / "fake.key")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        yield (
            process.pid,
            {
                "EIGHTXEIGHT_BASE_URL": f"https://127.0.0.1:{port}",
                "EIGHTXEIGHT_API_KEY": "bench-key",
                "EIGHTXEIGHT_SUBACCOUNT_ID": "bench_hq",
                "EIGHTXEIGHT_CA_BUNDLE": str(tmp / "fake-ca.pem"),
            },
        )
    finally:
        stop(process)


def journal_bytes(path: Path) -> int:
    return sum(
        p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def thin(values: list[float], keep: int = 40) -> list[float]:
    """At most about ``keep`` of the values, evenly spaced, the last one included."""
    step = max(1, len(values) // keep)
    return values[::step] + ([values[-1]] if values and (len(values) - 1) % step else [])


def measure(
    command: list[str], env: dict[str, str], server_pid: int, tmp: Path, timeout: float
) -> dict[str, Any]:
    """Run one client process to its end: wall time, its own rusage, the server's CPU."""
    load_before = os.getloadavg()[0]
    server_cpu = cpu_seconds(server_pid)
    out, err = tmp / "client.out", tmp / "client.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=stdout, stderr=stderr)
        with Sampler({"client": process.pid, "server": server_pid}) as sampler:
            timer = threading.Timer(timeout, process.kill)  # bounded: this PID only
            timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                timer.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    return {
        "exit": process.returncode,
        "wall_s": round(wall, 3),
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "client_user_s": round(usage.ru_utime, 3),
        "client_sys_s": round(usage.ru_stime, 3),
        "client_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "server_cpu_s": round(cpu_seconds(server_pid) - server_cpu, 3),
        "server_peak_rss_mib": round(sampler.peak.get("server", 0.0), 1),
        "client_rss_samples_mib": thin(sampler.series["client"]),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "stdout": out.read_text(errors="replace"),
        "stderr_tail": err.read_text(errors="replace")[-1500:],
    }


# --- the runs ------------------------------------------------------------------------------------


def run_cli(
    server: str, n: int, csv: Path, pid: int, env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    journal = tmp / f"cli-{server}-{n}.journal"
    command = [sys.executable, "-m", "eightxeight_async", "--json", "bulk", str(csv)]
    command += ["--journal", str(journal), "--job-id", JOB_ID]
    result = measure(command, env, pid, tmp, timeout=1800)
    summary: dict[str, Any] = {}
    with suppress(ValueError):
        summary = json.loads(result.pop("stdout"))
    accepted = int(summary.get("accepted", 0))
    result.update(
        client="cli",
        server=server,
        rows=n,
        accepted=accepted,
        job_rows_per_s=summary.get("rows_per_second"),
        journal_bytes=journal_bytes(journal),
    )
    return finish(result)


def run_driver(
    server: str, n: int, pid: int, env: dict[str, str], tmp: Path, *, with_journal: bool = True
) -> dict[str, Any]:
    journal = tmp / f"driver-{server}-{n}.journal"
    command = [sys.executable, str(Path(__file__).resolve()), "driver", str(n)]
    if with_journal:
        command += ["--journal", str(journal)]
    result = measure(command, env, pid, tmp, timeout=3600)
    summary: dict[str, Any] = {}
    with suppress(ValueError):
        summary = json.loads(result.pop("stdout"))
    result.update(
        client="send_many" if with_journal else "send_many, no journal",
        server=server,
        rows=n,
        accepted=int(summary.get("accepted", 0)),
        job_rows_per_s=summary.get("rows_per_s"),
        rss_by_rows_mib=summary.get("rss_by_rows_mib"),
        cpu_s_by_rows=summary.get("cpu_s_by_rows"),
        journal_bytes=journal_bytes(journal) if with_journal else None,
    )
    return finish(result)


def finish(result: dict[str, Any]) -> dict[str, Any]:
    n = result["rows"]
    result["rows_per_s"] = round(n / result["wall_s"])
    result["client_cpu_us_per_row"] = round(result["client_cpu_s"] / n * 1e6, 1)
    result["server_cpu_us_per_row"] = round(result["server_cpu_s"] / n * 1e6, 1)
    if result.get("journal_bytes") is not None:
        result["journal_bytes_per_row"] = round(result["journal_bytes"] / n, 1)
    result["ok"] = result["exit"] == 0 and result["accepted"] == n
    if not result["ok"]:
        print(f"  FAILED: exit {result['exit']}: {result['stderr_tail'][-600:]}", flush=True)
    print(
        f"  {result['client']:>22} {result['server']:>7} {n:>9,} rows: "
        f"{result['rows_per_s']:>7,} rows/s, client {result['client_cpu_us_per_row']:6.1f} µs/row, "
        f"server {result['server_cpu_us_per_row']:6.1f} µs/row, "
        f"peak RSS {result['client_peak_rss_mib']:6.1f} MiB, load {result['load_before']}",
        flush=True,
    )
    return result


def run_components(n: int, tmp: Path) -> dict[str, Any]:
    csv = tmp / f"rows-{n}.csv"
    command = [sys.executable, str(Path(__file__).resolve()), "components", str(n), str(csv)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        print(f"  components FAILED: {done.stderr[-800:]}", flush=True)
        return {"error": done.stderr[-800:]}
    parts: dict[str, Any] = json.loads(done.stdout)
    for name, value in parts.items():
        print(f"  component {name:>28}: {value:6.1f} µs/row", flush=True)
    return parts


# --- inside the client processes -----------------------------------------------------------------


def _thread_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's threads, by name (the journal's has its own)."""
    found: dict[str, float] = {}
    names = {t.native_id: t.name.split("_")[0] for t in threading.enumerate()}
    for task in Path("/proc/self/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = names.get(int(task.name)) or text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[name] = round(found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS, 2)
    return found


def _rss_now() -> float:
    return round(int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20, 1)


async def _drive(n: int, journal: str | None) -> dict[str, Any]:
    from eightxeight_async import AsyncSmsClient
    from eightxeight_async.bulk import RowState

    env = os.environ
    client = AsyncSmsClient(
        api_key=env["EIGHTXEIGHT_API_KEY"],
        subaccount_id=env["EIGHTXEIGHT_SUBACCOUNT_ID"],
        base_url=env["EIGHTXEIGHT_BASE_URL"],
        verify=env["EIGHTXEIGHT_CA_BUNDLE"],
    )
    counts: dict[str, int] = {}
    rss: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}
    step = max(n // 10, 1)
    done = 0
    started = time.perf_counter()
    async with client:
        run = client.send_many(rows(n), job_id=JOB_ID, journal=journal)
        async with run:
            async for result in run:
                counts[result.state.value] = counts.get(result.state.value, 0) + 1
                done += 1
                if done % step == 0:
                    rss[str(done)] = _rss_now()
                    cpu[str(done)] = _thread_cpu()
    elapsed = time.perf_counter() - started
    return {
        "rows": n,
        "accepted": counts.get(RowState.ACCEPTED.value, 0),
        "counts": counts,
        "rows_per_s": round(n / elapsed),
        "rss_by_rows_mib": rss,
        "cpu_s_by_rows": cpu,
    }


def driver(n: int, journal: str | None) -> None:
    print(json.dumps(asyncio.run(_drive(n, journal))))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: the journal's too
    return usage.ru_utime + usage.ru_stime


def components(n: int, csv: str) -> None:
    """Client CPU per row of each part of a job, each part run alone, 10,000 rows at a time."""
    from eightxeight_async._cli_bulk_csv import GoodRow, RowReader
    from eightxeight_async.bulk._rows import prepare

    spent: dict[str, float] = {}
    salt = os.urandom(16)
    # The rows as the command gets them: CSV lines read into checked BatchMessages, then
    # prepared (their client_message_id set, hashed).
    with open(csv, "rb") as binary:
        reader = RowReader(
            binary, path=csv, encoding="utf-8", delimiter=None, template=None, source=None,
            country=None,
        )  # fmt: skip
        reader.open()
        read = iter(reader)
        row_no = 0
        while True:
            start = _cpu()
            lines = list(itertools.islice(read, 10_000))
            _add(spent, "cli: read CSV into messages", start)
            if not lines:
                break
            start = _cpu()
            for item in lines:
                assert isinstance(item, GoodRow)
                prepare(row_no, item.message, job_id=JOB_ID, template=None, salt=salt)
                row_no += 1
            _add(spent, "cli: prepare the messages", start)
    assert row_no == n, row_no
    asyncio.run(_components(n, spent, salt))
    print(json.dumps({name: round(seconds / n * 1e6, 2) for name, seconds in spent.items()}))


def _add(spent: dict[str, float], name: str, started: float) -> None:
    spent[name] = spent.get(name, 0.0) + _cpu() - started


async def _components(n: int, spent: dict[str, float], salt: bytes) -> None:
    import httpx

    from eightxeight_async._converters import encode_request, parse_response
    from eightxeight_async._models_batch import BatchRequest, BatchResponse, new_client_batch_id
    from eightxeight_async.bulk import BulkResult, RowState
    from eightxeight_async.bulk._job import _outcomes
    from eightxeight_async.bulk._journal import Journal
    from eightxeight_async.bulk._rows import prepare

    sys.path.insert(0, str(HERE))
    from bulk_fake import batch_answer

    def add(name: str, started: float) -> None:
        _add(spent, name, started)

    # The rows as send_many gets them from the driver: dicts, generated on the fly.
    generated = rows(n)
    row_no = 0
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(f"{folder}/components.journal")
        try:
            handle = await journal.open_job(JOB_ID, "bench_hq", b"")
            while True:
                start = _cpu()
                items = list(itertools.islice(generated, 10_000))
                add("generate rows (driver)", start)
                if not items:
                    break
                start = _cpu()
                chunk = [
                    prepare(row_no + i, item, job_id=JOB_ID, template=None, salt=salt)
                    for i, item in enumerate(items)
                ]
                row_no += len(chunk)
                add("validate and prepare", start)
                start = _cpu()
                request = BatchRequest(
                    messages=tuple(p.message for p in chunk),  # type: ignore[misc]
                    client_batch_id=new_client_batch_id(),
                    include_messages_in_response=True,
                )
                body = encode_request(request)
                add("build + encode the request", start)
                answer = httpx.Response(200, content=batch_answer(body))  # the server's work
                start = _cpu()
                await journal.before(handle.key, [(p.row, p.digest, None) for p in chunk], [])
                add("journal (2 transactions a chunk)", start)
                start = _cpu()
                outcomes = _outcomes(chunk, parse_response(answer, BatchResponse))
                add("parse the answer, match rows", start)
                start = _cpu()
                await journal.after(handle.key, outcomes)
                add("journal (2 transactions a chunk)", start)
                start = _cpu()
                results = [
                    BulkResult(
                        row=p.row,
                        client_message_id=p.client_message_id,
                        state=state,
                        umid=umid,
                        reason=reason,
                        destination=p.destination,
                    )
                    for p, (_, state, umid, reason) in zip(chunk, outcomes, strict=True)
                ]
                add("results (BulkResult)", start)
                assert all(r.state is RowState.ACCEPTED for r in results)
        finally:
            journal.close()
    assert row_no == n, row_no


# --- the report ----------------------------------------------------------------------------------


def markdown(meta: dict[str, Any], runs: list[dict[str, Any]], parts: dict[str, Any]) -> str:
    lines = [
        "# Bulk sending: `eightxeight bulk` and `send_many`",
        "",
        f"{meta['when']}; {meta['machine']}; load average {meta['load']}: other work was running.",
        "Each client and each server in its own process, on 127.0.0.1 over TLS 1.3; chunks of "
        "10,000, 4 in flight, a journal (SQLite, WAL, `synchronous=FULL`) unless said. "
        "**rows/s** is end to end (process start to exit: interpreter, imports, TLS handshakes "
        "and the journal file included); *in job* is the job's own rate (first row read to last "
        "result). **CPU** is user + system of the whole process (its journal thread included), "
        "÷ rows; *marginal* leaves out the fixed cost of a 1-row run of the same client. "
        "**server ÷ client** is the server's CPU over the client's for the same run; **busy** is "
        "a process's CPU seconds over the run's wall seconds (1.00 = one core all the time: "
        "a single-threaded Python process can do no more).",
        "",
        "| client | server | rows | rows/s | rows/s in job | client CPU µs/row | marginal "
        "µs/row | server CPU µs/row | server ÷ client | client busy | server busy | client peak "
        "RSS MiB | journal bytes/row | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fixed = [r for r in runs if r["rows"] == 1]
    for r in runs:
        if r["rows"] == 1:
            continue
        journal = r.get("journal_bytes_per_row")
        job = r.get("job_rows_per_s")
        marginal = r.get("client_marginal_cpu_us_per_row")
        ratio = r["server_cpu_s"] / r["client_cpu_s"] if r["client_cpu_s"] else 0.0
        mark = "" if r["ok"] else " (FAILED)"
        lines.append(
            f"| `{r['client']}`{mark} | {r['server']} | {r['rows']:,} | {r['rows_per_s']:,} | "
            f"{'—' if job is None else f'{job:,.0f}'} | {r['client_cpu_us_per_row']:.1f} | "
            f"{'—' if marginal is None else f'{marginal:.1f}'} | "
            f"{r['server_cpu_us_per_row']:.1f} | {ratio:.2f} | "
            f"{r['client_cpu_s'] / r['wall_s']:.2f} | {r['server_cpu_s'] / r['wall_s']:.2f} | "
            f"{r['client_peak_rss_mib']:.1f} | "
            f"{'—' if journal is None else f'{journal:.1f}'} | {r['load_before']} |"
        )
    if fixed:
        lines += [
            "",
            "Fixed cost of a client process (the least of three 1-row runs against the fake):",
            "",
        ]
        lines += [
            f"- `{r['client']}`: {r['wall_s']:.2f} s wall, {r['client_cpu_s']:.2f} s CPU, "
            f"peak RSS {r['client_peak_rss_mib']:.1f} MiB"
            for r in fixed
        ]
    for r in runs:
        steps = r.get("cpu_s_by_rows") or {}
        if len(steps) < 2:
            continue
        marks = sorted((int(k), sum(v.values())) for k, v in steps.items())
        per = [(b[1] - a[1]) / (b[0] - a[0]) * 1e6 for a, b in itertools.pairwise(marks)]
        journal_s = steps[str(marks[-1][0])].get("eightxeight-journal", 0.0)
        if not journal_s:
            continue
        line = (
            f"`{r['client']}` against {r['server']}, {r['rows']:,} rows: the journal's thread "
            f"used {journal_s / r['rows'] * 1e6:.1f} µs/row"
        )
        if r["rows"] >= meta["big_rows"]:  # a tenth of a small run is a chunk or two: noise
            line += "; the whole process's CPU µs/row in each tenth after the first: " + ", ".join(
                f"{x:.0f}" for x in per
            )
        lines += ["", line + "."]
    ratios = meta.get("rss_ratios", {})
    if ratios:
        lines += [
            "",
            "Client peak RSS of the big run ÷ the small run, same client and server "
            "(target ≤ 1.2):",
            "",
        ]
        lines += [f"- {name}: {value:.2f}" for name, value in ratios.items()]
    if parts and "error" not in parts:
        lines += [
            "",
            f"Client CPU per row by part ({meta['rows']:,} rows, each part run alone in one "
            "process, no network):",
            "",
            "| part | µs/row |",
            "|---|---:|",
        ]
        lines += [f"| {name} | {value:.1f} |" for name, value in parts.items()]
    return "\n".join(lines) + "\n"


def rss_ratios(runs: list[dict[str, Any]], small: int, big: int) -> dict[str, float]:
    found: dict[str, float] = {}
    by_key = {(r["client"], r["server"], r["rows"]): r for r in runs if r["ok"]}
    for (client, server, n), r in by_key.items():
        if n == big and n > small and (client, server, small) in by_key:
            base = by_key[(client, server, small)]["client_peak_rss_mib"]
            found[f"`{client}` against {server}, {big:,} vs {small:,} rows"] = round(
                r["client_peak_rss_mib"] / base, 3
            )
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the small runs")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the big runs")
    parser.add_argument("--servers", default="sandbox,fake", help="sandbox,fake")
    parser.add_argument(
        "--skip-big-sandbox",
        action="store_true",
        help="no --big-rows run against the sandbox (it holds every message in memory)",
    )
    parser.add_argument("--out", type=Path, help="folder for this run")
    parser.add_argument("--save", action="store_true", help="also write benchmarks/results/bulk.*")
    args = parser.parse_args(argv)
    args.servers = [s for s in ("sandbox", "fake") if s in args.servers.split(",")]
    if not args.servers or args.rows < 10_000 or args.big_rows < args.rows:
        parser.error("--servers takes sandbox,fake; --rows >= 10,000; --big-rows >= --rows")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "driver":
        journal = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--journal" else None
        driver(int(sys.argv[2]), journal)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "report":  # the markdown again, from a bulk.json
        saved = json.loads(Path(sys.argv[2]).read_text())
        print(markdown(saved["meta"], saved["runs"], saved["components"]), end="")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "components":
        components(int(sys.argv[2]), sys.argv[3])
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally blocks stop the servers
    args = parse_args()
    out: Path = args.out or RUNS / time.strftime("bulk-%Y%m%d-%H%M%S", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    small, big = args.rows, args.big_rows
    runs: list[dict[str, Any]] = []
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="eightxeight-bulk-bench-") as folder:
        tmp = Path(folder)
        for n in (1, small, big):
            write_csv(tmp / f"rows-{n}.csv", n)
        print(f"components, {small:,} rows", flush=True)
        parts = run_components(small, tmp)
        # The fixed cost of a client process (interpreter, imports, TLS handshakes, journal
        # file): a 1-row run of each, subtracted in the "marginal" CPU per row.
        # Three each, the least CPU kept: a first run may also compile changed modules.
        plan: list[tuple[str, str, int]] = [("cli", "fake", 1), ("send_many", "fake", 1)] * 3
        for server in args.servers:
            plan += [("cli", server, small), ("send_many", server, small)]
            if server == "fake":
                plan += [("send_many, no journal", server, small), ("cli", server, big)]
            if server == "fake" or not args.skip_big_sandbox:
                plan.append(("send_many", server, big))
        for client, server, n in plan:
            # A fresh server for every run: the sandbox's store and CPU are then this run's.
            start = sandbox() if server == "sandbox" else fake(tmp)
            with start as (pid, env):
                if client == "cli":
                    runs.append(run_cli(server, n, tmp / f"rows-{n}.csv", pid, env, tmp))
                else:
                    runs.append(
                        run_driver(server, n, pid, env, tmp, with_journal=client == "send_many")
                    )
            for leftover in tmp.glob("*.journal*"):
                leftover.unlink()
        best: dict[str, dict[str, Any]] = {}  # each client's 1-row run of least CPU
        for r in runs:
            if r["rows"] == 1 and r["client_cpu_s"] < best.get(r["client"], r)["client_cpu_s"]:
                best[r["client"]] = r
            elif r["rows"] == 1:
                best.setdefault(r["client"], r)
        runs = [r for r in runs if r["rows"] > 1] + list(best.values())
        for r in runs:
            same = best.get(r["client"].split(",")[0])  # "send_many, no journal": send_many's
            if r["rows"] > 1 and same is not None:
                marginal = (r["client_cpu_s"] - same["client_cpu_s"]) / r["rows"]
                r["client_marginal_cpu_us_per_row"] = round(marginal * 1e6, 1)
    load_end = os.getloadavg()
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load": f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end (1 min)",
        "rows": small,
        "big_rows": big,
        "rss_ratios": rss_ratios(runs, small, big),
    }
    (out / "bulk.json").write_text(
        json.dumps({"meta": meta, "components": parts, "runs": runs}, indent=1) + "\n"
    )
    (out / "bulk.md").write_text(markdown(meta, runs, parts))
    print((out / "bulk.md").read_text())
    print(f"Written to {out}/", flush=True)
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name in ("bulk.json", "bulk.md"):
            shutil.copyfile(out / name, RESULTS / name)
        print(f"Saved to {RESULTS}/bulk.*", flush=True)
    if not all(r["ok"] for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
