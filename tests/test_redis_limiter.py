"""RedisRateLimiter against a real redis-server the tests start (no mocks of Redis).

Waits are read from what the limiter would sleep (``_redis._sleep`` records instead of sleeping)
and the limits chosen make them minutes long, so no assertion depends on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from eightxeight_async import (
    AsyncSmsClient,
    InProcessRateLimiter,
    RateLimiter,
    ValidationError,
)
from eightxeight_async._ratelimit import Bucket, bucket_for
from eightxeight_async._redis import (
    SCRIPT_SHA,
    RateLimiterUnavailableError,
    RedisRateLimiter,
    check_url,
    close_redis,
    safe_url,
)
from eightxeight_async.testing import retry_without_waiting

from .conftest import PHONE, SUBACCOUNT, TEXT, reference_examples
from .redis_support import (
    RedisServer,
    hold_first_limiter_sleep,
    record_limiter_waits,
    running_redis,
)

pytest.importorskip("redis", reason="the [redis] extra is not installed")
SMS_OK = reference_examples()["send-sms"][0]
KEY = "acme_hq:details"
SLOW = 0.01  # one token per 100 s: a wait is 100 s, whatever the machine's speed


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """One redis-server for the module's tests (each test uses its own prefix)."""
    with running_redis() as redis:
        yield redis


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"t:{request.node.name}:"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep of the limiter, recorded instead of slept."""
    return record_limiter_waits(monkeypatch)


@pytest.fixture
async def limiter(server: RedisServer, prefix: str) -> AsyncIterator[RedisRateLimiter]:
    made = RedisRateLimiter.from_url(server.url, prefix=prefix)
    try:
        yield made
    finally:
        await made.aclose()


async def raw(server: RedisServer) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(server.url)
    try:
        yield client
    finally:
        await close_redis(client)


@pytest.fixture
async def redis_client(server: RedisServer) -> AsyncIterator[Any]:
    async for client in raw(server):
        yield client


# --- the protocol and GCRA -----------------------------------------------------------------------


def test_it_is_a_rate_limiter(server: RedisServer) -> None:
    """RedisRateLimiter satisfies the RateLimiter protocol the client takes."""
    limiter: RateLimiter = RedisRateLimiter.from_url(server.url)
    assert isinstance(limiter, RateLimiter)


async def test_burst_then_one_interval_apart(limiter: RedisRateLimiter, waits: list[float]) -> None:
    """A burst of 2 goes at once; the third waits one interval (100 s) on Redis's clock."""
    for _ in range(3):
        await limiter.acquire(KEY, rate=SLOW, burst=2)
    assert len(waits) == 1
    assert 99 < waits[0] <= 100.001


async def test_processes_share_the_bucket(
    server: RedisServer, prefix: str, waits: list[float]
) -> None:
    """Two limiters (two processes' worth: own clients) draw from one bucket."""
    first = RedisRateLimiter.from_url(server.url, prefix=prefix)
    second = RedisRateLimiter.from_url(server.url, prefix=prefix)
    try:
        await first.acquire(KEY, rate=SLOW, burst=1)
        await second.acquire(KEY, rate=SLOW, burst=1)
        await first.acquire(KEY, rate=SLOW, burst=1)
    finally:
        await first.aclose()
        await second.aclose()
    assert len(waits) == 2
    assert 99 < waits[0] <= 100.001
    assert 199 < waits[1] <= 200.001


async def test_the_keys_are_ratelimit_keys_under_the_prefix(
    limiter: RedisRateLimiter, redis_client: Any, prefix: str, waits: list[float]
) -> None:
    """The key is the prefix and _ratelimit's bucket key, one hash per bucket; others untouched."""
    from eightxeight_async import RateLimits

    plan = bucket_for(Bucket.SENDS, "acme_hq", RateLimits())
    await limiter.acquire(plan.key, rate=plan.rate, burst=plan.burst)
    keys = await redis_client.keys(f"{prefix}*")
    assert keys == [f"{prefix}{plan.key}".encode()]
    fields = await redis_client.hgetall(keys[0])
    assert set(fields) == {b"tat", b"tol"}
    other = RedisRateLimiter.from_url(limiter._where, prefix="other:")  # same server
    try:
        await other.acquire(plan.key, rate=SLOW, burst=1)
        await other.acquire(plan.key, rate=SLOW, burst=1)
    finally:
        await other.aclose()
    assert len(waits) == 1  # the other prefix is a bucket of its own


async def test_keys_expire_after_the_bucket_horizon(
    limiter: RedisRateLimiter, redis_client: Any, prefix: str, waits: list[float]
) -> None:
    """A key lives until its last slot (or pause) plus about a second, then goes."""
    await limiter.acquire(KEY, rate=SLOW, burst=1)
    await limiter.acquire(KEY, rate=SLOW, burst=1)
    ttl = await redis_client.pttl(prefix + KEY)
    assert 199_000 < ttl <= 201_000  # two intervals ahead, plus the margin
    await limiter.acquire("fast:sends", rate=1000.0, burst=1)
    ttl = await redis_client.pttl(prefix + "fast:sends")
    assert 0 < ttl <= 1002
    # Gone once its horizon passed: waited for, up to 30 s, not timed.
    for _ in range(300):
        if not await redis_client.exists(prefix + "fast:sends"):
            break
        await asyncio.sleep(0.1)
    assert not await redis_client.exists(prefix + "fast:sends")


# --- pauses ---------------------------------------------------------------------------------------


async def test_a_pause_holds_every_process(
    server: RedisServer, prefix: str, redis_client: Any, waits: list[float]
) -> None:
    """A 429 seen by one process pauses the bucket for another; the bucket resumes with no burst."""
    seeing = RedisRateLimiter.from_url(server.url, prefix=prefix)
    other = RedisRateLimiter.from_url(server.url, prefix=prefix)
    try:
        await seeing.pause(KEY, 50.0)
        await other.acquire(KEY, rate=1.0, burst=5)
        await other.acquire(KEY, rate=1.0, burst=5)
    finally:
        await seeing.aclose()
        await other.aclose()
    assert len(waits) == 2
    # After the pause: 50 s, then the steady rate (a burst of 5 would let both go at 50 s).
    assert 49 < waits[0] <= 54.001
    assert waits[1] - waits[0] == pytest.approx(1.0, abs=0.01)
    ttl = await redis_client.pttl(prefix + KEY)
    assert ttl > 50_000


async def test_a_pause_moves_slots_already_given(
    limiter: RedisRateLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller asleep on its slot when its process pauses the bucket waits the pause as well."""
    asleep, slept, woken = hold_first_limiter_sleep(monkeypatch)
    await limiter.acquire(KEY, rate=SLOW, burst=1)
    waiter = asyncio.create_task(limiter.acquire(KEY, rate=SLOW, burst=1))
    await slept[0].wait()
    await limiter.pause(KEY, 30.0)
    woken.set()
    await waiter
    assert len(asleep) == 2
    assert asleep[1] == pytest.approx(30.0, abs=0.01)
    assert not limiter._watches  # nothing kept once no one waits


async def test_a_pause_elsewhere_reaches_waiters_through_the_next_reply(
    server: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's pause moves this process's waiters once any reply on the bucket tells."""
    asleep, slept, woken = hold_first_limiter_sleep(monkeypatch)
    here = RedisRateLimiter.from_url(server.url, prefix=prefix)
    there = RedisRateLimiter.from_url(server.url, prefix=prefix)
    try:
        await here.acquire(KEY, rate=SLOW, burst=1)
        waiter = asyncio.create_task(here.acquire(KEY, rate=SLOW, burst=1))
        await slept[0].wait()
        await there.pause(KEY, 20.0)
        later = asyncio.create_task(here.acquire(KEY, rate=SLOW, burst=1))  # its reply tells
        await slept[1].wait()
        woken.set()
        await waiter
        await later
    finally:
        await here.aclose()
        await there.aclose()
    assert asleep[2] == pytest.approx(20.0, abs=0.01)


async def test_pause_rules(limiter: RedisRateLimiter, redis_client: Any, prefix: str) -> None:
    """No pause for 0, a negative or NaN, or in testing mode; a shorter pause keeps the longer."""
    for seconds in (0.0, -1.0, float("nan")):
        await limiter.pause(KEY, seconds)
    with retry_without_waiting():
        await limiter.pause(KEY, 10.0)
    assert not await redis_client.exists(prefix + KEY)
    await limiter.pause(KEY, 100.0)
    await limiter.pause(KEY, 5.0)
    until = float(await redis_client.hget(prefix + KEY, "until"))
    ttl = await redis_client.pttl(prefix + KEY)
    assert ttl > 90_000
    assert until > 0


async def test_the_client_pauses_redis_on_a_429(
    server: RedisServer, prefix: str, redis_client: Any
) -> None:
    """AsyncSmsClient with the Redis limiter: a 429's Retry-After lands in Redis for everyone."""
    limiter = RedisRateLimiter.from_url(server.url, prefix=prefix)
    with respx.mock(base_url="https://sms.8x8.com", assert_all_called=False) as api:
        api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").side_effect = [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json=SMS_OK),
        ]
        async with AsyncSmsClient(
            api_key="k", subaccount_id=SUBACCOUNT, rate_limiter=limiter
        ) as client:
            with retry_without_waiting():
                await client.send_sms(destination=PHONE, text=TEXT)
    try:
        key = f"{prefix}{SUBACCOUNT}:sends"
        assert await redis_client.hget(key, "until") is None  # testing mode skips pauses...
        await limiter.pause(f"{SUBACCOUNT}:sends", 7.0)  # ...so does the client, outside it
        assert await redis_client.hget(key, "until") is not None
    finally:
        await limiter.aclose()  # the client left it open: it was passed in


# --- NOSCRIPT, validation, reprs -----------------------------------------------------------------


async def test_the_script_is_loaded_again_after_script_flush(
    limiter: RedisRateLimiter, redis_client: Any, waits: list[float]
) -> None:
    """EVALSHA answered NOSCRIPT (Redis restarted or flushed): EVAL runs and caches it again."""
    await redis_client.script_flush()
    assert await redis_client.script_exists(SCRIPT_SHA) == [False]
    await limiter.acquire(KEY, rate=SLOW, burst=1)
    assert await redis_client.script_exists(SCRIPT_SHA) == [True]
    await limiter.acquire(KEY, rate=SLOW, burst=1)
    assert len(waits) == 1
    assert not limiter.fallback_active


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://127.0.0.1:6379",
        "redis://",
        "redis://:pw-secret@127.0.0.1:99999/0",
        "redis://:pw-secret@127.0.0.1:6379/notadb",
        "unix://",
        "redis://:pw-secret@[::1/0",
        "redis://h:1/0?cluster=maybe",
        "redis://:pw-secret@127.0.0.1:6379/0?socket_timeout=soon",
    ],
)
def test_bad_urls_are_refused_before_io_without_echo(url: str) -> None:
    """A bad URL is ValidationError(field="url"); the message never shows it (passwords)."""
    with pytest.raises(ValidationError) as caught:
        RedisRateLimiter.from_url(url)
    assert caught.value.field == "url"
    assert "secret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or "secret" not in str(caught.value.__context__)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", 0),
        ("timeout", float("inf")),
        ("recheck_after", -1),
        ("on_failure", "ignore"),
        ("prefix", "a\nb"),
    ],
)
def test_bad_options_are_refused(option: str, value: Any) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(ValidationError) as caught:
        RedisRateLimiter.from_url("redis://127.0.0.1:6379/0", **options)
    assert caught.value.field == option


async def test_bad_limits_are_refused_before_io(limiter: RedisRateLimiter) -> None:
    """The in-process limiter's rules for rate and burst, checked before Redis is asked."""
    for rate, burst in ((0.0, 1), (float("inf"), 1), (1.0, 0), (1.0, 1.5), (True, 1)):
        with pytest.raises(ValidationError):
            await limiter.acquire(KEY, rate=rate, burst=burst)  # type: ignore[arg-type]


def test_urls_read(server: RedisServer) -> None:
    """rediss, unix, a user, a db and ?cluster=true are read; the password never shown."""
    assert check_url("rediss://u:p@host:6380/2") == "rediss://u:p@host:6380/2"
    assert check_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert safe_url("redis://u:pw-secret@host:6380/2?password=x") == "redis://u:***@host:6380/2"
    assert safe_url("redis://:pw-secret@[::1]:6380") == "redis://:***@[::1]:6380"
    cluster = RedisRateLimiter.from_url("redis://:pw-secret@127.0.0.1:7000/0?cluster=true")
    assert "cluster" in repr(cluster)
    assert type(cluster._redis).__name__ == "RedisCluster"


async def test_reprs_and_errors_hold_no_password(server: RedisServer) -> None:
    """The repr, the warning, the error and its pickle show the URL without the password."""
    limiter = RedisRateLimiter.from_url(
        "redis://user:pw-secret@127.0.0.1:1/0", on_failure="raise", timeout=2
    )
    assert "pw-secret" not in repr(limiter)
    assert "user:***@127.0.0.1:1" in repr(limiter)
    with pytest.raises(RateLimiterUnavailableError) as caught:
        await limiter.acquire(KEY, rate=1.0, burst=1)
    await limiter.aclose()
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None  # Redis's own error is not chained (see the CLI's reading)
    assert error.permanent
    assert not error.may_have_been_sent
    assert "pw-secret" not in str(error)
    assert "127.0.0.1:1" in str(error)
    assert "on_failure='fallback'" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RateLimiterUnavailableError
    assert str(again) == str(error)
    assert again.url == error.url
    assert b"pw-secret" not in pickle.dumps(error)


def test_a_client_passed_in_is_named_without_its_password(server: RedisServer) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=server.port, password="pw-secret")
    limiter = RedisRateLimiter(client)
    assert "pw-secret" not in repr(limiter)
    assert f"127.0.0.1:{server.port}" in repr(limiter)


async def test_a_client_passed_in_is_left_open(server: RedisServer, prefix: str) -> None:
    """aclose() closes only the client from_url made."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(server.url)
    limiter = RedisRateLimiter(client, prefix=prefix)
    await limiter.acquire(KEY, rate=10.0, burst=1)
    await limiter.aclose()
    assert await client.ping()
    await close_redis(client)


def test_import_without_redis_works_and_use_names_the_extra() -> None:
    """Without the redis package the SDK imports; using the limiter names the [redis] extra."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import eightxeight_async, eightxeight_async._redis as r\n"
        "try:\n"
        "    r.RedisRateLimiter.from_url('redis://127.0.0.1:6379/0')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'eightxeight-async[redis]'" in out.stdout


# --- failure: fallback, the circuit, raise -------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, to stop and start again."""
    with running_redis() as redis:
        yield redis


async def test_fallback_warns_once_then_returns_to_redis(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    """Redis stopped: in-process limits, one warning; started again: Redis, one info line."""
    caplog.set_level(logging.INFO, logger="eightxeight_async.redis")
    limiter = RedisRateLimiter.from_url(own_server.url, prefix="f:", recheck_after=0.05, timeout=2)
    try:
        await limiter.acquire(KEY, rate=SLOW, burst=1)
        own_server.stop()
        for _ in range(5):
            await limiter.acquire("x:sends", rate=1e6, burst=1)  # no error reaches the caller
            await asyncio.sleep(0.06)  # past recheck_after: each call probes Redis again
        assert limiter.fallback_active
        assert "x:sends" in limiter._fallback._buckets  # the in-process limiter took them
        own_server.start()
        await asyncio.sleep(0.06)
        await limiter.acquire(KEY, rate=SLOW, burst=1)
        assert not limiter.fallback_active
        await limiter.acquire(KEY, rate=SLOW, burst=1)
        async for client in raw(own_server):
            assert await client.exists(f"f:{KEY}")
    finally:
        await limiter.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "limiting in this process only" in warnings[0].getMessage()
    assert len(infos) == 1
    assert "is back" in infos[0].getMessage()
    # Redis started empty: the two acquires went through it (a fresh bucket, then 100 s).
    assert len(waits) == 1
    assert 99 < waits[0] <= 100.001


async def test_the_circuit_skips_redis_while_open(own_server: RedisServer) -> None:
    """While the circuit is open no call goes to Redis (nor waits for its timeout)."""
    limiter = RedisRateLimiter.from_url(own_server.url, prefix="c:", recheck_after=3600)
    own_server.stop()
    calls = 0
    script = limiter._script

    async def counting(name: str, args: tuple[float | str, ...]) -> object:
        nonlocal calls
        calls += 1
        return await script(name, args)

    limiter._script = counting  # type: ignore[method-assign]
    try:
        for _ in range(20):
            await limiter.acquire("x:sends", rate=1e6, burst=1)
            await limiter.pause("x:sends", 0.001)
    finally:
        await limiter.aclose()
    assert calls == 1


async def test_raise_mode_raises_a_typed_error(own_server: RedisServer) -> None:
    """on_failure="raise": RateLimiterUnavailableError, at once while the circuit is open."""
    limiter = RedisRateLimiter.from_url(own_server.url, on_failure="raise", recheck_after=3600)
    own_server.stop()
    try:
        for _ in range(2):
            with pytest.raises(RateLimiterUnavailableError) as caught:
                await limiter.acquire(KEY, rate=1.0, burst=1)
            assert "nothing was sent" in str(caught.value)
        await limiter.pause(KEY, 1.0)  # a pause never raises: it holds in this process
    finally:
        await limiter.aclose()


async def test_the_client_sends_nothing_when_redis_is_down_in_raise_mode(
    own_server: RedisServer,
) -> None:
    """The error reaches the caller as is (not retried), and no request went out."""
    limiter = RedisRateLimiter.from_url(own_server.url, on_failure="raise")
    own_server.stop()
    with respx.mock(base_url="https://sms.8x8.com", assert_all_called=False) as api:
        route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").respond(200, json=SMS_OK)
        async with AsyncSmsClient(
            api_key="k", subaccount_id=SUBACCOUNT, rate_limiter=limiter
        ) as client:
            with pytest.raises(RateLimiterUnavailableError):
                await client.send_sms(destination=PHONE, text=TEXT)
        assert route.call_count == 0
    await limiter.aclose()


async def test_a_silent_redis_never_hangs_a_send() -> None:
    """A server that takes the connection and never answers: the timeout, then the fallback."""
    silent: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)
        await reader.read(-1)

    tcp = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    limiter = RedisRateLimiter.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        # bounded by the limiter's timeout; the outer bound only keeps a broken test from hanging
        await asyncio.wait_for(limiter.acquire(KEY, rate=1.0, burst=1), 60)
        assert limiter.fallback_active
        assert silent  # it did reach the server
    finally:
        await limiter.aclose()
        for writer in silent:
            writer.close()
        tcp.close()
        await tcp.wait_closed()


async def test_the_fallback_is_an_in_process_limiter(limiter: RedisRateLimiter) -> None:
    assert isinstance(limiter._fallback, InProcessRateLimiter)


async def test_a_pause_while_redis_fails_holds_in_this_process(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    """A 429's pause meeting a dead Redis: no error, one warning, and the fallback waits it out;
    the longer of two pauses holds, and the other keys are not held."""
    caplog.set_level(logging.WARNING, logger="eightxeight_async.redis")
    limiter = RedisRateLimiter.from_url(own_server.url, recheck_after=3600)
    own_server.stop()
    try:
        await limiter.pause(KEY, 30.0)
        assert limiter.fallback_active
        await limiter.pause(KEY, 5.0)  # shorter: the 30 s pause is kept
        await limiter.acquire("other:sends", rate=1e6, burst=1)
        assert waits == []
        await limiter.acquire(KEY, rate=1e6, burst=1)
        assert len(waits) == 1
        assert 29 < waits[0] <= 30.0
    finally:
        await limiter.aclose()
    assert len(caplog.records) == 1


async def test_a_pause_in_raise_mode_never_raises(own_server: RedisServer) -> None:
    limiter = RedisRateLimiter.from_url(own_server.url, on_failure="raise")
    own_server.stop()
    try:
        await limiter.pause(KEY, 30.0)  # the 429 is the caller's error, not this
        assert limiter.fallback_active
    finally:
        await limiter.aclose()


def test_clients_passed_in_are_described_without_secrets() -> None:
    import redis.asyncio as aioredis

    unix = RedisRateLimiter(
        aioredis.Redis(unix_socket_path="/run/redis.sock", password="pw-secret")
    )
    assert "unix:///run/redis.sock" in repr(unix)
    tls = RedisRateLimiter(aioredis.Redis(host="h", port=6380, ssl=True, password="pw-secret"))
    assert "rediss://h:6380/0" in repr(tls)
    assert "pw-secret" not in repr(unix) + repr(tls)


async def test_one_round_trip_per_acquire(
    limiter: RedisRateLimiter, redis_client: Any, waits: list[float]
) -> None:
    """Each acquire is one EVALSHA (its commands run inside Redis), pauses too; no EVAL once the
    script is cached, no polling."""

    async def calls() -> dict[str, int]:
        stats = await redis_client.info("commandstats")
        return {k: int(v["calls"]) for k, v in stats.items()}

    await limiter.acquire(KEY, rate=SLOW, burst=1)  # the script is cached from here on
    before = await calls()
    for _ in range(10):
        await limiter.acquire(KEY, rate=SLOW, burst=1)
    await limiter.pause(KEY, 1.0)
    after = await calls()
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert moved["cmdstat_evalsha"] == 11
    assert moved.get("cmdstat_eval", 0) == 0
    client_side = {k for k, n in moved.items() if n} - {"cmdstat_evalsha", "cmdstat_info"}
    # what remains ran inside the script: TIME, HMGET, HSET, PEXPIRE, once per call each
    assert client_side <= {"cmdstat_time", "cmdstat_hmget", "cmdstat_hset", "cmdstat_pexpire"}
    assert all(moved[k] == 11 for k in client_side)
    assert len(waits) == 10


async def test_answers_sent_before_a_failure_do_not_flip_the_circuit(
    limiter: RedisRateLimiter, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    """Redis going down: a call sent before the failure and answered after it is used, but does
    not close the circuit ("is back") only for the next call to open it again (a second warning).

    Seen in test_redis_fleet's outage run before the fix: two warnings and two "is back" lines in
    one process. The order is forced here: A is sent, B fails, then A's answer comes.
    """
    import redis.exceptions

    caplog.set_level(logging.INFO, logger="eightxeight_async.redis")
    script = limiter._script
    release = asyncio.Event()
    sent = asyncio.Event()

    async def ordered(name: str, args: tuple[float | str, ...]) -> object:
        if not sent.is_set():
            sent.set()
            await release.wait()
            return await script(name, args)  # A: a real answer, after B's failure
        raise redis.exceptions.ConnectionError("Connection closed by server.")  # B

    limiter._script = ordered  # type: ignore[method-assign]
    first = asyncio.create_task(limiter.acquire(KEY, rate=SLOW, burst=1))
    await sent.wait()
    await limiter.acquire("x:sends", rate=1e6, burst=1)  # B fails: fallback, one warning
    release.set()
    await first
    assert limiter.fallback_active  # A's late answer did not close the circuit
    await limiter.acquire("x:sends", rate=1e6, burst=1)  # the circuit is open: no Redis call
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "limiting in this process only" in messages[0]


async def test_a_restarted_redis_is_not_an_outage(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    """Connections pooled before Redis restarted fail once each; that is retried on a fresh
    connection, not taken for an outage (seen in test_redis_fleet before the fix: a second
    warning in a process right after Redis came back)."""
    caplog.set_level(logging.INFO, logger="eightxeight_async.redis")
    limiter = RedisRateLimiter.from_url(own_server.url, prefix="r:")
    try:
        keys = [f"s{n}:sends" for n in range(5)]
        await asyncio.gather(*(limiter.acquire(k, rate=SLOW, burst=1) for k in keys))
        own_server.stop()
        own_server.start()
        await asyncio.gather(*(limiter.acquire(k, rate=SLOW, burst=1) for k in keys))
        assert not limiter.fallback_active
    finally:
        await limiter.aclose()
    assert caplog.records == []
    assert waits == []  # Redis started empty: fresh buckets, taken through Redis
