"""Configuration values: regions, default timeouts, retry policy and rate limits.

Every tunable default of the SDK lives here, so that a reader finds them in one place.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs
import httpx

from ._errors import ValidationError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "ENV_ACCOUNT_ID",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_CA_BUNDLE",
    "ENV_SUBACCOUNT_ID",
    "RateLimits",
    "Region",
    "RetryPolicy",
    "pool_limits",
]

ENV_API_KEY = "EIGHTXEIGHT_API_KEY"
ENV_SUBACCOUNT_ID = "EIGHTXEIGHT_SUBACCOUNT_ID"
#: The account of the account operations (prices, balance, webhooks), when not given.
ENV_ACCOUNT_ID = "EIGHTXEIGHT_ACCOUNT_ID"
ENV_BASE_URL = "EIGHTXEIGHT_BASE_URL"
#: A CA bundle path for the client's ``verify`` when it is not given (the sandbox prints one).
ENV_CA_BUNDLE = "EIGHTXEIGHT_CA_BUNDLE"

#: Finite by default: a send stuck forever on a dead connection is worse than a clear timeout.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0, pool=10.0)

#: Connections per client, and requests handed to the pool at once (see ``pool_limits``).
DEFAULT_MAX_CONNECTIONS = 100


def pool_limits(max_connections: int) -> httpx.Limits:
    """The httpx pool limits for ``max_connections`` connections.

    Keep-alive matches the pool size: with httpx's default of 20 kept alive out of 100, a busy
    worker closes and re-opens TLS connections all the time, each handshake costing milliseconds.
    """
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30,
    )


DEFAULT_LIMITS = pool_limits(DEFAULT_MAX_CONNECTIONS)


class Region(str, enum.Enum):
    """The 8x8 region an account is provisioned in; each has its own host (data residency)."""

    APAC = "APAC"
    """Asia Pacific, the default (data centre in Singapore): ``https://sms.8x8.com``."""
    NA = "NA"
    """North America: ``https://sms.us.8x8.com``."""
    EU = "EU"
    """Europe (UK/EEA, also Middle East and Africa): ``https://sms.8x8.uk``."""
    ID = "ID"
    """Indonesia: ``https://sms.8x8.id``."""

    def __str__(self) -> str:
        return str(self.value)

    @property
    def base_url(self) -> str:
        """The SMS API base URL of this region."""
        return _REGION_URLS[self]


_REGION_URLS = {
    Region.APAC: "https://sms.8x8.com",
    Region.NA: "https://sms.us.8x8.com",
    Region.EU: "https://sms.8x8.uk",
    Region.ID: "https://sms.8x8.id",
}


def _positive(field: str) -> Callable[[Any, attrs.Attribute[float], float], None]:
    def check(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValidationError(field, "a finite number greater than 0")

    return check


def _at_least_one(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("max_attempts", "an integer of at least 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how the client retries a failed request.

    Waits between attempts use exponential backoff with full jitter::

        wait(n) = random.uniform(0, min(max_wait, initial_wait * 2 ** (n - 1)))

    where ``n`` is the number of attempts made so far. A 429 that carries ``Retry-After`` waits
    exactly that long instead, capped at ``max_retry_after``.

    Retried: HTTP 429, HTTP 500 (8x8 code 2000 or an unparseable body), connection errors that
    happened before the request was sent, and timeouts or disconnects on reads (``get_message``
    and the other GETs) and on DELETEs (cancels, PII deletion, webhook removal), which are
    harmless to repeat. Never retried: other 4xx, 426, TLS and certificate failures, and
    timeouts of other requests that change something (feedback, starting a log export, setting
    a webhook). A send whose outcome is unknown raises ``SendOutcomeUnknownError`` unless
    ``replay_ambiguous_sends`` is true. The whole table is in ``eightxeight_async._retry``.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    """Every attempt counts, the first included: ``max_attempts=1`` never retries."""
    initial_wait: float = attrs.field(default=0.5, validator=_positive("initial_wait"))
    """The backoff ceiling after the first failure, in seconds; it doubles on each failure."""
    max_wait: float = attrs.field(default=30.0, validator=_positive("max_wait"))
    """The largest backoff wait between two attempts, in seconds."""
    max_retry_after: float = attrs.field(default=60.0, validator=_positive("max_retry_after"))
    """The longest ``Retry-After`` honoured, in seconds; a longer one is cut to this."""
    replay_ambiguous_sends: bool = False
    """Resend a message after a timeout or disconnect that came after the body went out.

    8x8 has no idempotency key, so a replay can deliver the same SMS twice. Leave this off for
    one-time passwords; turn it on only where a duplicate is cheaper than a lost message.
    """

    @classmethod
    def never(cls) -> RetryPolicy:
        """Return a policy that makes exactly one attempt."""
        return cls(max_attempts=1)


@attrs.frozen(kw_only=True)
class RateLimits:
    """Client-side rate limits, per subaccount (or account) and per endpoint class.

    8x8 allows 1800 requests/s per subaccount for sending and 1 request/s per subaccount for
    message details. Staying under them here turns 429 storms into short, orderly waits. The
    account operations (prices, balance, webhooks) have a bucket per account; 8x8 documents
    429 for them but no number, so the default is a modest 10 requests/s.
    """

    send_per_second: float = attrs.field(default=1800.0, validator=_positive("send_per_second"))
    """Requests per second per subaccount for every subaccount operation but ``get_message``."""
    send_burst: int = attrs.field(default=180)
    """How many send requests may go at once before the rate applies (100 ms worth by default).

    A burst of the whole 1800 would let close to 3600 through in one second at a window edge.
    """
    details_per_second: float = attrs.field(default=1.0, validator=_positive("details_per_second"))
    """Requests per second for ``get_message``."""
    details_burst: int = attrs.field(default=1)
    """Burst for ``get_message``: 1, since 8x8 counts details requests one per second."""
    account_per_second: float = attrs.field(default=10.0, validator=_positive("account_per_second"))
    """Requests per second per account for ``get_prices``, ``get_balance`` and the webhooks."""
    account_burst: int = attrs.field(default=10)
    """Burst for the account operations."""

    def __attrs_post_init__(self) -> None:
        for name in ("send_burst", "details_burst", "account_burst"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, "an integer of at least 1")

    @classmethod
    def unlimited(cls) -> RateLimits:
        """Return limits so high that they never wait (for tests against a local server)."""
        return cls(
            send_per_second=1e9,
            send_burst=10**9,
            details_per_second=1e9,
            details_burst=10**9,
            account_per_second=1e9,
            account_burst=10**9,
        )
