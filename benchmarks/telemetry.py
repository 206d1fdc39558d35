"""What OpenTelemetry costs the SDK: send_sms calls/s and CPU per call, in four set-ups, one run.

Usage: python benchmarks/telemetry.py [--runs 5] [--requests 2000] [--concurrency 16]

The same nginx as benchmarks/run.py (TLS 1.3 on 127.0.0.1, answering 8x8's send response, stopped
by its PID at the end). Each cell runs in its own process, the set-ups interleaved round after
round; the table gives medians and their ratio to "absent":

- absent: OpenTelemetry cannot be imported (blocked in sys.modules, as if not installed);
- api: opentelemetry-api imported, no SDK (nothing records: what a library that imports the API
  gives every app);
- sdk: the SDK's TracerProvider with a BatchSpanProcessor (an exporter that drops the spans) and
  a MeterProvider with an InMemoryMetricReader: every call makes two spans and its measurements;
- sdk-unsampled: the same with the ALWAYS_OFF sampler (spans sampled out, measurements kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MODES = ("absent", "api", "sdk", "sdk-unsampled")


def setup(mode: str) -> None:
    """Prepare this process for one set-up, before the SDK is imported."""
    if mode == "absent":
        for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.metrics"):
            sys.modules[name] = None  # type: ignore[assignment]
        return
    from opentelemetry import metrics, trace

    if mode == "api":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=ALWAYS_OFF if mode == "sdk-unsampled" else ALWAYS_ON)
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


async def measure(concurrency: int, total: int, base: str, ca: str) -> dict[str, float]:
    from eightxeight_async import AsyncSmsClient, RateLimits

    sms = AsyncSmsClient(
        api_key="bench-key",
        subaccount_id="bench_hq",
        base_url=base,
        verify=ca,
        rate_limits=RateLimits.unlimited(),
    )
    remaining = 0

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await sms.send_sms(destination="+6591234567", text="Your code is 123456")

    remaining = max(200, concurrency * 4)  # warm-up: connections open, caches full
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    remaining = total
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    await sms.aclose()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {"rps": total / wall, "cpu_us": cpu / total * 1e6}


def record_cost(calls: int = 20000) -> float:
    """µs of CPU the telemetry hooks add to one successful call (one attempt), alone."""
    from eightxeight_async._operations import SEND_SMS
    from eightxeight_async._telemetry import GLOBAL

    def one() -> None:
        record = GLOBAL.start(SEND_SMS, "https://sms.8x8.com", "bench_hq", None)
        if record is not None:
            record.begin_attempt(1, 0.0)
            record.end_attempt(200, None)
            record.finish(None, None)

    for _ in range(1000):
        one()
    started = time.process_time()
    for _ in range(calls):
        one()
    return (time.process_time() - started) / calls * 1e6


def child(mode: str, concurrency: int, total: int, base: str, ca: str) -> None:
    setup(mode)
    result = asyncio.run(measure(concurrency, total, base, ca))
    loaded = sorted(m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v)
    print(json.dumps({**result, "hooks_us": record_cost(), "otel_modules": len(loaded)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--child", nargs=5, metavar=("MODE", "C", "N", "BASE", "CA"))
    args = parser.parse_args()
    if args.child:
        mode, c, n, base, ca = args.child
        child(mode, int(c), int(n), base, ca)
        return
    sys.path.insert(0, str(HERE))
    from run import ensure_nginx, start_nginx

    nginx = ensure_nginx()
    rows: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="eightxeight-otel-bench-") as tmp:
        server, port, _status_port = start_nginx(nginx, tmp)
        try:
            base = f"https://127.0.0.1:{port}"
            for round_no in range(args.runs):
                for mode in MODES:
                    cell = [mode, str(args.concurrency), str(args.requests), base, f"{tmp}/ca.pem"]
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", *cell],
                        capture_output=True,
                        text=True,
                        timeout=600,
                        check=True,
                    )
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    rows[mode].append(row)
                    print(
                        f"round {round_no + 1}/{args.runs} {mode:>13}: {row['rps']:6.0f} calls/s "
                        f"{row['cpu_us']:5.0f} µs CPU/call, hooks {row['hooks_us']:5.1f} µs "
                        f"({row['otel_modules']} otel modules)",
                        flush=True,
                    )
        finally:
            server.terminate()  # only the nginx this script started, by its PID
            server.wait(timeout=30)
    base_rps = statistics.median(r["rps"] for r in rows["absent"])
    base_cpu = statistics.median(r["cpu_us"] for r in rows["absent"])
    print(
        f"\nsend_sms, {args.requests} calls at {args.concurrency} in flight, median of "
        f"{args.runs} runs\n"
    )
    print("| set-up | calls/s | ÷ absent | CPU µs/call | ÷ absent | hooks alone, µs/call |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in MODES:
        rps = statistics.median(r["rps"] for r in rows[mode])
        cpu = statistics.median(r["cpu_us"] for r in rows[mode])
        hooks = statistics.median(r["hooks_us"] for r in rows[mode])
        print(
            f"| {mode} | {rps:.0f} | {rps / base_rps:.3f} | {cpu:.0f} | {cpu / base_cpu:.3f} "
            f"| {hooks:.1f} |"
        )


if __name__ == "__main__":
    main()
