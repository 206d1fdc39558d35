"""A :class:`DedupeStore` in Redis, shared by every process that receives 8x8's webhooks."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["RedisDedupe"]


class RedisDedupe:
    """Event keys in Redis (``SET key NX PX ttl``): duplicates dropped across a fleet.

    Each key lives ``ttl`` seconds. 8x8's retries of one event span about two minutes (1, 10, 30
    and 90 s after the first post), so the default ten minutes covers them with room to spare,
    and Redis' memory holds only the events of the last ``ttl`` seconds.
    """

    def __init__(
        self, redis: Any, *, prefix: str = "eightxeight:webhook:", ttl: float = 600.0
    ) -> None:
        """Use an existing ``redis.asyncio`` client (never closed by this store).

        Args:
            redis: A ``redis.asyncio.Redis`` (or ``RedisCluster``) client.
            prefix: Put before every key, to share a Redis with other data.
            ttl: Seconds a key is kept (at least 1).

        Raises:
            ValueError: When ``ttl`` is below 1 second or not finite.
        """
        if not (math.isfinite(ttl) and ttl >= 1):
            msg = "ttl must be a finite number of seconds, at least 1"
            raise ValueError(msg)
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = int(ttl * 1000)
        self._owned = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisDedupe:
        """A store on its own client for ``url``, closed by :meth:`aclose`.

        Args:
            url: ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` or ``unix://...``.
            **options: ``prefix`` and ``ttl`` (see the class); the rest goes to
                ``redis.asyncio.from_url``.

        Raises:
            ImportError: Without the ``redis`` package (``pip install eightxeight-async[redis]``).
        """
        import redis.asyncio

        prefix = options.pop("prefix", "eightxeight:webhook:")
        ttl = options.pop("ttl", 600.0)
        store = cls(redis.asyncio.from_url(url, **options), prefix=prefix, ttl=ttl)
        store._owned = True
        return store

    def __repr__(self) -> str:
        return f"RedisDedupe(prefix={self._prefix!r}, ttl={self._ttl_ms / 1000:g})"

    async def first_seen(self, key: str) -> bool:
        """Record ``key``; True when no process recorded it within the last ``ttl`` seconds."""
        stored = await self._redis.set(self._prefix + key, b"1", nx=True, px=self._ttl_ms)
        return bool(stored)

    async def aclose(self) -> None:
        """Close the client if :meth:`from_url` made it."""
        if self._owned:
            close = getattr(self._redis, "aclose", None) or self._redis.close
            await close()
