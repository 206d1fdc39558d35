"""The benchmark's figures: the summary of the runs and the Markdown table, from what was measured.

Pure functions, without nginx, matplotlib or trustme, so that tests/test_benchmark_report.py can
check them. A partial run (some kinds, some concurrencies, failed cells) reports only the cells it
measured: a ratio is printed only when both of its sides were measured, and says what it compares.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

KINDS = ["httpx", "httpx-sdk-pool", "aiohttp", "httpx-aiohttp", "sdk", "sdk-aiohttp"]
LABELS = {
    "httpx": "raw httpx (default pool)",
    "httpx-sdk-pool": "raw httpx (SDK's pool limits)",
    "aiohttp": "raw aiohttp",
    "httpx-aiohttp": "raw httpx on httpx-aiohttp",
    "sdk": "send_sms, default transport",
    "sdk-aiohttp": 'send_sms, transport="aiohttp"',
}
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "peak_rss_mb", "new_connections")
# The SDK's own layer: each SDK kind over raw httpx on the same transport and pool limits.
LAYER_PAIRS = (("sdk", "httpx-sdk-pool"), ("sdk-aiohttp", "httpx-aiohttp"))
NOT_MEASURED = "—"

Row = Mapping[str, Any]
Table = dict[str, dict[str, Any]]


def cell_key(kind: str, concurrency: int) -> str:
    return f"{kind}@{concurrency}"


def summarise(rows: Iterable[Row]) -> Table:
    """Median, min and max of every metric per (kind, concurrency); failed runs are left out."""
    grouped: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        if "error" not in row:
            grouped.setdefault((row["kind"], row["concurrency"]), []).append(row)
    table: Table = {}
    for kind in KINDS:
        for concurrency in sorted(c for k, c in grouped if k == kind):
            runs = grouped[(kind, concurrency)]
            cell: dict[str, Any] = {
                metric: {
                    "median": statistics.median(r[metric] for r in runs),
                    "min": min(r[metric] for r in runs),
                    "max": max(r[metric] for r in runs),
                }
                for metric in METRICS
            }
            cell["runs"] = len(runs)
            table[cell_key(kind, concurrency)] = cell
    return table


def measured(table: Table) -> tuple[list[str], list[int]]:
    """The kinds (in KINDS order) and the concurrencies (ascending) that have a cell."""
    pairs = [key.rsplit("@", 1) for key in table]
    kinds = [kind for kind in KINDS if any(k == kind for k, _ in pairs)]
    return kinds, sorted({int(c) for _, c in pairs})


def ratio(table: Table, kind: str, base: str, concurrency: int, metric: str) -> float | None:
    """Median ``metric`` of ``kind`` over that of ``base`` at one concurrency, or None."""
    top, bottom = table.get(cell_key(kind, concurrency)), table.get(cell_key(base, concurrency))
    if top is None or bottom is None or not bottom[metric]["median"]:
        return None
    return float(top[metric]["median"] / bottom[metric]["median"])


def times(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.2f}x"


def markdown(table: Table, meta: Mapping[str, Any], failures: Sequence[Row] = ()) -> str:
    """The results page: header, table, concurrency growth, the SDK's own layer, failed cells."""
    kinds, concurrencies = measured(table)
    # A ratio column exists only for a baseline this run measured; a cell without its baseline at
    # the same concurrency shows NOT_MEASURED.
    baselines = [kind for kind in ("httpx", "aiohttp") if kind in kinds]
    columns = [(base, "cpu_us_per_req", f"CPU ÷ {LABELS[base]}") for base in baselines]
    if "httpx" in baselines:
        columns.append(("httpx", "rps", f"req/s ÷ {LABELS['httpx']}"))
    lines = [
        "# Benchmark results",
        "",
        f"{meta['when']}, {meta['machine']}; {meta['runs']} interleaved "
        f"run{'' if meta['runs'] == 1 else 's'} of "
        f"{meta['requests']} requests per cell after warm-up; nginx 1 worker, TLS 1.3, "
        "keep-alive. Median (min) of the runs. CPU is the client process's user+system time per "
        "request; a ratio divides this row's median by the named client's median at the same "
        "concurrency.",
        "",
    ]
    if not table:
        lines.append("No cell was measured.")
    else:
        header = ["client", "in flight", "runs", "req/s", "p50 ms", "p99 ms", "CPU µs/req"]
        header += [title for _, _, title in columns] + ["peak RSS MB", "new conns"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---|" + "---:|" * (len(header) - 1))
        missing_base = False
        for kind in kinds:
            for c in concurrencies:
                cell = table.get(cell_key(kind, c))
                if cell is None:
                    continue
                ratios = [ratio(table, kind, base, c, metric) for base, metric, _ in columns]
                missing_base = missing_base or None in ratios
                values = [
                    LABELS[kind],
                    str(c),
                    str(cell["runs"]),
                    f"{cell['rps']['median']:.0f} ({cell['rps']['min']:.0f})",
                    f"{cell['p50_ms']['median']:.2f}",
                    f"{cell['p99_ms']['median']:.2f}",
                    f"{cell['cpu_us_per_req']['median']:.0f} ({cell['cpu_us_per_req']['min']:.0f})",
                    *(times(r) for r in ratios),
                    f"{cell['peak_rss_mb']['median']:.0f}",
                    f"{cell['new_connections']['median']:.0f}",
                ]
                lines.append("| " + " | ".join(values) + " |")
        if missing_base:
            lines += [
                "",
                f"{NOT_MEASURED}: the client divided by was not measured at that concurrency.",
            ]
    if len(concurrencies) >= 2:
        low, high = concurrencies[0], concurrencies[-1]
        growth = [
            f"- {LABELS[kind]}: {times(ratio_across(table, kind, low, high))}"
            for kind in kinds
            if ratio_across(table, kind, low, high) is not None
        ]
        if growth:
            lines += ["", f"## CPU per request, {high} in flight over {low} in flight", "", *growth]
    layer = []
    for sdk, raw in LAYER_PAIRS:
        parts = []
        for c in concurrencies:
            value = ratio(table, sdk, raw, c, "cpu_us_per_req")
            if value is not None:
                parts.append(f"{c} in flight: {value - 1:+.0%}")
        if parts:
            layer.append(f"- {LABELS[sdk]} over {LABELS[raw]}: " + ", ".join(parts))
    if layer:
        lines += [
            "",
            "## The SDK's own layer (CPU per request over raw httpx on the same transport and "
            "pool)",
            "",
            *layer,
        ]
    if failures:
        lines += ["", "## Failed cells (left out of the figures above)", ""]
        for row in failures:
            lines.append(
                f"- {LABELS.get(row['kind'], row['kind'])} at {row['concurrency']} in flight, "
                f"round {row['round'] + 1}: {row['error']}"
            )
    return "\n".join(lines) + "\n"


def ratio_across(table: Table, kind: str, low: int, high: int) -> float | None:
    """Median CPU per request of ``kind`` at ``high`` in flight over that at ``low``, or None."""
    a, b = table.get(cell_key(kind, high)), table.get(cell_key(kind, low))
    if a is None or b is None or not b["cpu_us_per_req"]["median"]:
        return None
    return float(a["cpu_us_per_req"]["median"] / b["cpu_us_per_req"]["median"])
