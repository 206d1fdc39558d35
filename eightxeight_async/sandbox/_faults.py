"""Fault injection for the sandbox: shares of failures, and queued failures for exact tests."""

from __future__ import annotations

import enum
import random
from collections import deque
from typing import Any

import attrs

from .._errors import ValidationError

__all__ = ["ENDPOINTS", "MAX_QUEUED", "MAX_RETRY_AFTER", "MAX_SLOW_SECONDS", "Fault", "Faults"]

#: The longest a slow answer is held back, in seconds.
MAX_SLOW_SECONDS = 3600.0
#: The largest ``Retry-After`` of an injected 429, in seconds (a day).
MAX_RETRY_AFTER = 86_400
#: The most faults that can wait in the queue at once (so memory stays bounded).
MAX_QUEUED = 100_000

#: The endpoint names faults can be aimed at: 8x8's 17 operations and the export download.
ENDPOINTS = (
    "send_sms",
    "send_survey",
    "get_message",
    "send_feedback",
    "send_batch",
    "send_survey_batch",
    "cancel_message",
    "cancel_batch",
    "delete_pii",
    "start_log_export",
    "get_log_export",
    "cancel_log_export",
    "download_log_export",
    "get_prices",
    "get_balance",
    "list_webhooks",
    "set_webhook",
    "delete_webhooks",
)


def _share(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    # Compared as numbers: NaN fails, and an int too big for a float does not overflow.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValidationError(attribute.name, "a share from 0 to 1")


def _seconds(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_SLOW_SECONDS  # False for NaN
    ):
        raise ValidationError(attribute.name, f"a number of seconds from 0 to {MAX_SLOW_SECONDS:g}")


def _retry_after(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRY_AFTER:
        raise ValidationError(
            attribute.name, f"a whole number of seconds from 0 to {MAX_RETRY_AFTER}"
        )


class Fault(str, enum.Enum):
    """A failure the sandbox can answer a request with."""

    RATE_LIMIT = "429"
    """HTTP 429 with ``Retry-After`` and 8x8's quota body."""
    INTERNAL_ERROR = "500"
    """HTTP 500 with 8x8's code 2000 body."""
    UPGRADE_REQUIRED = "426"
    """HTTP 426, code 1014, ``Upgrade: TLS/1.3``."""
    SLOW = "slow"
    """The answer comes after ``Faults.slow_seconds``."""
    DROP = "drop"
    """The connection is closed after the request was read, with no answer."""


@attrs.define(kw_only=True)
class Faults:
    """What the sandbox does wrong, on purpose.

    Shares (0 to 1) apply to every request of every endpoint, drawn from a seeded random
    generator; :meth:`inject` queues exact failures for the next requests, which tests prefer.
    """

    share_429: float = attrs.field(default=0.0, validator=_share)
    """Share of requests answered 429."""
    share_500: float = attrs.field(default=0.0, validator=_share)
    """Share of requests answered 500 / code 2000."""
    share_slow: float = attrs.field(default=0.0, validator=_share)
    """Share of requests answered after ``slow_seconds``."""
    share_drop: float = attrs.field(default=0.0, validator=_share)
    """Share of requests whose connection is dropped after the request was read."""
    slow_seconds: float = attrs.field(default=2.0, validator=_seconds)
    """How slow a slow answer is."""
    retry_after: int = attrs.field(default=1, validator=_retry_after)
    """The ``Retry-After`` seconds of an injected 429."""
    seed: int | None = None
    """Seed of the random draws, for repeatable demos."""
    _queue: deque[tuple[Fault, str | None]] = attrs.field(factory=deque, init=False)
    _random: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 (fault draws, not security)

    def inject(self, fault: Fault | str, count: int = 1, *, endpoint: str | None = None) -> None:
        """Answer the next ``count`` requests (of ``endpoint``, if given) with ``fault``.

        Args:
            fault: The failure, e.g. ``Fault.DROP`` or ``"429"``.
            count: How many requests it applies to (0 or more; at most :data:`MAX_QUEUED`
                faults wait at once).
            endpoint: One of :data:`ENDPOINTS` (``"send_sms"``, ``"get_balance"`` ...);
                any endpoint when None.

        Raises:
            ValidationError: An unknown fault or endpoint, or a count that is not a whole
                number of 0 or more (a ``ValueError``).
        """
        try:
            kind = Fault(fault)
        except ValueError:
            raise ValidationError("fault", f"one of {', '.join(f.value for f in Fault)}") from None
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 0 <= count <= MAX_QUEUED - len(self._queue)
        ):
            raise ValidationError(
                "count", f"a whole number, 0 or more, with at most {MAX_QUEUED} faults queued"
            )
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValidationError("endpoint", f"one of {', '.join(ENDPOINTS)}")
        for _ in range(count):
            self._queue.append((kind, endpoint))

    def queued(self) -> list[str]:
        """The queued faults, in order, as ``"kind"`` or ``"kind@endpoint"``."""
        return [f"{f.value}@{e}" if e else f.value for f, e in self._queue]

    def clear(self) -> None:
        """Forget queued faults and set every share back to 0."""
        self._queue.clear()
        self.share_429 = self.share_500 = self.share_slow = self.share_drop = 0.0

    def draw(self, endpoint: str) -> Fault | None:
        """The fault for one request of ``endpoint``, or None to answer normally."""
        for index, (fault, only) in enumerate(self._queue):
            if only is None or only == endpoint:
                del self._queue[index]
                return fault
        for fault, share in (
            (Fault.DROP, self.share_drop),
            (Fault.RATE_LIMIT, self.share_429),
            (Fault.INTERNAL_ERROR, self.share_500),
            (Fault.SLOW, self.share_slow),
        ):
            if share > 0 and self._random.random() < share:
                return fault
        return None
