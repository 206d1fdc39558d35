"""benchmarks/report.py: a partial run reports what it measured; each ratio names its divisor.

Made-up figures, no benchmark run: these check the arithmetic and the labels only.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from benchmarks.report import KINDS, LABELS, NOT_MEASURED, markdown, summarise

META = {"when": "2026-11-27 06:00 UTC", "machine": "2 cores, Python 3.11.7", "runs": 2}


def row(
    kind: str, concurrency: int, cpu: float, rps: float = 1000.0, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "concurrency": concurrency,
        "requests": 200,
        "rps": rps,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "cpu_us_per_req": cpu,
        "peak_rss_mb": 40.0,
        "new_connections": concurrency + 1,
        "round": 0,
        **extra,
    }


def report(rows: list[dict[str, Any]], requests: int = 200) -> str:
    failures = [r for r in rows if "error" in r]
    return markdown(summarise(rows), {**META, "requests": requests}, failures)


def table_lines(text: str) -> list[list[str]]:
    return [
        [part.strip() for part in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| client")
    ]


def header(text: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith("| client")]
    return [part.strip() for part in line.strip("|").split("|")]


def assert_no_nan(text: str) -> None:
    assert "nan" not in text.lower()
    assert "inf" not in text.replace("in flight", "").lower()


def test_one_client_at_one_concurrency_writes_only_that_cell() -> None:
    text = report([row("sdk", 16, 900.0), row("sdk", 16, 1100.0, round=1)])
    assert_no_nan(text)
    (cells,) = table_lines(text)
    assert cells[:3] == [LABELS["sdk"], "16", "2"]
    assert cells[6] == "1000 (900)"  # median (min) of the two runs
    # Nothing to divide by: no ratio column, no growth across concurrencies, no layer section.
    assert not [title for title in header(text) if "÷" in title]
    assert "over 1 in flight" not in text
    assert "256" not in text
    assert "SDK's own layer" not in text


def test_ratio_columns_name_what_they_divide_by() -> None:
    rows = [
        row("httpx", 1, 1000.0, rps=1000.0),
        row("aiohttp", 1, 250.0),
        row("sdk", 1, 500.0, rps=2000.0),
    ]
    text = report(rows)
    assert_no_nan(text)
    titles = header(text)
    assert titles[7:10] == [
        f"CPU ÷ {LABELS['httpx']}",
        f"CPU ÷ {LABELS['aiohttp']}",
        f"req/s ÷ {LABELS['httpx']}",
    ]
    sdk = next(cells for cells in table_lines(text) if cells[0] == LABELS["sdk"])
    assert sdk[7:10] == ["0.50x", "2.00x", "2.00x"]


def test_a_ratio_without_its_baseline_at_that_concurrency_is_marked_not_measured() -> None:
    rows = [row("httpx", 1, 1000.0), row("sdk", 1, 800.0), row("sdk", 64, 880.0)]
    text = report(rows)
    assert_no_nan(text)
    sdk64 = next(c for c in table_lines(text) if c[0] == LABELS["sdk"] and c[1] == "64")
    assert sdk64[7] == NOT_MEASURED
    assert f"{NOT_MEASURED}: the client divided by was not measured" in text


def test_growth_heading_names_the_concurrencies_that_ran() -> None:
    rows = [row("sdk", 16, 1000.0), row("sdk", 64, 1210.0), row("httpx", 16, 1000.0)]
    text = report(rows)
    assert "## CPU per request, 64 in flight over 16 in flight" in text
    assert f"- {LABELS['sdk']}: 1.21x" in text
    # raw httpx ran at 16 only: it has no growth figure rather than a made-up one.
    growth = text.split("over 16 in flight")[1].split("##")[0]
    assert LABELS["httpx"] not in growth


def test_sdk_layer_lists_only_concurrencies_where_both_ran() -> None:
    rows = [
        row("sdk", 1, 960.0),
        row("httpx-sdk-pool", 1, 1000.0),
        row("sdk", 16, 900.0),
        row("sdk-aiohttp", 16, 500.0),
    ]
    text = report(rows)
    assert_no_nan(text)
    layer = text.split("## The SDK's own layer")[1]
    assert f"- {LABELS['sdk']} over {LABELS['httpx-sdk-pool']}: 1 in flight: -4%\n" in layer
    assert LABELS["sdk-aiohttp"] not in layer  # its raw counterpart never ran


def test_failed_cells_are_listed_and_left_out_of_the_figures() -> None:
    rows = [
        row("httpx", 16, 1000.0),
        {"kind": "sdk", "concurrency": 16, "round": 0, "error": "ConnectError: refused"},
        row("sdk", 16, 800.0, round=1),
    ]
    text = report(rows)
    assert_no_nan(text)
    sdk = next(c for c in table_lines(text) if c[0] == LABELS["sdk"])
    assert sdk[2] == "1"  # one run counted, the failed one is not
    assert sdk[7] == "0.80x"
    assert "## Failed cells" in text
    assert f"- {LABELS['sdk']} at 16 in flight, round 1: ConnectError: refused" in text


def test_every_cell_failed_still_writes_a_page() -> None:
    text = report([{"kind": "sdk", "concurrency": 1, "round": 0, "error": "boom"}])
    assert "No cell was measured." in text
    assert "round 1: boom" in text


def test_a_full_run_has_every_row_and_ratio() -> None:
    rows = [
        row(kind, c, cpu=100.0 * (i + 1) + c, rps=1000.0 - i)
        for i, kind in enumerate(KINDS)
        for c in (1, 16, 64, 256)
    ]
    text = report(rows, requests=2000)
    assert_no_nan(text)
    assert "runs of 2000 requests per cell" in text
    lines = table_lines(text)
    assert len(lines) == len(KINDS) * 4
    assert all(NOT_MEASURED not in cells for cells in lines)
    httpx1 = next(c for c in lines if c[0] == LABELS["httpx"] and c[1] == "1")
    assert httpx1[7] == "1.00x"
    sdk256 = next(c for c in lines if c[0] == LABELS["sdk"] and c[1] == "256")
    expected = (100.0 * 5 + 256) / (100.0 + 256)
    assert sdk256[7] == f"{expected:.2f}x"
    assert not math.isnan(expected)
    assert "## CPU per request, 256 in flight over 1 in flight" in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_label(kind: str) -> None:
    assert LABELS[kind]
