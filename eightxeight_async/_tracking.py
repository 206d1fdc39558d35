"""DeliveryTracker: a message's final state from its delivery receipt, polling only when late.

How it holds its state, and why:

- ``_entries``: one :class:`_Entry` per message being waited on or tracked, with its waiters'
  futures. An entry leaves when its message reaches a final state, when the last wait on it
  ends (resolved, timed out or cancelled), or, with nobody waiting, :data:`FORGET_AFTER` after it
  was tracked. So memory follows the messages in flight, not the messages ever sent.
- ``_unclaimed``: a bounded LRU of what is known of messages that have no entry: a receipt
  nobody waited on yet (in an OTP flow the receipt can beat the ``wait`` call: 8x8 is quick,
  the app slow), a final state a wait already returned (so that the next wait on the message
  gets the same :class:`Delivery` at once instead of a timeout or a poll), or a :class:`_Heard`:
  the last status, subaccount and late-receipt clock of a message whose waits gave up, so that
  the next wait keeps them (its timeout says what was heard, its polls go to the subaccount it
  was given and start when ``track`` said).
- ``_heap``: when each entry is next due (a poll, or its expiry), in one heap read by one poller
  task: one ``get_message`` in flight at a time, whatever the number of messages, so the
  tracker can never starve the client's 1 request/s details bucket of its other users by more
  than one request.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import logging
import math
from types import TracebackType
from typing import Protocol

from . import _clock
from ._errors import EightXEightError, NotFoundError, ValidationError
from ._models import MessageDetails, MessageStatus
from ._tracking_models import Delivery, DeliveryTimeoutError, is_final, later_status
from ._validators import check_path_id, check_subaccount_id
from ._webhook_models import (
    DeliveryReceipt,
    InboundMessage,
    SurveyResponse,
    UnknownEvent,
    WebhookEvent,
)

__all__ = ["FORGET_AFTER", "DeliveryTracker", "MessageSource"]

logger = logging.getLogger("eightxeight_async.tracking")

#: How long a tracked message nobody waits on is remembered: 8x8 forwards no receipt that comes
#: more than 48 hours after the send.
FORGET_AFTER = 48 * 3600.0

# A 404 this soon after tracking is 8x8's details lagging behind the send, not a wrong umid.
_DETAILS_LAG = 600.0

# Stale heap items (of entries that left) allowed beyond one item per live entry before the
# heap is rebuilt: rebuilding on every drop would make each drop cost O(n).
_HEAP_SLACK = 16


class MessageSource(Protocol):
    """What the tracker polls: ``AsyncSmsClient``, or anything with its ``get_message``."""

    async def get_message(self, umid: str, *, subaccount_id: str | None = None) -> MessageDetails:
        """Fetch the details of one message (see ``AsyncSmsClient.get_message``)."""
        ...


_RECEIPT_RULE = "a DeliveryReceipt (from parse_event or a WebhookReceiver)"
_EVENT_RULE = "a webhook event (DeliveryReceipt, InboundMessage, SurveyResponse or UnknownEvent)"


def _check_receipt(receipt: object) -> DeliveryReceipt:
    """``receipt`` if it is a receipt the tracker can file; ValidationError otherwise.

    attrs does not check field types, so a hand-built receipt is looked into too: a umid no
    ``wait`` could be called with, or a status without a text state, would otherwise fail
    deep inside the tracker (or sit in the table for nobody).
    """
    if not isinstance(receipt, DeliveryReceipt):
        raise ValidationError("receipt", _RECEIPT_RULE)
    check_path_id(receipt.umid, "receipt.umid")
    if not isinstance(receipt.status, MessageStatus) or not isinstance(receipt.status.state, str):
        raise ValidationError("receipt.status", "a MessageStatus with a state")
    if receipt.subaccount_id is not None and not isinstance(receipt.subaccount_id, str):
        raise ValidationError("receipt.subaccount_id", "a subaccount id or None")
    return receipt


def _seconds(value: object, field: str, *, positive: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        rule = "greater than 0" if positive else "0 or more"
        raise ValidationError(field, f"a finite number of seconds {rule}")
    return float(value)


class _Heard:
    """What is known of a message with no final state and no entry: kept for its next wait."""

    __slots__ = ("due", "last_status", "started", "subaccount_id")

    def __init__(
        self,
        last_status: MessageStatus | None,
        subaccount_id: str | None,
        started: float | None = None,
        due: float | None = None,
    ) -> None:
        self.last_status = last_status
        self.subaccount_id = subaccount_id
        self.started = started  # None: heard of (a receipt) but never tracked
        # When its next lookup was due: a wait right after a timed-out one must not poll again
        # at once (that would make poll_every the waits' timeout); None: never tracked.
        self.due = due

    def merged(self, newer: _Heard) -> _Heard:
        """Both records in one: the later status, the earlier clock, the newer of the rest."""
        status = self.last_status
        if newer.last_status is not None:
            status = later_status(status, newer.last_status)
        starts = [t for t in (self.started, newer.started) if t is not None]
        return _Heard(
            status,
            newer.subaccount_id or self.subaccount_id,
            min(starts) if starts else None,
            self.due if newer.due is None else newer.due,
        )


class _Entry:
    """One message being waited on or tracked."""

    __slots__ = ("due", "last_status", "seq", "started", "subaccount_id", "umid", "waiters")

    def __init__(self, umid: str, subaccount_id: str | None, started: float) -> None:
        self.umid = umid
        self.subaccount_id = subaccount_id
        self.started = started
        self.last_status: MessageStatus | None = None
        self.waiters: list[asyncio.Future[Delivery]] = []
        self.seq = -1  # the sequence number of this entry's one live heap item
        self.due = started  # when that item is due


class DeliveryTracker:
    """Resolves ``await tracker.wait(umid)`` from delivery receipts, polling only late ones.

    Feed it the receipts your :class:`~eightxeight_async.webhooks.WebhookReceiver` receives
    (``WebhookReceiver(tracker.handle, ...)``, or ``tracker.feed(receipt)`` in your own
    handler). A message whose final receipt has not come ``poll_after`` seconds after it was
    tracked is looked up with the client's ``get_message``, then every ``poll_every`` seconds,
    one request at a time through the client's own rate limiter (8x8 allows 1 request/s per
    subaccount for details: the client's bucket paces the tracker and your own calls together).
    Without a client it waits on receipts alone.

    Memory follows the messages in flight: a message leaves the tracker when its final state
    is known, when the last wait on it ends, or 48 hours after it was tracked if nobody waits.
    What is known of messages nobody waits on is kept in a least-recently-used table of
    ``max_unclaimed`` messages: a receipt that beat ``wait`` (as in an OTP flow), a final
    state a wait already returned (a later ``wait`` returns the same :class:`Delivery` at
    once), and the last status of a message whose waits gave up.

    Use it on one event loop, from that loop's thread. Example::

        async with DeliveryTracker(client) as tracker:
            receiver = WebhookReceiver(tracker.handle, authorization="Basic ...")
            ...
            sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
            tracker.track(sent.umid)        # the late-receipt clock starts now
            delivery = await tracker.wait(sent.umid, timeout=120)
            print(delivery.state, delivery.via)
    """

    def __init__(
        self,
        client: MessageSource | None = None,
        *,
        poll_after: float = 60.0,
        poll_every: float = 60.0,
        max_unclaimed: int = 1_000,
    ) -> None:
        """Create a tracker.

        Args:
            client: The client whose ``get_message`` looks up messages whose receipt is late
                (an ``AsyncSmsClient``, or an object with an async ``get_message``); ``None``
                to rely on receipts alone.
            poll_after: Seconds from ``track`` (or the first ``wait``) to the first lookup of a
                message with no final receipt yet (0 or more).
            poll_every: Seconds between later lookups of the same message (above 0).
            max_unclaimed: How many messages nobody waits on to remember (0 or more): their
                final state, or their last status; the least recently used go first.

        Raises:
            ValidationError: ``client`` has no ``get_message``, or a setting is out of its
                range.
        """
        if client is not None and (
            isinstance(client, type) or not callable(getattr(client, "get_message", None))
        ):
            # Refused now: accepted, every poll would fail and log a traceback. A class (say
            # AsyncSmsClient itself, not an instance) has a get_message that cannot be called.
            raise ValidationError("client", "an AsyncSmsClient or an object with get_message")
        self._client = client
        self.poll_after = _seconds(poll_after, "poll_after", positive=False)
        self.poll_every = _seconds(poll_every, "poll_every", positive=True)
        if (
            isinstance(max_unclaimed, bool)
            or not isinstance(max_unclaimed, int)
            or max_unclaimed < 0
        ):
            raise ValidationError("max_unclaimed", "a whole number, 0 or more")
        self.max_unclaimed = max_unclaimed
        self._entries: dict[str, _Entry] = {}
        self._unclaimed: collections.OrderedDict[str, Delivery | _Heard] = collections.OrderedDict()
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = 0
        self._poller: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        polling = "off" if self._client is None else f"after {self.poll_after:g} s"
        state = "closed" if self._closed else f"tracking={len(self._entries)}"
        return f"<DeliveryTracker {state} remembered={len(self._unclaimed)} polling={polling}>"

    def __len__(self) -> int:
        """The number of messages being waited on or tracked."""
        return len(self._entries)

    async def __aenter__(self) -> DeliveryTracker:
        if self._closed:
            msg = "Cannot reopen a DeliveryTracker once it has been closed."
            raise RuntimeError(msg)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling and fail every pending wait with ``RuntimeError``; forget everything.

        Receipts fed after this are ignored. Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        entries = list(self._entries.values())
        self._entries.clear()
        self._unclaimed.clear()
        self._heap.clear()
        for entry in entries:
            for future in entry.waiters:
                if not future.done():
                    future.set_exception(RuntimeError("The DeliveryTracker was closed."))
        poller, self._poller = self._poller, None
        if poller is not None and not poller.done():
            poller.cancel()
            # asyncio.wait, not "await poller": the poller's own CancelledError must end here,
            # while a cancellation of the caller of aclose() still reaches it.
            await asyncio.wait([poller])

    # --- the public calls ----------------------------------------------------------------------

    def track(self, umid: str, *, subaccount_id: str | None = None) -> None:
        """Start the late-receipt clock of a message: call it right after the send.

        Without it the clock starts at the first :meth:`wait`. Tracking a message already
        tracked or waited on keeps its clock (a given ``subaccount_id`` replaces the one kept).

        Args:
            umid: The message's id, from ``send_sms``.
            subaccount_id: The subaccount to look it up under; the client's when omitted.

        Raises:
            ValidationError: ``umid`` or ``subaccount_id`` is not a valid id.
            RuntimeError: The tracker is closed, or no event loop is running.
        """
        self._check_open()
        umid = check_path_id(umid, "umid")
        if subaccount_id is not None:
            subaccount_id = check_subaccount_id(subaccount_id)
        if isinstance(self._unclaimed.get(umid), Delivery):
            return  # already final: the next wait returns it at once
        self._enter(umid, subaccount_id)

    async def wait(
        self, umid: str, *, timeout: float | None = None, subaccount_id: str | None = None
    ) -> Delivery:
        """Wait for a message's final state.

        Returns at once when its final state is already known: its receipt came (even before
        this call), or an earlier wait returned it. Several calls may wait on one message, at
        once or one after another; each gets the same :class:`Delivery` (as long as the message
        is among the ``max_unclaimed`` most recently used that nobody waits on). When the last
        wait on a message ends without a final state, only its last status is remembered.

        Args:
            umid: The message's id, from ``send_sms``.
            timeout: Seconds to wait at most (0 or more); ``None`` waits for ever.
            subaccount_id: The subaccount to look it up under; the client's when omitted.

        Returns:
            The final state (``delivered``, ``undelivered``, ``rejected``, ``failed`` or
            ``read``), from a receipt or from ``get_message``.

        Raises:
            DeliveryTimeoutError: No final state within ``timeout``; ``.last_status`` says
                what was last known.
            ValidationError: ``umid``, ``timeout`` or ``subaccount_id`` out of its rules.
            RuntimeError: The tracker is closed, or was closed while waiting.
        """
        self._check_open()
        umid = check_path_id(umid, "umid")
        limit = None if timeout is None else _seconds(timeout, "timeout", positive=False)
        if subaccount_id is not None:
            subaccount_id = check_subaccount_id(subaccount_id)
        known = self._unclaimed.get(umid)
        if isinstance(known, Delivery):
            # Kept, not claimed: the next wait on this message gets the same answer.
            self._unclaimed.move_to_end(umid)
            return known
        entry = self._enter(umid, subaccount_id)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()
        entry.waiters.append(future)
        timer = None
        if limit is not None:
            timer = _clock.call_later(loop, limit, self._time_out, entry, future, limit)
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()
            if future in entry.waiters:
                entry.waiters.remove(future)
            if not entry.waiters and self._entries.get(umid) is entry:
                self._release(entry)

    def feed(self, receipt: DeliveryReceipt) -> None:
        """Take one delivery receipt (final or not); cheap and synchronous.

        A final receipt resolves the waits on its message, or is kept for a later ``wait``. A
        non-final one (``queued``, ``sent``) is remembered as the last status. Receipts may
        come in any order: a final state is never replaced. Ignored once the tracker is closed.
        Call it on the tracker's event loop; from another thread (a synchronous web framework),
        use ``loop.call_soon_threadsafe(tracker.feed, receipt)``.

        Args:
            receipt: A receipt, e.g. from ``parse_event`` or a ``WebhookReceiver``.

        Raises:
            ValidationError: ``receipt`` is not a :class:`DeliveryReceipt`, or is one with a
                umid no ``wait`` could take or a status without a state.
        """
        receipt = _check_receipt(receipt)
        if self._closed:
            return
        entry = self._entries.get(receipt.umid)
        if entry is not None and entry.subaccount_id is None:
            entry.subaccount_id = receipt.subaccount_id
        if is_final(receipt.state):
            delivery = Delivery(
                umid=receipt.umid, status=receipt.status, via="receipt", receipt=receipt
            )
            if entry is not None:
                self._finish(entry, delivery)
            else:
                self._park(receipt.umid, delivery)
        elif entry is not None:
            entry.last_status = later_status(entry.last_status, receipt.status)
        else:
            self._park(receipt.umid, _Heard(receipt.status, receipt.subaccount_id, None))

    async def handle(self, event: WebhookEvent) -> None:
        """A :class:`~eightxeight_async.webhooks.WebhookReceiver` handler: feeds receipts.

        Inbound messages, survey responses and unknown events are ignored.

        Args:
            event: An event the receiver parsed.

        Raises:
            ValidationError: ``event`` is not a webhook event (see :meth:`feed` for receipts).
        """
        if isinstance(event, DeliveryReceipt):
            self.feed(event)
        elif not isinstance(event, (InboundMessage, SurveyResponse, UnknownEvent)):
            raise ValidationError("event", _EVENT_RULE)

    # --- entries, the unclaimed table, the heap --------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            msg = "The DeliveryTracker is closed."
            raise RuntimeError(msg)

    def _enter(self, umid: str, subaccount_id: str | None) -> _Entry:
        """The entry of ``umid``, created (and scheduled) when it has none."""
        entry = self._entries.get(umid)
        if entry is not None:
            if subaccount_id is not None:
                entry.subaccount_id = subaccount_id
            return entry
        now = _clock.now(asyncio.get_running_loop())
        entry = _Entry(umid, subaccount_id, now)
        known = self._unclaimed.pop(umid, None)
        first = self.poll_after if self._client is not None else FORGET_AFTER
        due = now + first
        if isinstance(known, _Heard):
            entry.last_status = known.last_status
            if subaccount_id is None:
                entry.subaccount_id = known.subaccount_id
            if known.started is not None:
                # The clock of the first track() or wait() stands, and so does the lookup
                # schedule: each new wait would otherwise put the first poll off again.
                entry.started = known.started
                due = entry.started + first if known.due is None else known.due
        self._entries[umid] = entry
        self._schedule(entry, due)
        return entry

    def _park(self, umid: str, known: Delivery | _Heard) -> None:
        """Keep what is known of a message nobody waits on, in the bounded LRU table."""
        if self.max_unclaimed == 0 or self._closed:
            return
        held = self._unclaimed.get(umid)
        if isinstance(held, Delivery):
            self._unclaimed.move_to_end(umid)
            return  # the first final state stands (a late "read" after "delivered", a retry)
        if isinstance(held, _Heard) and isinstance(known, _Heard):
            known = held.merged(known)
        self._unclaimed[umid] = known
        self._unclaimed.move_to_end(umid)
        while len(self._unclaimed) > self.max_unclaimed:
            self._unclaimed.popitem(last=False)

    def _finish(self, entry: _Entry, delivery: Delivery) -> None:
        """Resolve an entry's waits with its final state, and keep the state for later waits."""
        self._drop(entry)
        for future in entry.waiters:
            if not future.done():
                future.set_result(delivery)
        self._park(entry.umid, delivery)

    def _release(self, entry: _Entry, due: float | None = None) -> None:
        """An entry leaves with no final state: keep what it knew for a later wait.

        ``due``: when its next lookup is due; by default when its scheduled one was, or, with
        a lookup in flight (no live heap item), ``poll_every`` from now.
        """
        if due is None:
            if entry.seq == -1:
                due = _clock.now(asyncio.get_running_loop()) + self.poll_every
            else:
                due = entry.due
        self._drop(entry)
        heard = _Heard(entry.last_status, entry.subaccount_id, entry.started, due)
        self._park(entry.umid, heard)

    def _drop(self, entry: _Entry) -> None:
        if self._entries.get(entry.umid) is entry:
            del self._entries[entry.umid]
        entry.seq = -1
        if not self._entries:
            self._heap.clear()
        elif len(self._heap) > 2 * len(self._entries) + _HEAP_SLACK:
            # Stale items otherwise stay until due (up to 48 h): rebuild from the live ones.
            self._heap = [item for item in self._heap if self._live(item)]
            heapq.heapify(self._heap)
        self._nudge()

    def _live(self, item: tuple[float, int, _Entry]) -> bool:
        _, seq, entry = item
        return entry.seq == seq and self._entries.get(entry.umid) is entry

    def _schedule(self, entry: _Entry, due: float) -> None:
        self._seq += 1
        entry.seq = self._seq
        entry.due = due
        heapq.heappush(self._heap, (due, self._seq, entry))
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._run())
        else:
            self._nudge()

    def _nudge(self) -> None:
        """Wake the poller: the earliest due time may have changed."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _time_out(self, entry: _Entry, future: asyncio.Future[Delivery], limit: float) -> None:
        if not future.done():
            future.set_exception(
                DeliveryTimeoutError(entry.umid, last_status=entry.last_status, timeout=limit)
            )

    # --- the poller ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """The one poller task: sleeps until the earliest due entry, handles it, repeats.

        It ends when nothing is scheduled (a new schedule starts another), so an idle tracker
        holds no task.
        """
        loop = asyncio.get_running_loop()
        try:
            while self._heap:
                due, _, entry = item = self._heap[0]
                if not self._live(item):
                    heapq.heappop(self._heap)
                    continue
                if due > _clock.now(loop):
                    await self._sleep_until(loop, due)
                    continue
                heapq.heappop(self._heap)
                entry.seq = -1
                try:
                    await self._due(loop, entry)
                except Exception:  # the poller must outlive any bug or odd client
                    logger.exception("The delivery tracker failed on message %s.", entry.umid)
                    if self._entries.get(entry.umid) is entry and entry.seq == -1:
                        self._schedule(entry, _clock.now(loop) + self.poll_every)
        finally:
            if self._poller is asyncio.current_task():
                self._poller = None

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        wake: asyncio.Future[None] = loop.create_future()
        self._wake = wake
        timer = _clock.call_at(loop, due, _set_none, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _due(self, loop: asyncio.AbstractEventLoop, entry: _Entry) -> None:
        """An entry's time has come: forget it, poll it, or look again later."""
        now = _clock.now(loop)
        if not entry.waiters and now - entry.started >= FORGET_AFTER:
            self._release(entry, due=now)  # a wait that comes later looks it up at once
            return
        if self._client is None:
            self._schedule(entry, now + FORGET_AFTER)
            return
        try:
            details = await self._client.get_message(entry.umid, subaccount_id=entry.subaccount_id)
        except NotFoundError:
            # 8x8's details lag behind the send; later, a 404 means a wrong umid or subaccount.
            late = _clock.now(loop) - entry.started > _DETAILS_LAG
            logger.log(
                logging.WARNING if late else logging.DEBUG,
                "8x8 does not know message %s yet (404); looking again in %g s.",
                entry.umid,
                self.poll_every,
            )
        except EightXEightError as exc:
            # The SDK's messages carry no key, text or full number: safe to log whole.
            logger.warning(
                "Looking up message %s failed: %s Trying again in %g s.",
                entry.umid,
                exc,
                self.poll_every,
            )
        else:
            # The waits may have ended during the call, and new ones begun (a new entry): the
            # answer goes to whoever waits now, or is kept for a later wait.
            current = self._entries.get(entry.umid)
            if is_final(details.status.state):
                delivery = Delivery(
                    umid=entry.umid, status=details.status, via="poll", details=details
                )
                if current is not None:
                    self._finish(current, delivery)
                else:
                    self._park(entry.umid, delivery)
                return
            if current is not None:
                current.last_status = later_status(current.last_status, details.status)
            else:
                due = _clock.now(loop) + self.poll_every
                heard = _Heard(details.status, entry.subaccount_id, entry.started, due)
                self._park(entry.umid, heard)
        if self._entries.get(entry.umid) is entry and entry.seq == -1:
            self._schedule(entry, _clock.now(loop) + self.poll_every)


def _set_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
