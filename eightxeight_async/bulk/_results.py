"""What a bulk job reports: each row's state, its result, a reconciliation's counts, its errors."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from .._errors import EightXEightError
from .._models import MessageStateTypes

__all__ = [
    "BulkResult",
    "DeliverySummary",
    "InputChangedError",
    "InvalidRow",
    "JobInfo",
    "JournalBusyError",
    "JournalError",
    "ReconcileReport",
    "RowState",
]


class RowState(str, enum.Enum):
    """Where one row of a bulk job stands.

    ``ACCEPTED``, ``REJECTED`` and ``INVALID`` are final: a rerun never sends such a row again.
    ``UNKNOWN`` is held back until :func:`~eightxeight_async.bulk.reconcile` resolves it.
    """

    PENDING = "pending"
    """Not sent yet, or sent and provably refused before 8x8 took it (a rerun sends it)."""
    IN_FLIGHT = "in_flight"
    """Its batch request may be on the wire right now."""
    ACCEPTED = "accepted"
    """8x8 queued it (``umid`` set)."""
    REJECTED = "rejected"
    """8x8 refused it (``reason`` is 8x8's description)."""
    INVALID = "invalid"
    """Refused locally by a documented rule, never sent (``reason`` names the field and rule)."""
    UNKNOWN = "unknown"
    """Its request may or may not have reached 8x8; never resent without reconciliation."""


@attrs.frozen(kw_only=True)
class BulkResult:
    """The outcome of one row of a bulk job.

    ``send_many`` yields one per input row as each chunk completes; ``Journal.rows`` reads them
    back. No message text is kept and the number is masked.
    """

    row: int
    """The row's 0-based position in the input."""
    client_message_id: str
    """The row's reference at 8x8: the caller's, or ``f"{job_id}-{row}"``."""
    state: RowState
    """Where the row stands."""
    umid: str | None = None
    """8x8's id of the message, when it was accepted."""
    reason: str | None = None
    """8x8's description of a rejection, the rule an invalid row broke, or why it is unknown."""
    destination: str | None = None
    """The masked number (``+65******67``); ``None`` when read from the journal alone."""
    resumed: bool = False
    """The state comes from an earlier run of the job: nothing was sent for it now."""
    delivery: MessageStateTypes | None = None
    """The latest delivery state a receipt recorded (``delivered``, ``undelivered``,
    ``rejected``, ``read``, or ``queued``/``sent`` before a final one); ``None``: no receipt yet.
    Set by ``Journal.rows`` only (see ``Journal.record_receipts``)."""
    delivery_error: int | None = None
    """The receipt's delivery error code (``status.errorCode``), when it had one."""
    delivery_time: datetime | None = None
    """When 8x8 stamped that receipt's state (its ``status.timestamp``)."""


@attrs.frozen
class InvalidRow:
    """An input row its reader already found bad: ``send_many`` records it INVALID, never sends it.

    Put it where the row would have been (a malformed CSV line, bytes not in the file's
    encoding), so that the rows after it keep their positions, and a rerun after the line was
    fixed sends it.

    Attributes:
        reason: Why, as the result's ``reason`` (say where, e.g. the line; no number, no text).
    """

    reason: str


@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What :func:`~eightxeight_async.bulk.reconcile` found for a job's unknown rows."""

    job_id: str
    """The job reconciled."""
    checked: int
    """Rows that were UNKNOWN when it started."""
    found: int
    """Of those, rows the log export showed at 8x8 (``accepted + rejected``)."""
    accepted: int
    """Rows found queued or delivered: now ACCEPTED with their umid."""
    rejected: int
    """Rows found refused by 8x8 (state ``failed``): now REJECTED."""
    still_unknown: int
    """Rows not found; UNKNOWN unless ``resent`` counts them."""
    resent: int
    """Rows not found and put back to PENDING (``resend_unknown=True``), so that the next
    ``send_many`` over the same input sends them again."""
    duplicates: int = 0
    """Of the rows checked, those the export showed more than once (0 unless sent twice)."""
    records_read: int = 0
    """Records the export held in all."""
    start: datetime | None = None
    """The start of the exported window (``None`` when nothing needed an export)."""
    end: datetime | None = None
    """The end of the exported window."""


@attrs.frozen(kw_only=True)
class DeliverySummary:
    """A job's rows by delivery state, from the receipts the journal recorded.

    ``Journal.delivery_summary`` counts it; ``eightxeight bulk`` prints it after the row counts.
    """

    delivered: int
    """Rows whose receipt said ``delivered`` (or ``read``)."""
    undelivered: int
    """Rows whose receipt said ``undelivered`` (the operator or the phone did not take it)."""
    rejected: int
    """Rows whose receipt said ``rejected`` (8x8 refused the message: usually rows REJECTED
    in 8x8's answer already, which 8x8 also sends a receipt for)."""
    awaiting: int
    """ACCEPTED rows with no final receipt yet (none at all, or only ``queued``/``sent``)."""


@attrs.frozen(kw_only=True)
class JobInfo:
    """One job of a journal, as ``Journal.jobs()`` lists it."""

    job_id: str
    """The job's id."""
    subaccount_id: str
    """The subaccount its rows were sent with (reconciliation exports it)."""
    created_at: datetime
    """When the job was first started."""
    first_request: datetime | None
    """When its first batch request started (``None``: nothing sent yet)."""
    last_request: datetime | None
    """When its latest batch request ended or started."""


class JournalError(EightXEightError):
    """The journal cannot be used: another process holds it, or it is not a bulk journal."""


class JournalBusyError(JournalError):
    """The journal is open for writing elsewhere: another process, or another :class:`Journal`.

    One run at a time may send or reconcile a journal's jobs; wait for the other to finish.
    """


class InputChangedError(JournalError):
    """A resumed job's input is not the input the journal recorded.

    Raised before the changed rows are sent. The message names the job and the first row that
    differs, never the row's content.

    Attributes:
        job_id: The job.
        row: The first row found to differ (``None`` when the template or mode differs).
    """

    job_id: str
    row: int | None

    def __init__(self, job_id: str, row: int | None) -> None:
        self.job_id = job_id
        self.row = row
        what = "the template or the kind of input" if row is None else f"row {row}"
        super().__init__(
            f"The input of bulk job {job_id!r} changed since the journal recorded it: {what} "
            "differs. Resume with the same input (same rows, same order, same template), or "
            "start a new job id."
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (InputChangedError, (self.job_id, self.row))
