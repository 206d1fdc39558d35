"""What the sandbox knows: messages, batches, export jobs, the account, and the receipts it owes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx

from ._faults import Faults
from ._pricing import CURRENCY
from ._records import TEST_NUMBERS, Batch, ExportJob, StoredMessage, WebhookConfig
from ._scheduler import SandboxClock

__all__ = ["CURRENCY", "MAX_ARRIVALS", "TEST_NUMBERS", "Batch", "SandboxState", "StoredMessage"]

#: Arrivals kept per subaccount (and for the account): the latest ones, so memory stays bounded.
MAX_ARRIVALS = 100_000
#: Receipt posts in flight at once, below the webhook client's pool of 100 connections.
RECEIPT_POSTS_IN_FLIGHT = 50


@attrs.define(kw_only=True)
class SandboxState:
    """Everything the sandbox knows; tests read it to see what the server saw."""

    api_key: str = attrs.field(repr=False)
    subaccounts: frozenset[str]
    account_id: str = attrs.Factory(lambda: str(uuid.uuid4()))
    """The account the key belongs to (a GUID); account routes accept only this one."""
    sent_after: float = 1.0
    delivered_after: float = 2.0
    details_per_second: float = 1.0
    details_jitter: float = 0.05
    """Slack granted to the 1 request/s rule, for scheduling jitter between client and server."""
    dlr_retry_delays: tuple[float, ...] = (1.0, 10.0, 30.0, 90.0)
    export_queued_for: float = 1.0
    """Seconds of sandbox time a log export job stays ``queued``."""
    export_running_for: float = 1.0
    """Seconds of sandbox time it then stays ``running`` before it ends."""
    export_failure: str | None = None
    """``failed`` or ``error``: how jobs that end from now on end (None: they succeed)."""
    start_balance: Decimal = Decimal("100")
    """The prepaid balance before any message was charged, in ``CURRENCY``."""
    postpaid: bool = False
    """A post-paid account: the balance route answers 403 / code 1201."""
    prices_as_arrays: bool = False
    """Serve the price list in the file's schema shape instead of its examples' shape."""
    faults: Faults = attrs.Factory(Faults)
    clock: SandboxClock = attrs.Factory(SandboxClock)
    messages: dict[str, StoredMessage] = attrs.Factory(dict)
    batches: dict[str, Batch] = attrs.Factory(dict)
    exports: dict[str, ExportJob] = attrs.Factory(dict)
    webhooks: dict[str, WebhookConfig] = attrs.Factory(dict)
    """The account's webhook configuration, per ``subAccountId`` (``*`` = every subaccount)."""
    requests: Counter[str] = attrs.Factory(Counter)
    """Requests received per endpoint, faults included."""
    details_times: dict[str, list[float]] = attrs.Factory(lambda: defaultdict(list))
    """Monotonic arrival times of details requests answered 200, per subaccount."""
    rate_limited: Counter[str] = attrs.Factory(Counter)
    """429s the details rule sent, per subaccount."""
    arrivals: dict[str, deque[tuple[float, str]]] = attrs.Factory(dict)
    """``(time.monotonic(), endpoint)`` of every request on a route of an owned subaccount (or
    of the account), as it arrived (before faults, auth and rules), per subaccount or account
    id; the last :data:`MAX_ARRIVALS` of each. Read by ``GET /_sandbox/arrivals``."""
    dlr_attempts: list[tuple[str, str, int | None]] = attrs.Factory(list)
    """Each DLR delivery attempt: (umid, url, HTTP status or None on a connection failure)."""
    receipt_sink: Callable[[StoredMessage, dict[str, Any]], None] | None = None
    """When set, every receipt falls due into this callable (the message, the receipt body)
    instead of being posted anywhere: ``eightxeight_async.testing``'s in-process mock."""
    _last_details: dict[str, float] = attrs.Factory(dict)
    _tasks: set[asyncio.Task[None]] = attrs.Factory(set)
    _webhook_client: httpx.AsyncClient | None = None
    _receipt_gate: asyncio.Semaphore | None = None

    def spawn(self, work: Any) -> None:
        """Run the coroutine ``work`` in the background until it ends or the sandbox stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def webhook_client(self) -> httpx.AsyncClient:
        """The client receipts are posted with (made on first use)."""
        if self._webhook_client is None:
            self._webhook_client = httpx.AsyncClient(timeout=5.0)
        return self._webhook_client

    def receipt_gate(self) -> asyncio.Semaphore:
        """The bound on receipt posts in flight (made on first use).

        Thousands started at once (a bulk job's) would queue in the webhook client's pool past
        its 5 s pool timeout and fail as if the receiver were down.
        """
        if self._receipt_gate is None:
            self._receipt_gate = asyncio.Semaphore(RECEIPT_POSTS_IN_FLIGHT)
        return self._receipt_gate

    def receipt(self, message: StoredMessage) -> dict[str, Any]:
        """The final delivery receipt of ``message``, in 8x8's webhook envelope."""
        return message.receipt(self.sent_after, self.delivered_after)

    def balance(self) -> Decimal:
        """The prepaid balance now: the start balance less every part sent so far."""
        current = self.clock.mono()
        spent = sum(
            (m.charge(current, self.sent_after) for m in self.messages.values()), Decimal(0)
        )
        return self.start_balance - spent

    async def aclose(self) -> None:
        """Cancel pending receipts and jobs and close the webhook client."""
        self.clock.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
            self._webhook_client = None

    def note_arrival(self, owner: str, endpoint: str) -> None:
        """Record a request's arrival for ``owner`` (a subaccount the key owns, or the account)."""
        if owner not in self.subaccounts and owner != self.account_id:
            return  # any id can be in a path: keep only the known ones, so memory stays bounded
        log = self.arrivals.get(owner)
        if log is None:
            log = self.arrivals[owner] = deque(maxlen=MAX_ARRIVALS)
        log.append((time.monotonic(), endpoint))

    def details_allowed(self, subaccount: str) -> bool:
        """Apply 8x8's 1 request/s per subaccount rule to one details request."""
        current = time.monotonic()
        last = self._last_details.get(subaccount)
        spacing = 1.0 / self.details_per_second - self.details_jitter
        if last is not None and current - last < spacing:
            self.rate_limited[subaccount] += 1
            return False
        self._last_details[subaccount] = current
        self.details_times[subaccount].append(current)
        return True
