"""Accepting one message (single, survey or batch item): its UMID, outcome, price and receipt."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote

from .._segments import count_segments
from ._dlr import schedule_receipt
from ._numbers import to_international
from ._pricing import country_of
from ._records import TEST_NUMBERS, Batch, StoredMessage
from ._rules import SUBACCOUNT_RE, UUID_RE, Rejected, error, path_id
from ._state import SandboxState

__all__ = ["QUEUED", "accept", "check_subaccount", "find_message"]

QUEUED = "SMS is accepted and queued for processing"


def check_subaccount(raw: str, state: SandboxState) -> str:
    """The path's subaccount id, or 400 / 1000 (malformed) or 1001 (not the key's)."""
    subaccount = unquote(raw)
    if not SUBACCOUNT_RE.fullmatch(subaccount):
        raise Rejected(error(400, 1000, "Invalid subAccountId."))
    if subaccount not in state.subaccounts:
        raise Rejected(error(400, 1001, "Provided subAccountId doesn't belongs to your account"))
    return subaccount


def find_message(state: SandboxState, subaccount: str, raw_umid: str) -> StoredMessage:
    """The subaccount's message of the path's UMID, or 400 / 1000 or 404 / 1300."""
    umid = path_id(raw_umid, "umid")
    if not UUID_RE.fullmatch(umid):
        raise Rejected(error(400, 1000, "Invalid umid."))
    message = state.messages.get(umid.lower())
    if message is None or message.subaccount_id != subaccount:
        raise Rejected(error(404, 1300, "Message not found."))
    return message


def accept(
    state: SandboxState,
    subaccount: str,
    fields: dict[str, Any],
    text: str | None,
    *,
    batch: Batch | None = None,
) -> dict[str, Any]:
    """Queue a message, or reject it in a 200 as 8x8 does for some content problems.

    Either way the message gets a UMID and is stored, so that details can be read for it.

    Args:
        state: The sandbox.
        subaccount: Its subaccount.
        fields: The checked fields (``_rules``), ``destination`` as sent.
        text: The text to send; None or empty is "Text value is missing".
        batch: The batch it belongs to.

    Returns:
        The ``SmsResponse`` body.
    """
    clock = state.clock
    source = fields.get("source")
    destination = to_international(fields["destination"], fields.get("country"))
    segments = count_segments(text or "", fields.get("encoding") or "AUTO")
    # `scheduled` and `expiry` are stamped with the client's clock, which an advance of the
    # sandbox's does not move: they are read against real time, and the wait they ask for is
    # then counted on the sandbox's clock (so an advance still skips it).
    created, real = clock.times()
    expiry = fields.get("expiry")
    reject: str | None = None
    if not text:
        reject = "Text value is missing"
    elif source is not None and len(source) > 16:
        reject = "Invalid Source value. Reached max allowed limit"
    elif expiry is not None and expiry <= real:
        reject = "Expiry time already reached"
    outcome = TEST_NUMBERS.get(destination, ("delivered", "delivered_to_recipient", None, None))
    if reject is None and outcome[0] == "failed":
        reject = outcome[3]
    start_delay = 0.0
    scheduled = fields.get("scheduled")
    if scheduled is not None:
        start_delay = max(0.0, (scheduled - real).total_seconds())
        if expiry is not None and expiry <= scheduled:
            # Still unsent when it expires: 8x8 discards it (delivery error 36).
            outcome = ("undelivered", "undelivered_to_recipient", 36, "SMS expired")
    country = country_of(destination)
    operator = country.operators[0] if country is not None else None
    country_code = country.alpha2 if country is not None else fields.get("country")
    message = StoredMessage(
        umid=str(uuid.uuid4()),
        subaccount_id=subaccount,
        destination=destination,
        source=source if source is not None else "8x8",
        encoding=segments.encoding,
        sms_count=segments.parts,
        created_at=created,
        created_mono=clock.mono(),
        final_state="failed" if reject is not None else outcome[0],
        detail=None if reject is not None else outcome[1],
        error_code=None if reject is not None else outcome[2],
        error_message=reject if reject is not None else outcome[3],
        client_message_id=fields.get("client_message_id"),
        dlr_callback_url=fields.get("dlr_callback_url"),
        country=fields.get("country"),
        start_delay=start_delay,
        country_code=country_code.upper() if isinstance(country_code, str) else None,
        network=(operator.name, *operator.hni[0]) if operator is not None else None,
        batch_id=batch.batch_id if batch is not None else None,
        client_batch_id=batch.client_batch_id if batch is not None else None,
    )
    if operator is not None:
        message.price_per_sms = operator.price
    state.messages[message.umid] = message
    if batch is not None:
        batch.umids.append(message.umid)
    schedule_receipt(state, message)
    body: dict[str, Any] = {
        "umid": message.umid,
        "destination": destination,
        "encoding": segments.encoding,
        "status": (
            {"code": "REJECTED", "description": reject}
            if reject is not None
            else {"code": "QUEUED", "description": QUEUED}
        ),
    }
    if message.client_message_id is not None:
        body["clientMessageId"] = message.client_message_id
    return body
