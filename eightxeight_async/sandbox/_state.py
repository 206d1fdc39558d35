"""What the sandbox knows: the messages it answered with a UMID, their lifecycle and receipts."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import httpx

from ._faults import Faults
from ._rules import stamp_2

__all__ = ["CURRENCY", "TEST_NUMBERS", "SandboxState", "StoredMessage"]

_PRICE_PER_SMS = Decimal("0.0075")
CURRENCY = "EUR"

#: Destinations that end badly, so users can exercise those paths. Keys are digits without "+".
TEST_NUMBERS: dict[str, tuple[str, str | None, int | None, str | None]] = {
    "15550100001": ("undelivered", "rejected_by_operator", 15, "Invalid destination"),
    "15550100002": ("undelivered", "undelivered_to_recipient", 1, "Absent subscriber"),
    "15550100003": ("failed", None, None, "Invalid MSISDN format (not E.164 international number)"),
}


@attrs.define
class StoredMessage:
    """A message the sandbox answered with a UMID (QUEUED or REJECTED), and how it will end."""

    umid: str
    subaccount_id: str
    destination: str = attrs.field(repr=False)
    """E.164 digits without ``+``, after a national number was converted with ``country``."""
    source: str
    encoding: str
    sms_count: int
    created_at: datetime
    created_mono: float
    final_state: str
    """``delivered``, ``undelivered``, or ``failed`` for a REJECTED send."""
    detail: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    client_message_id: str | None = None
    dlr_callback_url: str | None = None
    country: str | None = None
    start_delay: float = 0.0
    """Seconds from acceptance to the ``scheduled`` time; the lifecycle starts then."""
    feedback: list[dict[str, Any]] = attrs.Factory(list)

    def state_at(self, now_mono: float, sent_after: float, delivered_after: float) -> str:
        """The message's state ``now_mono``."""
        if self.final_state == "failed":
            return "failed"
        age = now_mono - self.created_mono - self.start_delay
        if age < sent_after:
            return "queued"
        if age < delivered_after:
            return "sent"
        return self.final_state

    def status(self, now_mono: float, sent_after: float, delivered_after: float) -> dict[str, Any]:
        """The status object as it stands ``now_mono``, with 8x8's documented state/detail pairs.

        ``queued`` and ``sent`` have no detail; ``delivered_to_recipient`` goes with
        ``delivered``; ``rejected_by_operator`` and ``undelivered_to_recipient`` with
        ``undelivered``. A REJECTED send is ``failed`` (receipts call it ``rejected``).
        """
        state = self.state_at(now_mono, sent_after, delivered_after)
        start = self.created_at + timedelta(seconds=self.start_delay)
        if state == "failed":
            return {
                "state": "failed",
                "errorMessage": self.error_message,
                "timestamp": stamp_2(self.created_at),
            }
        if state == "queued":
            return {"state": "queued", "timestamp": stamp_2(self.created_at)}
        if state == "sent":
            return {"state": "sent", "timestamp": stamp_2(start + timedelta(seconds=sent_after))}
        status: dict[str, Any] = {
            "state": state,
            "detail": self.detail,
            "timestamp": stamp_2(start + timedelta(seconds=delivered_after)),
        }
        if self.error_code is not None:
            status["errorCode"] = self.error_code
            status["errorMessage"] = self.error_message
        return status

    def price(self, state: str) -> dict[str, Any] | None:
        """What the message costs in ``state``; None when nothing was charged.

        A REJECTED send and an undelivered message are not charged, as 8x8's receipts say by
        leaving ``price`` out.
        """
        if state in ("failed", "undelivered"):
            return None
        return {
            "total": float(_PRICE_PER_SMS * self.sms_count),
            "perSms": float(_PRICE_PER_SMS),
            "currency": CURRENCY,
        }


@attrs.define(kw_only=True)
class SandboxState:
    """Everything the sandbox knows; tests read it to see what the server saw."""

    api_key: str = attrs.field(repr=False)
    subaccounts: frozenset[str]
    sent_after: float = 1.0
    delivered_after: float = 2.0
    details_per_second: float = 1.0
    details_jitter: float = 0.05
    """Slack granted to the 1 request/s rule, for scheduling jitter between client and server."""
    dlr_retry_delays: tuple[float, ...] = (1.0, 10.0, 30.0, 90.0)
    faults: Faults = attrs.Factory(Faults)
    messages: dict[str, StoredMessage] = attrs.Factory(dict)
    requests: Counter[str] = attrs.Factory(Counter)
    """Requests received per endpoint, faults included."""
    details_times: dict[str, list[float]] = attrs.Factory(lambda: defaultdict(list))
    """Monotonic arrival times of details requests answered 200, per subaccount."""
    rate_limited: Counter[str] = attrs.Factory(Counter)
    """429s the details rule sent, per subaccount."""
    dlr_attempts: list[tuple[str, str, int | None]] = attrs.Factory(list)
    """Each DLR delivery attempt: (umid, url, HTTP status or None on a connection failure)."""
    _last_details: dict[str, float] = attrs.Factory(dict)
    _tasks: set[asyncio.Task[None]] = attrs.Factory(set)
    _webhook_client: httpx.AsyncClient | None = None

    def schedule_dlr(self, message: StoredMessage) -> None:
        """Post the final delivery receipt to the message's ``dlrCallbackUrl`` when it is due."""
        task = asyncio.get_running_loop().create_task(self._deliver_dlr(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def receipt(self, message: StoredMessage) -> dict[str, Any]:
        """The final delivery receipt of ``message``, in 8x8's webhook envelope."""
        final = time.monotonic() + 1e9
        status = message.status(final, self.sent_after, self.delivered_after)
        if status["state"] == "failed":
            status["state"] = "rejected"  # the receipts' word for the details' "failed"
        payload: dict[str, Any] = {
            "umid": message.umid,
            "subAccountId": message.subaccount_id,
            "source": message.source,
            "destination": f"+{message.destination}",
            "status": status,
            "smsCount": message.sms_count,
        }
        if message.client_message_id is not None:
            payload["clientMessageId"] = message.client_message_id
        price = message.price(message.final_state)
        if price is not None:
            payload["price"] = price
        return {
            "namespace": "SMS",
            "eventType": "outbound_message_status_changed",
            "description": "SMS outbound message delivery receipt",
            "payload": payload,
        }

    async def _deliver_dlr(self, message: StoredMessage) -> None:
        assert message.dlr_callback_url is not None
        if message.final_state != "failed":
            await asyncio.sleep(message.start_delay + self.delivered_after)
        body = self.receipt(message)
        if self._webhook_client is None:
            self._webhook_client = httpx.AsyncClient(timeout=5.0)
        # 8x8 tries once, then again after 1, 10, 30 and 90 seconds (scaled here).
        for delay in (0.0, *self.dlr_retry_delays):
            await asyncio.sleep(delay)
            try:
                answer = await self._webhook_client.post(message.dlr_callback_url, json=body)
            except httpx.HTTPError:
                self.dlr_attempts.append((message.umid, message.dlr_callback_url, None))
                continue
            self.dlr_attempts.append((message.umid, message.dlr_callback_url, answer.status_code))
            if answer.status_code < 400:
                return

    async def aclose(self) -> None:
        """Cancel pending receipts and close the webhook client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
            self._webhook_client = None

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
