"""Fleet-wide rate limits: the limiter protocol over Redis (extra ``[redis]``).

8x8 counts its limits per subaccount, not per process: four workers with a bucket each would send
four times the rate. :class:`RedisRateLimiter` keeps each bucket (the keys and limits
``_ratelimit`` hands the limiter) in Redis, as the same GCRA the in-process limiter runs:

- One Lua script, loaded once and called by its SHA (``EVALSHA``; ``EVAL`` when the server
  answers ``NOSCRIPT``, which also loads it), takes a token in one atomic round trip and returns
  how long the caller must wait; the caller sleeps that long. No polling.
- Time is Redis's own (``TIME`` inside the script): the clocks of many machines differ, and the
  schedule of a bucket must be read on one clock. Redis 5 and later replicate a script's
  effects, not the script, so a script that reads the time may write.
- Each bucket is ONE hash (``tat``, ``until``, ``shift``, ``tol``), named ``prefix + key``: the
  script touches a single key, so it is cluster-safe by construction (no two keys to keep in one
  slot), and the key expires a little after the bucket's horizon (its last slot or the end of its
  pause), so nothing accumulates.
- :meth:`~RedisRateLimiter.pause` (a 429) writes the pause into the bucket: every process's next
  slot comes after it. Callers that already hold a slot wait for the pause too as soon as their
  process knows of it: from its own 429, or from any later reply on that bucket (each reply
  carries the total the bucket's pauses have moved its slots by). This costs no round trip.

Redis unreachable or failing: every call is bounded by ``timeout`` (a client made by
:meth:`~RedisRateLimiter.from_url` also tries a dead pooled connection once more on a fresh one,
as after a Redis restart). By default the limiter then falls back to an
:class:`InProcessRateLimiter`, logs one warning, stops trying Redis for ``recheck_after`` seconds
(a circuit), then lets one call try it, and logs one info line when Redis answers again. Only
answers to calls sent after the circuit last changed change it, so the calls in flight while
Redis goes down cannot flip it back and forth. A 429 met meanwhile is held in this process. With
``on_failure="raise"`` acquiring raises :class:`RateLimiterUnavailableError` instead (nothing was
sent). A caller cancelled while it waits for its slot does not hand it back (unlike in-process):
another process may hold the slots after it, so the bucket just loses that one slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sys
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._clock import pauses_skipped
from ._errors import APIConnectionError, ValidationError, clean_server_text
from ._ratelimit import InProcessRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
else:
    # typing.get_type_hints() must resolve the public signatures at run time, but importing
    # redis.asyncio costs ~90 ms (and redis >= 8 pulls in opentelemetry) on every
    # `import eightxeight_async`: at run time the names stand for Any; redis loads on first use.
    Redis = RedisCluster = Any

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]

logger = logging.getLogger("eightxeight_async.redis")
_L = TypeVar("_L", bound="RedisRateLimiter")

DEFAULT_PREFIX = "eightxeight:rl:"
#: Seconds any one Redis call may take (connect included) before it counts as a failure.
DEFAULT_TIMEOUT = 0.5
#: Seconds the circuit stays open (Redis is not tried) after a failure.
DEFAULT_RECHECK_AFTER = 5.0
#: Milliseconds a bucket's key outlives its horizon, so that a slow caller still finds it.
EXPIRY_MARGIN_MS = 1000
#: The longest pause written to Redis (8x8's Retry-After is seconds; this bounds a bad one).
MAX_PAUSE = 86400.0
_SCHEMES = ("redis", "rediss", "unix")
#: How a caller sleeps until its slot (tests replace it to record the waits instead).
_sleep = asyncio.sleep
_INSTALL = "RedisRateLimiter needs the redis package: pip install 'eightxeight-async[redis]'"

# KEYS[1]: the bucket's hash. ARGV[1]: "a" (acquire: ARGV[2] interval, ARGV[3] tolerance, in µs)
# or "p" (pause: ARGV[2] its length in µs); the last ARGV: the expiry margin in ms.
# Returns {µs to wait, µs the bucket's pauses have moved its slots by in total}.
# Times are µs on Redis's clock: about 1.8e15, exact in a double (2^53 is 9e15).
SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local key = KEYS[1]
local v = redis.call('HMGET', key, 'tat', 'until', 'shift', 'tol')
local tat = tonumber(v[1]) or now
local paused = tonumber(v[2]) or 0
local shift = tonumber(v[3]) or 0
local tol = tonumber(v[4])
local margin = tonumber(ARGV[#ARGV])
local wait = 0
if ARGV[1] == 'a' then
  local interval = tonumber(ARGV[2])
  local tolerance = tonumber(ARGV[3])
  if tol == nil and paused > now then
    -- made by a pause before any acquire: resume at the steady rate, without a burst
    tat = math.max(tat, paused + tolerance)
  end
  local slot = math.max(now, paused, tat - tolerance)
  tat = math.max(tat, slot) + interval
  wait = math.ceil(slot - now)
  redis.call('HSET', key, 'tat', tat, 'tol', tolerance)
else
  local target = now + tonumber(ARGV[2])
  local start = math.max(now, paused)
  if target <= start then return {0, shift} end
  local moved = target - start
  -- every slot given moves back by the pause, and the bucket resumes without a burst
  tat = math.max(tat + moved, target + (tol or 0))
  shift = shift + moved
  redis.call('HSET', key, 'tat', tat, 'until', target, 'shift', shift)
end
redis.call('PEXPIRE', key, math.ceil((math.max(tat, paused) - now) / 1000) + margin)
return {wait, shift}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()


class RateLimiterUnavailableError(APIConnectionError):
    """The Redis of a :class:`RedisRateLimiter` failed, and it may not fall back; nothing was sent.

    Raised by ``acquire`` with ``on_failure="raise"``, before the request: like a refused
    connection it is a failure before sending (``may_have_been_sent`` is false), and
    ``permanent``, so the client does not retry it (Redis gets ``recheck_after`` seconds). The
    message names the Redis (its URL without any password) and the failure; start Redis or fix
    its URL, or use ``on_failure="fallback"`` to limit in-process while it is away.

    Attributes:
        url: The Redis URL without its password (or the nodes of a client passed in).
    """

    url: str

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, permanent=True)
        self.url = url


def safe_url(url: str) -> str:
    """``url`` without its password and query (which may hold one), for messages and reprs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an invalid Redis URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    if parts.username:
        netloc = (
            f"{parts.username}:***@{netloc}" if parts.password else f"{parts.username}@{netloc}"
        )
    elif parts.password:
        netloc = f":***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: object, field: str = "url") -> str:
    """Check a Redis URL before any I/O (the value is never echoed: it may hold a password).

    Raises:
        ValidationError: When it is not a ``redis://``, ``rediss://`` or ``unix://`` URL with a
            host (a path for ``unix://``) and a valid port.
    """
    rule = "a redis://host[:port][/db], rediss://... or unix:///path URL"
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(field, rule)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(field, rule) from None
    if parts.scheme not in _SCHEMES:
        raise ValidationError(field, rule)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValidationError(field, rule)
        return url
    if not parts.hostname or port == 0:
        raise ValidationError(field, rule)
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValidationError(field, rule)
    return url


def _finite(field: str, value: object, *, low: float, above: bool) -> float:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if above else value >= low)
    )
    if not ok:
        rule = f"a finite number of seconds {'above' if above else 'of at least'} {low:g}"
        raise ValidationError(field, rule)
    return float(value)  # type: ignore[arg-type]


def _check_limits(rate: object, burst: object) -> tuple[float, float]:
    """The interval and tolerance in µs; the in-process limiter's rules and messages."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
        raise ValidationError("rate", "a finite number of requests per second above 0")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ValidationError("burst", "an integer of at least 1")
    interval = 1e6 / rate
    return interval, (burst - 1) * interval


def _redis_modules() -> tuple[Any, Any, Any]:
    """``redis.asyncio``, ``redis.exceptions`` and the retry classes, imported on first use."""
    try:
        import redis.asyncio as aioredis
        import redis.exceptions as exceptions
        from redis import backoff
        from redis.asyncio import retry
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return aioredis, exceptions, (retry.Retry, backoff.NoBackoff)


def _describe_client(client: Any) -> str:
    """Where a client passed in points, without its password."""
    nodes = getattr(client, "startup_nodes", None)
    if nodes:
        names = ", ".join(f"{n.host}:{n.port}" for n in nodes[:3])
        return f"redis cluster {names}{', ...' if len(nodes) > 3 else ''}"
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    # redis-py marks TLS by the pool's connection class (SSLConnection), not by a setting.
    tls = "SSL" in getattr(getattr(pool, "connection_class", None), "__name__", "")
    scheme = "rediss" if tls else "redis"
    host = kwargs.get("host", "localhost")
    return f"{scheme}://{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


async def close_redis(client: Any) -> None:
    """Close a redis.asyncio client: ``aclose()`` from redis 5.0.1, ``close()`` before it."""
    close = getattr(client, "aclose", None) or client.close
    await close()


class _Watch:
    """What this process knows of a bucket's pauses, while some of its callers hold a slot."""

    __slots__ = ("shift", "waiters")

    def __init__(self, shift: int) -> None:
        self.shift = shift
        self.waiters = 0


class RedisRateLimiter:
    """A :class:`~eightxeight_async.RateLimiter` whose buckets live in Redis, for a fleet.

    Every process (and machine) that shares a Redis shares the buckets: the limits hold for the
    fleet. Pass it to the client::

        limiter = RedisRateLimiter.from_url("redis://redis.internal:6379/0")
        async with AsyncSmsClient(rate_limiter=limiter) as client:
            ...
        await limiter.aclose()  # a limiter passed in is left to its owner

    Args:
        redis: A ``redis.asyncio.Redis`` or ``RedisCluster``; the limiter never closes it.
        prefix: Put before every bucket key (``"eightxeight:rl:acme_hq:sends"``), so that
            several apps or environments can share one Redis.
        timeout: Seconds any one Redis call may take before it counts as a failure.
        recheck_after: Seconds Redis is left alone after a failure (the circuit is open);
            calls meanwhile use the fallback (or raise) at once.
        on_failure: ``"fallback"`` limits in this process while Redis fails (one warning is
            logged, and one info line when it is back); ``"raise"`` raises
            :class:`RateLimiterUnavailableError`.

    Raises:
        ValidationError: When an option breaks its rule.
        ImportError: When the ``redis`` package (extra ``[redis]``) is not installed.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        recheck_after: float = DEFAULT_RECHECK_AFTER,
        on_failure: Literal["fallback", "raise"] = "fallback",
    ) -> None:
        _, exceptions, _ = _redis_modules()
        if not isinstance(prefix, str) or not prefix.isprintable():
            raise ValidationError("prefix", "a printable string")
        # Any case, as the SDK's other choices ("RAISE" is "raise").
        mode = str(on_failure).lower()
        if mode not in ("fallback", "raise"):
            raise ValidationError("on_failure", "'fallback' or 'raise'")
        self._redis = redis
        self._prefix = prefix
        self._timeout = _finite("timeout", timeout, low=0, above=True)
        self._recheck_after = _finite("recheck_after", recheck_after, low=0, above=False)
        self._on_failure = mode
        self._owns_redis = False
        self._where = _describe_client(redis)
        # Everything an unreachable or misconfigured Redis raises. RedisClusterException is not a
        # RedisError: a cluster client raises it when no startup node answers ("cannot be
        # connected"), when the server is not in cluster mode, or when a slot has no node.
        self._errors: tuple[type[BaseException], ...] = (
            exceptions.RedisError,
            exceptions.RedisClusterException,
            OSError,
            asyncio.TimeoutError,
        )
        self._no_script: type[BaseException] = exceptions.NoScriptError
        self._fallback = InProcessRateLimiter()
        # How many times the circuit opened or closed (see _answered).
        self._generation = 0
        # loop time until which Redis is not tried; None while Redis works
        self._down_until: float | None = None
        self._watches: dict[str, _Watch] = {}
        # Pauses (429s) met while Redis failed: loop time until which the fallback holds a key.
        self._held: dict[str, float] = {}

    @classmethod
    def from_url(
        cls: type[_L],
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        recheck_after: float = DEFAULT_RECHECK_AFTER,
        on_failure: Literal["fallback", "raise"] = "fallback",
        cluster: bool = False,
        **options: Any,
    ) -> _L:
        """A limiter on its own client for ``url``, closed by :meth:`aclose`.

        Args:
            url: ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` (TLS; pass
                ``ssl_ca_certs=...`` for a private CA) or ``unix:///path``. A query of
                ``?cluster=true`` is the same as ``cluster=True``.
            prefix: See the class.
            timeout: See the class; also the client's connect and socket timeouts.
            recheck_after: See the class.
            on_failure: See the class.
            cluster: Connect to a Redis Cluster (``redis.asyncio.RedisCluster``).
            **options: Passed to ``redis.asyncio.from_url`` (or ``RedisCluster.from_url``),
                e.g. ``ssl_ca_certs``, ``max_connections``, ``password``.

        Raises:
            ValidationError: When the URL or an option breaks its rule (the URL is not echoed).
            ImportError: When the ``redis`` package (extra ``[redis]``) is not installed.
        """
        aioredis, exceptions, retry = _redis_modules()
        check_url(url)
        seconds = _finite("timeout", timeout, low=0, above=True)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        wanted = [v for k, v in query if k == "cluster"]
        if wanted:
            if wanted[-1].lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValidationError("url", "cluster=true or cluster=false in its query")
            cluster = cluster or wanted[-1].lower() in ("true", "1", "yes")
            query = [(k, v) for k, v in query if k != "cluster"]
            url = urlunsplit(parts._replace(query=urlencode(query)))
        settings: dict[str, Any] = {
            "socket_timeout": seconds,
            "socket_connect_timeout": seconds,
            # One more try at once, on a fresh connection: after Redis restarted, each pooled
            # connection fails once ("closed by server") before redis-py drops it, and that must
            # not read as a new outage. Beyond it, the circuit decides when to try again.
            "retry": retry[0](retry[1](), 1),
            "retry_on_error": [exceptions.ConnectionError],  # redis 5.0 retries only these
            **options,
        }
        try:
            if cluster:
                client = aioredis.RedisCluster.from_url(url, **settings)
            else:
                client = aioredis.from_url(url, **settings)
        except ValueError:
            raise ValidationError("url", "a Redis URL redis-py can read") from None
        except exceptions.RedisClusterException:
            # Raised before any I/O for what a cluster cannot be: a unix socket, a db but 0.
            raise ValidationError(
                "url", "a cluster URL: host and port, no unix socket, database 0 or none"
            ) from None
        limiter = cls(
            client,
            prefix=prefix,
            timeout=seconds,
            recheck_after=recheck_after,
            on_failure=on_failure,
        )
        limiter._owns_redis = True
        limiter._where = safe_url(url) + (" (cluster)" if cluster else "")
        return limiter

    def __repr__(self) -> str:
        state = "fallback" if self._down_until is not None else "redis"
        return (
            f"<RedisRateLimiter {self._where} prefix={self._prefix!r} "
            f"on_failure={self._on_failure!r} using={state}>"
        )

    @property
    def fallback_active(self) -> bool:
        """Whether the last Redis call failed, so that calls are limited in-process (or raise)."""
        return self._down_until is not None

    # --- the protocol ----------------------------------------------------------------------------

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        """Wait for a slot on ``key`` from Redis (after any pause on it), then take it.

        Raises:
            ValidationError: When ``rate`` is not a finite number above 0, or ``burst`` not an
                integer of at least 1.
            RateLimiterUnavailableError: With ``on_failure="raise"``, when Redis fails.
        """
        interval, tolerance = _check_limits(rate, burst)
        if self._redis_allowed():
            failure: BaseException | None = None
            generation = self._generation
            try:
                wait, shift = await self._run(key, "a", interval, tolerance)
            except self._errors as exc:
                failure = exc
            else:
                self._answered(generation)
                await self._wait(key, wait, shift)
                return
            # Out of the except block: an error raised here has no __context__, so nothing
            # reads Redis's TLS or socket failure as one of the connection to 8x8.
            self._failed(failure, generation)
        elif self._on_failure == "raise":
            raise self._unavailable(None)
        await self._local_acquire(key, rate, burst)

    async def pause(self, key: str, seconds: float) -> None:
        """Pause ``key`` for ``seconds`` in every process; an earlier, longer pause is kept.

        Never raises for Redis: the pause then holds in this process (the 429 it follows is the
        caller's error).
        """
        if not seconds > 0 or pauses_skipped():  # NaN included
            return
        micros = math.ceil(min(seconds, MAX_PAUSE) * 1e6)
        if self._redis_allowed():
            generation = self._generation
            try:
                _, shift = await self._run(key, "p", micros)
            except self._errors as exc:
                self._note_failure(exc, generation)
            else:
                self._answered(generation)
                watch = self._watches.get(key)
                if watch is not None:
                    watch.shift = max(watch.shift, shift)
                return
        self._hold(key, seconds)

    async def aclose(self) -> None:
        """Close the Redis client when :meth:`from_url` made it; forget the fallback's buckets."""
        await self._fallback.aclose()
        self._held.clear()
        if self._owns_redis:
            await close_redis(self._redis)

    # --- the fallback ---------------------------------------------------------------------------

    def _hold(self, key: str, seconds: float) -> None:
        """Pause ``key`` in this process while Redis fails; an earlier, longer pause is kept."""
        now = asyncio.get_running_loop().time()
        for done in [k for k, until in self._held.items() if until <= now]:
            del self._held[done]  # pauses are rare (429s): sweeping at each keeps the dict small
        until = now + seconds
        if until > self._held.get(key, 0.0):
            self._held[key] = until

    async def _local_acquire(self, key: str, rate: float, burst: int) -> None:
        """A token from the in-process fallback, after any pause held in this process.

        Callers that already hold a slot of the fallback when a pause comes keep it (unlike
        the in-process limiter's own pause): a 429 while Redis is away is the rare case.
        """
        loop = asyncio.get_running_loop()
        waited = None
        # Again only if a longer pause came meanwhile (not for a clock a hair short of it).
        while (until := self._held.get(key)) is not None and until != waited:
            delay = until - loop.time()
            if delay <= 0:
                break
            waited = until
            await _sleep(delay)
        await self._fallback.acquire(key, rate=rate, burst=burst)

    # --- Redis calls, and the circuit ------------------------------------------------------------

    async def _run(self, key: str, *args: float | str) -> tuple[int, int]:
        name = self._prefix + key
        if sys.version_info >= (3, 11):
            # No task per call (wait_for makes one before 3.12): a tenth of an acquire's cost.
            async with asyncio.timeout(self._timeout):
                reply = await self._script(name, args)
        else:
            reply = await asyncio.wait_for(self._script(name, args), self._timeout)
        wait, shift = reply
        return int(wait), int(shift)

    async def _script(self, name: str, args: tuple[float | str, ...]) -> Any:
        margin = EXPIRY_MARGIN_MS
        try:
            return await self._redis.evalsha(SCRIPT_SHA, 1, name, *args, margin)
        except self._no_script:
            # Redis restarted or flushed its scripts: EVAL runs the script and caches it again.
            return await self._redis.eval(SCRIPT, 1, name, *args, margin)

    def _redis_allowed(self) -> bool:
        """Whether to try Redis now: always while it works; once per ``recheck_after`` when not."""
        if self._down_until is None:
            return True
        now = asyncio.get_running_loop().time()
        if now < self._down_until:
            return False
        # This call probes; the others keep to the fallback until it has an answer.
        self._down_until = now + self._recheck_after
        return True

    # The circuit changes state only on the answer of a call that started in its current state:
    # while Redis goes down (or comes back), calls sent before the change still end either way,
    # and must not flip it back and forth (logging a warning per flip).

    def _answered(self, generation: int) -> None:
        if self._down_until is not None and generation == self._generation:
            self._down_until = None
            self._generation += 1
            logger.info(
                "Redis rate limiter at %s is back: limits hold fleet-wide again.", self._where
            )

    def _note_failure(self, exc: BaseException, generation: int) -> None:
        if generation != self._generation:
            return  # sent before the circuit last changed: that change already counted
        first = self._down_until is None
        self._down_until = asyncio.get_running_loop().time() + self._recheck_after
        if not first:
            return  # the probe failed: the circuit stays open, nothing new to say
        self._generation += 1
        if self._on_failure == "fallback":
            logger.warning(
                "Redis rate limiter at %s failed (%s); limiting in this process only until it "
                "answers again (tried every %g s). Fleet-wide limits do not hold meanwhile.",
                self._where,
                self._reason(exc),
                self._recheck_after,
            )

    def _failed(self, exc: BaseException, generation: int) -> None:
        self._note_failure(exc, generation)
        if self._on_failure == "raise":
            raise self._unavailable(exc)  # the reason is in the message; not chained

    def _reason(self, exc: BaseException | None) -> str:
        if exc is None:
            return f"it failed less than {self._recheck_after:g} s ago"
        if isinstance(exc, asyncio.TimeoutError):
            return f"no answer within {self._timeout:g} s"
        text = clean_server_text(str(exc)) if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def _unavailable(self, exc: BaseException | None) -> RateLimiterUnavailableError:
        """The error of ``on_failure="raise"`` (the CLI names its option in its own)."""
        message = (
            f"The rate limiter's Redis at {self._where} is unavailable "
            f"({self._reason(exc).rstrip('.')}); "
            "nothing was sent. Start Redis or fix its URL, or use on_failure='fallback' to "
            "limit in-process while it is away."
        )
        return RateLimiterUnavailableError(message, url=self._where)

    async def _wait(self, key: str, wait: int, shift: int) -> None:
        """Sleep ``wait`` µs, and longer if a pause this process hears of moves the slot."""
        watch = self._watches.get(key)
        if watch is not None:
            watch.shift = max(watch.shift, shift)
        if wait <= 0:
            return
        if watch is None:
            watch = self._watches[key] = _Watch(shift)
        watch.waiters += 1
        seen = shift
        delay = wait / 1e6
        try:
            while True:
                await _sleep(delay)
                moved = watch.shift - seen
                if moved <= 0:
                    return
                # A pause began after this slot was given: wait it out, keeping the place.
                seen += moved
                delay = moved / 1e6
        finally:
            watch.waiters -= 1
            if watch.waiters == 0 and self._watches.get(key) is watch:
                del self._watches[key]
