"""The sandbox's records: messages, batches, webhooks and export jobs, as plain data.

The bottom of the sandbox's modules: it imports none of the others but the rules and the price
list, so that the state, the receipts and the routes can all build on it.
"""

from __future__ import annotations

import math
import secrets
import string
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from ._pricing import CURRENCY, DEFAULT_PRICE
from ._rules import stamp_2

__all__ = [
    "CANCELLED_CODE",
    "CANCELLED_MESSAGE",
    "TEST_NUMBERS",
    "Batch",
    "ExportJob",
    "StoredMessage",
    "WebhookConfig",
    "WebhookOAuth",
    "new_token",
]

_ALPHANUMERIC = string.ascii_letters + string.digits


#: Details and receipts of a cancelled message: 8x8's delivery error 20.
CANCELLED_CODE, CANCELLED_MESSAGE = 20, "Local cancel"

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
    price_per_sms: Decimal = DEFAULT_PRICE
    """The per-part price of the destination's operator (see ``_pricing``)."""
    country_code: str | None = None
    """The alpha-2 country of the destination, from its dialing prefix (or ``country``)."""
    network: tuple[str, str, str] | None = None
    """(operator, MCC, MNC) the sandbox routes the message to, when its country is listed."""
    batch_id: str | None = None
    client_batch_id: str | None = None
    cancelled: bool = False
    """Cancelled while it waited for its ``scheduled`` time: never sent, never charged."""
    pii_deleted: bool = False
    """``DELETE .../pii`` removed the number: details and exports show it empty."""

    def cancellable(self, now_mono: float) -> bool:
        """Whether a cancel reaches it: scheduled, not yet due, not rejected or cancelled."""
        return (
            self.final_state != "failed"
            and not self.cancelled
            and self.start_delay > 0
            and now_mono < self.created_mono + self.start_delay
        )

    def charge(self, now_mono: float, sent_after: float) -> Decimal:
        """What the account has paid for it ``now_mono``: every part, once it was sent.

        Only a message that ends delivered is charged, as its receipt says; an undelivered
        one, a REJECTED or a cancelled one costs nothing.
        """
        if self.final_state != "delivered" or self.cancelled:
            return Decimal(0)
        if now_mono - self.created_mono - self.start_delay < sent_after:
            return Decimal(0)
        return self.price_per_sms * self.sms_count

    def state_at(self, now_mono: float, sent_after: float, delivered_after: float) -> str:
        """The message's state ``now_mono``."""
        if self.final_state == "failed" or self.cancelled:
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
            failed: dict[str, Any] = {"state": "failed", "timestamp": stamp_2(self.created_at)}
            if self.cancelled:
                failed["errorCode"] = CANCELLED_CODE
            failed["errorMessage"] = self.error_message
            return failed
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
        if state in ("failed", "undelivered") or self.cancelled:
            return None
        return {
            "total": float(self.price_per_sms * self.sms_count),
            "perSms": float(self.price_per_sms),
            "currency": CURRENCY,
        }

    def receipt(self, sent_after: float, delivered_after: float) -> dict[str, Any]:
        """The final delivery receipt, in 8x8's webhook envelope."""
        status = self.status(math.inf, sent_after, delivered_after)
        if status["state"] == "failed":
            status["state"] = "rejected"  # the receipts' word for the details' "failed"
        payload: dict[str, Any] = {
            "umid": self.umid,
            "subAccountId": self.subaccount_id,
            "source": self.source,
            # After a PII deletion the number is gone: the receipt says so with an empty string.
            "destination": "" if self.pii_deleted else f"+{self.destination}",
            "status": status,
            "smsCount": self.sms_count,
        }
        if self.client_message_id is not None:
            payload["clientMessageId"] = self.client_message_id
        if self.batch_id is not None:
            payload["batchId"] = self.batch_id
        if self.client_batch_id is not None:
            payload["clientBatchId"] = self.client_batch_id
        price = self.price(self.final_state)
        if price is not None:
            payload["price"] = price
        return {
            "namespace": "SMS",
            "eventType": "outbound_message_status_changed",
            "description": "SMS outbound message delivery receipt",
            "payload": payload,
        }


@attrs.define
class Batch:
    """A batch the sandbox accepted: its id, its client's id, and its messages' UMIDs."""

    batch_id: str
    subaccount_id: str
    client_batch_id: str | None
    umids: list[str] = attrs.Factory(list)


@attrs.frozen
class WebhookOAuth:
    """OAuth 2.0 client credentials of a webhook; the secret is never shown."""

    url: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    credentials_location: str
    scope: str | None = None

    def masked(self) -> dict[str, Any]:
        """The object as ``GET .../webhooks`` shows it: ``clientSecret`` is ``***``."""
        shown = {
            "url": self.url,
            "clientId": self.client_id,
            "clientSecret": "***",
            "credentialsLocation": self.credentials_location,
        }
        if self.scope is not None:
            shown["scope"] = self.scope
        return shown


@attrs.frozen
class WebhookConfig:
    """One configured webhook (8x8's ``Webhook`` object); secrets are never shown."""

    subaccount_id: str
    url: str
    enabled: bool = True
    http_authorization: str | None = attrs.field(default=None, repr=False)
    oauth: WebhookOAuth | None = None

    def masked(self) -> dict[str, Any]:
        """The object as ``GET .../webhooks`` shows it, secrets as ``***``."""
        shown: dict[str, Any] = {
            "subAccountId": self.subaccount_id,
            "url": self.url,
            "enabled": self.enabled,
        }
        if self.http_authorization is not None:
            shown["httpAuthorization"] = "***"
        if self.oauth is not None:
            shown["oauth"] = self.oauth.masked()
        return shown


def new_token() -> str:
    """A job id or download token: 64 letters and digits, as 8x8's job ids are."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(64))


@attrs.define
class ExportJob:
    """One log export job and what it selects."""

    job_id: str
    subaccount_id: str
    created_mono: float
    start: datetime
    end: datetime
    phone_number: str | None = attrs.field(default=None, repr=False)
    countries: frozenset[str] | None = None
    limit: int = 0
    cancelled: bool = False
    token: str = attrs.Factory(new_token)
    rows: list[dict[str, str]] | None = attrs.field(default=None, repr=False)
    """The CSV rows, taken when the job ended (None before)."""
    ended_at: datetime | None = None
    failure: str | None = None
    """``failed`` or ``error`` when the job ended so (``SandboxState.export_failure``)."""
