"""Benchmark the SDK against raw httpx and raw aiohttp, on a local nginx over TLS 1.3.

Usage: python benchmarks/run.py [--runs 5] [--requests 2000] [--concurrency 1,16,64,256]
                                [--kinds httpx,sdk,...] [--out DIR] [--save]

Starts nginx (installing Debian's nginx-light if it is missing) on 127.0.0.1 with a trustme
certificate, answering 8x8's send response; runs every client kind at every concurrency in its own
process, the kinds interleaved round after round; stops nginx by its PID. Writes results.json,
results.md and cpu_per_request.png to a new folder, benchmarks/runs/<UTC time>/ (or --out DIR);
the committed benchmarks/results/ is only replaced with --save, which needs a complete run: every
kind at 1, 16, 64 and 256 in flight, no failed cell.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import trustme
from report import KINDS, LABELS, markdown, measured, summarise

HERE = Path(__file__).parent
RESULTS = HERE / "results"  # the committed results, replaced only with --save
RUNS = HERE / "runs"  # one folder per run (not committed: benchmarks/.gitignore)
DEFAULT_RUNS, DEFAULT_REQUESTS, DEFAULT_CONCURRENCY = 5, 2000, [1, 16, 64, 256]
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


def start_nginx(nginx: str, tmp: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start nginx over TLS 1.3 with a trustme certificate (its CA in ``tmp/ca.pem``), answering
    every POST with 8x8's send answer; returns the process, its port and its status port, once it
    accepts connections. The caller stops the process."""
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
    for _ in range(100):
        try:
            accepts(status_port)
            break
        except OSError:
            time.sleep(0.05)
    return server, port, status_port


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
    """One cell's figures, or {"kind", "concurrency", "error"} when its client failed."""
    before = accepts(status_port)
    command = [sys.executable, str(HERE / "client.py"), kind, str(concurrency), str(requests)]
    try:
        done = subprocess.run(
            [*command, base, ca], capture_output=True, text=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired:
        return {"kind": kind, "concurrency": concurrency, "error": "no answer within 600 s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"kind": kind, "concurrency": concurrency, "error": last}
    result: dict[str, Any] = json.loads(done.stdout)
    result["new_connections"] = accepts(status_port) - before
    return result


def plot(table: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", flush=True)
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds, concurrencies = measured(table)
    fig, ax = plt.subplots(figsize=(8, 5))
    for kind in kinds:
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"rounds (default {DEFAULT_RUNS})"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=DEFAULT_REQUESTS,
        help=f"per cell (default {DEFAULT_REQUESTS})",
    )
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, DEFAULT_CONCURRENCY)),
        help="requests in flight, comma-separated",
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help="clients, comma-separated")
    parser.add_argument(
        "--out", type=Path, help="folder for this run (default benchmarks/runs/TIME)"
    )
    parser.add_argument(
        "--save", action="store_true", help="also replace the committed benchmarks/results/"
    )
    args = parser.parse_args(argv)
    try:
        args.concurrency = sorted({int(c) for c in args.concurrency.split(",")})
    except ValueError:
        parser.error("--concurrency takes whole numbers, e.g. 1,16,64,256")
    asked = set(args.kinds.split(","))
    if asked - set(KINDS):
        parser.error(f"unknown kinds {sorted(asked - set(KINDS))}; known: {','.join(KINDS)}")
    args.kinds = [kind for kind in KINDS if kind in asked]
    if args.runs < 1 or args.requests < 1 or min(args.concurrency) < 1:
        parser.error("--runs, --requests and --concurrency must be at least 1")
    if args.save and (
        args.kinds != KINDS or args.concurrency != DEFAULT_CONCURRENCY or args.runs < DEFAULT_RUNS
    ):
        parser.error(
            "--save replaces the committed results, which the README quotes: it needs every kind "
            "at 1,16,64,256 in flight and at least 5 runs"
        )
    return args


def main() -> None:
    # A SIGTERM still runs the `finally` below, so the nginx this script started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args()
    out: Path = args.out or RUNS / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    nginx = ensure_nginx()
    with tempfile.TemporaryDirectory(prefix="eightxeight-bench-") as tmp:
        server, port, status_port = start_nginx(nginx, tmp)
        rows: list[dict[str, Any]] = []
        try:
            base = f"https://127.0.0.1:{port}"
            for round_no in range(args.runs):
                for c in args.concurrency:
                    for kind in args.kinds:
                        row = run_one(kind, c, args.requests, base, f"{tmp}/ca.pem", status_port)
                        row["round"] = round_no
                        rows.append(row)
                        where = f"round {round_no + 1}/{args.runs} {kind:>15} @{c:<3}"
                        if "error" in row:
                            print(f"{where} FAILED: {row['error']}", flush=True)
                            continue
                        print(
                            f"{where} {row['rps']:7.0f} req/s {row['cpu_us_per_req']:6.0f} µs/req "
                            f"{row['new_connections']:5d} new conns",
                            flush=True,
                        )
        finally:
            server.terminate()  # only the nginx this script started, by its PID
            server.wait(timeout=30)
    failures = [row for row in rows if "error" in row]
    table = summarise(rows)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "runs": args.runs,
        "requests": args.requests,
        "kinds": args.kinds,
        "concurrency": args.concurrency,
    }
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "table": table}, indent=1) + "\n"
    )
    (out / "results.md").write_text(markdown(table, meta, failures))
    plot(table, out / "cpu_per_request.png")
    print((out / "results.md").read_text())
    print(f"Written to {out}/", flush=True)
    if failures:
        print(f"{len(failures)} cell(s) failed: the committed results are left alone.", flush=True)
        sys.exit(1)
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "results.md", "cpu_per_request.png"):
            if (out / name).exists():
                shutil.copyfile(out / name, RESULTS / name)
        print(f"Saved to {RESULTS}/ (the committed results).", flush=True)


if __name__ == "__main__":
    main()
