"""Log export: the request and the job's status.

The rows of the CSV files a job produces are :class:`LogRecord` (``_log_records``, re-exported
here).
"""

# No "from __future__ import annotations" here: see _models.py (get_type_hints on re-exports).
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

import attrs

from . import _validators as v
from . import _validators_ops as vo
from ._converters import array_in, parse_datetime
from ._errors import ValidationError
from ._log_records import LogRecord, aparse_log_records, log_record_from_row, parse_log_records
from ._models import _mask_repr, _StrEnum
from ._redact import redact_link

__all__ = [
    "LogExportRequest",
    "LogExportStarted",
    "LogExportState",
    "LogExportStatus",
    "LogRecord",
    "aparse_log_records",
    "log_record_from_row",
    "parse_log_records",
]


class LogExportState(_StrEnum):
    """The state of a log export job."""

    QUEUED = "queued"
    """Waiting in 8x8's queue."""
    RUNNING = "running"
    """Being written."""
    SUCCEEDED = "succeeded"
    """Done: ``LogExportStatus.links`` holds the CSV download links."""
    FAILED = "failed"
    """The export failed."""
    CANCELLED = "cancelled"
    """Cancelled (``cancel_log_export``)."""
    EMPTY = "empty"
    """Done, and no message matched: there is nothing to download."""
    ERROR = "error"
    """An internal error at 8x8."""


#: The type of ``LogExportStatus.status``: the member, or the raw string of a state 8x8 added.
LogExportStateTypes = LogExportState | str

_FINAL_STATES = frozenset(
    {
        LogExportState.SUCCEEDED,
        LogExportState.FAILED,
        LogExportState.CANCELLED,
        LogExportState.EMPTY,
        LogExportState.ERROR,
    }
)


# --- request -------------------------------------------------------------------------------------


def _instant(value: date) -> datetime:
    # A date is the start of that day in UTC, which is how 8x8 reads "yyyy-MM-dd".
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


#: How far back 8x8 starts an export whose start is omitted.
_DEFAULT_SPAN = timedelta(days=7)


def _utc_day(value: date) -> date:
    return _instant(value).astimezone(timezone.utc).date()


def _countries(value: Sequence[str] | None) -> tuple[str, ...] | None:
    # A list becomes a tuple (frozen, and a copy); a str is a Sequence too, and refused.
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ValidationError("countries", "a list of ISO 3166-1 alpha-2 codes")
    return tuple(value)


@attrs.frozen(kw_only=True)
class LogExportRequest:
    """The body of ``POST /api/v1/subaccounts/{subAccountId}/messages/exports``.

    Every field is optional: 8x8 exports the last 7 days (UTC) when ``start`` and ``end`` are
    omitted. A ``date`` is sent as ``yyyy-MM-dd`` (a UTC day), an aware ``datetime`` as an
    RFC 3339 UTC timestamp.
    """

    start: date | datetime | None = attrs.field(
        default=None, validator=vo.log_date, metadata={"wire": "from"}
    )
    """The first day or instant to export (wire ``from``); 8x8's default is 7 days ago."""
    end: date | datetime | None = attrs.field(
        default=None, validator=vo.log_date, metadata={"wire": "to"}
    )
    """The last day or instant to export (wire ``to``); 8x8's default is today."""
    phone_number: str | None = attrs.field(default=None, validator=vo.e164, repr=_mask_repr)
    """Only messages to or from this number (E.164, ``+`` optional)."""
    countries: tuple[str, ...] | None = attrs.field(
        default=None, converter=_countries, validator=vo.countries
    )
    """Only messages to these countries (ISO 3166-1 alpha-2 codes)."""
    limit: int | None = attrs.field(default=None, validator=vo.int_range(0, v.MAX_JSON_INT))
    """The most records to export; 0 means no limit."""

    def __attrs_post_init__(self) -> None:
        if self.start is not None and self.end is not None:
            if _instant(self.start) > _instant(self.end):
                raise ValidationError("start", "no later than end")
            return
        # An omitted bound takes 8x8's default (from: 7 days ago, to: today, UTC); a given one
        # on the wrong side of it is refused here rather than by 8x8 (400, code 1010).
        today = v._now().date()
        if self.start is not None and _utc_day(self.start) > today:
            raise ValidationError("start", "no later than today (UTC) when end is omitted")
        if self.end is not None and _utc_day(self.end) < today - _DEFAULT_SPAN:
            raise ValidationError("end", "no earlier than 7 days ago (UTC) when start is omitted")


# --- responses -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LogExportStarted:
    """8x8's answer to ``start_log_export`` (HTTP 202)."""

    job_id: str
    """The export job's id, for ``get_log_export`` and ``cancel_log_export``."""


def _links_repr(value: tuple[str, ...]) -> str:
    # Each link ends in a secret download token: shown as origin and path, the token hidden.
    return repr(tuple(redact_link(link) for link in value))


def _lenient_datetime_in(value: object) -> object:
    # The links' expiry is informative: a timestamp we cannot read must not hide the links.
    if not isinstance(value, str):
        return None
    try:
        parse_datetime(value)
    except ValueError:
        return None
    return value


@attrs.frozen(kw_only=True)
class LogExportStatus:
    """The state of a log export job (``get_log_export``, ``export_logs``)."""

    status: LogExportStateTypes
    """The job's state (a state the SDK does not know is kept as the raw string)."""
    links: tuple[str, ...] = attrs.field(
        default=(), metadata={"wire": "data", "wire_in": array_in}, repr=_links_repr
    )
    """The CSV download links (wire ``data``), when the job succeeded; else empty."""
    expires: datetime | None = attrs.field(default=None, metadata={"wire_in": _lenient_datetime_in})
    """When the links stop working (a month after the job succeeded); None when unknown."""
    job_id: str | None = None
    """The job's id (not in 8x8's answer: the client fills it in)."""

    @property
    def is_final(self) -> bool:
        """True once the job will not change: succeeded, failed, cancelled, empty or error.

        A state the SDK does not know is taken as not final, so ``export_logs`` keeps polling
        (until its ``max_wait``).
        """
        return self.status in _FINAL_STATES

    @property
    def succeeded(self) -> bool:
        """True when the job finished with files to download (``links``)."""
        return self.status == LogExportState.SUCCEEDED
