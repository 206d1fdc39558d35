"""Benchmark the SDK against raw httpx and raw aiohttp, on a local nginx over TLS 1.3.

Usage: python benchmarks/run.py [--runs 5] [--requests 3000] [--concurrency 1,16,64,256]

Starts nginx (installing Debian's nginx-light if it is missing) on 127.0.0.1 with a trustme
certificate, answering 8x8's send response; runs every client kind at every concurrency in its own
process, the kinds interleaved round after round; stops nginx by its PID; writes
benchmarks/results/results.json, results.md and cpu_per_request.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import trustme

HERE = Path(__file__).parent
RESULTS = HERE / "results"
KINDS = ["httpx", "httpx-sdk-pool", "aiohttp", "httpx-aiohttp", "sdk", "sdk-aiohttp"]
LABELS = {
    "httpx": "raw httpx (default pool)",
    "httpx-sdk-pool": "raw httpx (SDK's pool limits)",
    "aiohttp": "raw aiohttp",
    "httpx-aiohttp": "raw httpx on httpx-aiohttp",
    "sdk": "send_sms, default transport",
    "sdk-aiohttp": 'send_sms, transport="aiohttp"',
}
SEND_RESPONSE = (
    '{"umid":"bda3d56d-1424-e711-813c-06ed3428fe67","clientMessageId":"b1",'
    '"destination":"6591234567","encoding":"GSM7",'
    '"status":{"code":"QUEUED","description":"SMS is accepted and queued for processing"}}'
)

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate {dir}/server.pem;
    ssl_certificate_key {dir}/server.key;
    location /api/v1/subaccounts/ {{
      default_type application/json;
      return 200 '{body}';
    }}
  }}
  server {{
    listen 127.0.0.1:{status_port};
    location = /status {{ stub_status; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    print("nginx not found: installing Debian's nginx-light", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "nginx-light"], check=True, env=env)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def accepts(status_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/status", timeout=5) as answer:
        text = answer.read().decode()
    match = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", text)
    assert match, text
    return int(match.group(1))


def run_one(
    kind: str, concurrency: int, requests: int, base: str, ca: str, status_port: int
) -> dict[str, Any]:
    before = accepts(status_port)
    output = subprocess.run(
        [sys.executable, str(HERE / "client.py"), kind, str(concurrency), str(requests), base, ca],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    result: dict[str, Any] = json.loads(output)
    result["new_connections"] = accepts(status_port) - before
    return result


def summarise(rows: list[dict[str, Any]], concurrencies: list[int]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for kind in KINDS:
        for c in concurrencies:
            runs = [r for r in rows if r["kind"] == kind and r["concurrency"] == c]
            if not runs:
                continue
            table[f"{kind}@{c}"] = {
                metric: {
                    "median": statistics.median(r[metric] for r in runs),
                    "min": min(r[metric] for r in runs),
                    "max": max(r[metric] for r in runs),
                }
                for metric in (
                    "rps",
                    "p50_ms",
                    "p99_ms",
                    "cpu_us_per_req",
                    "peak_rss_mb",
                    "new_connections",
                )
            } | {"runs": len(runs)}
    return table


def markdown(table: dict[str, Any], concurrencies: list[int], meta: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"{meta['when']}, {meta['machine']}; {meta['runs']} interleaved runs of {meta['requests']} "
        "requests per cell after warm-up; nginx 1 worker, TLS 1.3, keep-alive. Median (min) of "
        "the runs. CPU is the client process's user+system time per request.",
        "",
        "| client | in flight | req/s | p50 ms | p99 ms | CPU µs/req | vs raw httpx CPU | "
        "vs raw aiohttp CPU | vs raw httpx req/s | peak RSS MB | new conns |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        for c in concurrencies:
            cell = table.get(f"{kind}@{c}")
            if cell is None:
                continue
            httpx_cell = table.get(f"httpx@{c}")
            aiohttp_cell = table.get(f"aiohttp@{c}")
            cpu = cell["cpu_us_per_req"]["median"]
            ratio_httpx = (
                cpu / httpx_cell["cpu_us_per_req"]["median"] if httpx_cell else float("nan")
            )
            ratio_aiohttp = (
                cpu / aiohttp_cell["cpu_us_per_req"]["median"] if aiohttp_cell else float("nan")
            )
            rps_ratio = (
                cell["rps"]["median"] / httpx_cell["rps"]["median"] if httpx_cell else float("nan")
            )
            lines.append(
                f"| {LABELS[kind]} | {c} | "
                f"{cell['rps']['median']:.0f} ({cell['rps']['min']:.0f}) | "
                f"{cell['p50_ms']['median']:.2f} | {cell['p99_ms']['median']:.2f} | "
                f"{cpu:.0f} ({cell['cpu_us_per_req']['min']:.0f}) | {ratio_httpx:.2f}x | "
                f"{ratio_aiohttp:.2f}x | {rps_ratio:.2f}x | {cell['peak_rss_mb']['median']:.0f} | "
                f"{cell['new_connections']['median']:.0f} |"
            )
    lines += ["", "## CPU per request, 256 in flight over 1 in flight", ""]
    for kind in KINDS:
        low, high = (
            table.get(f"{kind}@{concurrencies[0]}"),
            table.get(f"{kind}@{concurrencies[-1]}"),
        )
        if low and high:
            growth = high["cpu_us_per_req"]["median"] / low["cpu_us_per_req"]["median"]
            lines.append(f"- {LABELS[kind]}: {growth:.2f}x")
    lines += ["", "## The SDK's own layer (CPU over raw httpx on the same transport and pool)", ""]
    for sdk, raw in (("sdk", "httpx-sdk-pool"), ("sdk-aiohttp", "httpx-aiohttp")):
        parts = []
        for c in concurrencies:
            a, b = table.get(f"{sdk}@{c}"), table.get(f"{raw}@{c}")
            if a and b:
                parts.append(
                    f"{c}: {a['cpu_us_per_req']['median'] / b['cpu_us_per_req']['median'] - 1:+.0%}"
                )
        lines.append(f"- {LABELS[sdk]} vs {LABELS[raw]}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def plot(table: dict[str, Any], concurrencies: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for kind in KINDS:
        points = [
            (c, table[f"{kind}@{c}"]["cpu_us_per_req"]["median"])
            for c in concurrencies
            if f"{kind}@{c}" in table
        ]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=LABELS[kind])
    ax.set_xscale("log", base=2)
    ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("client CPU per request (µs, median)")
    ax.set_title("CPU per request against concurrency (lower and flatter is better)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    # A SIGTERM still runs the `finally` below, so the nginx this script started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    kinds = args.kinds.split(",")
    nginx = ensure_nginx()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eightxeight-bench-") as tmp:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(f"{tmp}/server.key")
        cert.cert_chain_pems[0].write_to_path(f"{tmp}/server.pem")
        ca.cert_pem.write_to_path(f"{tmp}/ca.pem")
        port, status_port = free_port(), free_port()
        conf = Path(tmp, "nginx.conf")
        conf.write_text(
            NGINX_CONF.format(dir=tmp, port=port, status_port=status_port, body=SEND_RESPONSE)
        )
        server = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp, "-g", "daemon off;"])
        rows: list[dict[str, Any]] = []
        try:
            for _ in range(100):
                try:
                    accepts(status_port)
                    break
                except OSError:
                    time.sleep(0.05)
            base = f"https://127.0.0.1:{port}"
            for round_no in range(args.runs):
                for c in concurrencies:
                    for kind in kinds:
                        row = run_one(kind, c, args.requests, base, f"{tmp}/ca.pem", status_port)
                        row["round"] = round_no
                        rows.append(row)
                        print(
                            f"round {round_no + 1}/{args.runs} {kind:>15} @{c:<3} "
                            f"{row['rps']:7.0f} req/s {row['cpu_us_per_req']:6.0f} µs/req "
                            f"{row['new_connections']:5d} new conns",
                            flush=True,
                        )
        finally:
            server.terminate()  # only the nginx this script started, by its PID
            server.wait(timeout=30)
    table = summarise(rows, concurrencies)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "runs": args.runs,
        "requests": args.requests,
    }
    (RESULTS / "results.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "table": table}, indent=1)
    )
    (RESULTS / "results.md").write_text(markdown(table, concurrencies, meta))
    plot(table, concurrencies, RESULTS / "cpu_per_request.png")
    print((RESULTS / "results.md").read_text())


if __name__ == "__main__":
    main()
