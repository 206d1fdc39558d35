"""One process of the fleet in test_redis_fleet.py: a client on a shared limiter, calling in a loop.

Run as ``python redis_fleet_worker.py CONFIG_JSON``. It warms its connection (an account call,
another bucket), prints ``ready``, waits for a line on stdin, calls ``get_message`` or
``send_sms`` from ``tasks`` concurrent tasks for ``seconds`` seconds, then prints one JSON line:
``{"calls": n, "errors": [...], "departures": [...]}`` (when the limiter let each request of the
bucket go, on ``time.monotonic()``). The limiter's log lines go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from eightxeight_async import (
    AsyncSmsClient,
    EightXEightError,
    InProcessRateLimiter,
    RateLimiter,
    RateLimits,
    RetryPolicy,
)
from eightxeight_async._ratelimit import Bucket, bucket_for
from eightxeight_async._redis import RedisRateLimiter


class Departures(RedisRateLimiter):
    """Notes when each token of one bucket was handed out (time.monotonic(): one clock for every
    process of the machine), so that the limiter's own spacing can be told from the network's."""

    watched = ""
    times: list[float]

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        await super().acquire(key, rate=rate, burst=burst)
        if key == self.watched:
            self.times.append(time.monotonic())


async def run(config: dict[str, Any]) -> dict[str, Any]:
    limiter: RateLimiter
    departures: list[float] = []
    limits = RateLimits(send_per_second=config["rate"], send_burst=1)
    bucket = Bucket.DETAILS if config["operation"] == "details" else Bucket.SENDS
    watched = bucket_for(bucket, config["client"]["subaccount_id"], limits).key
    if config["redis_url"]:
        options = {"ssl_ca_certs": config["redis_ca"]} if config.get("redis_ca") else {}
        limiter = Departures.from_url(
            config["redis_url"],
            prefix=config["prefix"],
            recheck_after=config.get("recheck_after", 5.0),
            **options,
        )
        limiter.watched = watched
        limiter.times = departures
    else:
        limiter = InProcessRateLimiter()
    calls = 0
    errors: list[str] = []
    async with AsyncSmsClient(
        **config["client"],
        rate_limiter=limiter,
        rate_limits=limits,
        # A read that met a connection the sandbox closed is tried again (its 429s are counted
        # by the sandbox itself, and each attempt takes its own token).
        retry=RetryPolicy(max_attempts=3),
        max_connections=config["tasks"],
    ) as client:
        warm = [client.get_balance() for _ in range(config["tasks"])]
        await asyncio.gather(*warm)  # connections open (another bucket than the measured one)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        # Again: uvicorn closes connections idle for 5 s, and the others took a while to start.
        await asyncio.gather(*(client.get_balance() for _ in range(config["tasks"])))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config["seconds"]

        async def caller() -> None:
            nonlocal calls
            while loop.time() < deadline:
                try:
                    if config["operation"] == "details":
                        await client.get_message(config["umid"])
                    else:
                        await client.send_sms(destination="+6591234567", text="fleet")
                except EightXEightError as exc:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                else:
                    calls += 1

        await asyncio.gather(*(caller() for _ in range(config["tasks"])))
    await limiter.aclose()
    return {"calls": calls, "errors": errors, "departures": departures}


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(run(config))), flush=True)


if __name__ == "__main__":
    main()
