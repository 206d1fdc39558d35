"""The values of delivery tracking: :class:`Delivery`, :class:`DeliveryTimeoutError`, final states.

Apart from the tracker (``_tracking``), so that other parts of the SDK (the bulk journal) can
share the one definition of a final state without the poller.
"""

# No "from __future__ import annotations": Delivery is re-exported with another __module__,
# where typing.get_type_hints() could not resolve string annotations.
import asyncio
import sys
from typing import Literal

import attrs

from ._errors import EightXEightError
from ._models import MessageDetails, MessageStateTypes, MessageStatus
from ._redact import mask_numbers
from ._webhook_models import DeliveryReceipt

__all__ = ["FINAL_STATES", "Delivery", "DeliveryTimeoutError", "is_final", "later_status"]

#: The states after which a message changes no more. ``rejected`` is the receipts' word for the
#: details' ``failed``; ``read`` comes after ``delivered`` on channels that report it.
FINAL_STATES = frozenset({"delivered", "undelivered", "rejected", "failed", "read"})


def is_final(state: str) -> bool:
    """Whether a message in ``state`` changes no more (see :data:`FINAL_STATES`)."""
    # MessageState is a str enum: its members compare (and hash) as their wire values.
    return state in FINAL_STATES


if sys.version_info >= (3, 11):
    _TimeoutBase = TimeoutError
else:  # pragma: no cover - 3.10 only

    class _TimeoutBase(TimeoutError, asyncio.TimeoutError):
        """On 3.10 ``asyncio.TimeoutError`` is not the builtin: be caught by either."""


class DeliveryTimeoutError(EightXEightError, _TimeoutBase):
    """:meth:`DeliveryTracker.wait` gave up: no final state within ``timeout`` seconds.

    A ``TimeoutError`` too (and on Python 3.10 an ``asyncio.TimeoutError``). The message may
    still reach a final state later: its receipt, if it comes, is kept for a later ``wait``.

    Attributes:
        umid: The message waited on.
        last_status: The last non-final status seen (``queued``, ``sent``), from a receipt or
            a poll, by this wait or an earlier one; ``None`` when the tracker knows none.
        timeout: The seconds waited.
    """

    umid: str
    last_status: MessageStatus | None
    timeout: float | None

    def __init__(
        self,
        umid: str,
        *,
        last_status: MessageStatus | None = None,
        timeout: float | None = None,
    ) -> None:
        # "No status known", not "nothing heard": the tracker may have heard of the message and
        # forgotten it (its bounded table), or have been told nothing of it at all.
        seen = "no status known" if last_status is None else f"last state {last_status.state}"
        within = "" if timeout is None else f" within {timeout:g} s"
        # One argument only: OSError (TimeoutError's base) reads two as (errno, strerror).
        super().__init__(f"No final delivery state for message {umid!r}{within} ({seen}).")
        self.umid = umid
        self.last_status = last_status
        self.timeout = timeout

    def __reduce__(self) -> tuple[object, ...]:
        restore, (cls, args, state) = super().__reduce__()
        status = state.get("last_status")
        if isinstance(status, MessageStatus) and status.error_message is not None:
            # 8x8's error text may quote the number; a pickle travels further than the repr.
            masked = mask_numbers(status.error_message)
            state = {**state, "last_status": attrs.evolve(status, error_message=masked)}
        return (restore, (cls, args, state))


@attrs.frozen(kw_only=True)
class Delivery:
    """A message's final state, as :meth:`DeliveryTracker.wait` returns it."""

    umid: str
    """The message."""
    status: MessageStatus
    """Its final status: state, detail, the delivery error code and message, and when."""
    via: Literal["receipt", "poll"]
    """Where the state came from: a delivery receipt, or ``get_message`` (the receipt was late)."""
    receipt: DeliveryReceipt | None = None
    """The receipt, when ``via == "receipt"``."""
    details: MessageDetails | None = None
    """The message's details, when ``via == "poll"``."""

    @property
    def state(self) -> MessageStateTypes:
        """The final state: ``delivered``, ``undelivered``, ``rejected``, ``failed`` or ``read``."""
        return self.status.state

    @property
    def delivered(self) -> bool:
        """Whether the message reached the phone (``delivered``, or ``read`` after it)."""
        return self.status.state in ("delivered", "read")


def later_status(old: MessageStatus | None, new: MessageStatus) -> MessageStatus:
    """The more recent of two non-final statuses: receipts can arrive out of order."""
    if old is None or old.timestamp is None or new.timestamp is None:
        return new
    try:
        return new if new.timestamp >= old.timestamp else old
    except TypeError:  # one naive, one aware: no order to go by, so the newer arrival wins
        return new
