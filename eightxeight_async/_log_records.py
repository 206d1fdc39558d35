"""The rows of a log export's CSV files, as typed :class:`LogRecord` objects.

The CSV is parsed here, row by row (it is CSV, not JSON: ``_converters`` stays the only module
that touches ``json``). A row 8x8 got wrong raises :class:`ResponseValidationError` naming the row
number and the column, never the value: the cells hold phone numbers and message text.
"""

# No "from __future__ import annotations" here: see _models.py (get_type_hints on re-exports).
import contextlib
import csv
import enum
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from ._converters import parse_datetime
from ._errors import ResponseValidationError
from ._models import (
    Direction,
    DirectionTypes,
    Encoding,
    EncodingTypes,
    MessageState,
    MessageStateTypes,
    StatusDetail,
    StatusDetailTypes,
    _hidden_repr,
    _id_repr,
    _mask_repr,
)
from ._redact import clean_server_text

__all__ = ["LogRecord", "aparse_log_records", "log_record_from_row", "parse_log_records"]


@attrs.frozen(kw_only=True)
class LogRecord:
    """One row of a log export CSV: one message, typed; empty cells are None.

    ``msisdn`` and ``body`` are redacted by 8x8 (and masked in this object's repr).
    """

    umid: str
    """The unique message id."""
    subaccount_id: str | None = None
    """The subaccount that sent or received the message."""
    direction: DirectionTypes | None = None
    """``outbound`` (CSV ``1``) or ``inbound`` (CSV ``0``)."""
    country: str | None = None
    """The destination's country."""
    operator: str | None = None
    """The destination's operator."""
    mcc: str | None = None
    """The recipient's mobile country code (text: leading zeros matter)."""
    mnc: str | None = None
    """The recipient's mobile network code (text: ``"01"`` is not ``"1"``)."""
    status: MessageStateTypes | None = None
    """The delivery state, e.g. ``delivered`` (unknown states kept as the raw string)."""
    status_detail: StatusDetailTypes | None = None
    """More detail about the delivery state."""
    error_code: int | None = None
    """The delivery error code, when delivery failed."""
    error_message: str | None = attrs.field(default=None, repr=_id_repr)
    """The delivery error's description (a number it quotes is masked in the repr)."""
    status_timestamp: datetime | None = None
    """When the delivery state last changed."""
    msisdn: str | None = attrs.field(default=None, repr=_mask_repr)
    """The recipient's number, redacted by 8x8."""
    # For an inbound message the sender is the end user's number: masked in the repr.
    source: str | None = attrs.field(default=None, repr=_id_repr)
    """The sender id."""
    encoding: EncodingTypes | None = None
    """The encoding of the body."""
    created_at: datetime | None = None
    """When the message was created at 8x8."""
    sms_count: int | None = None
    """How many parts the message was sent in."""
    price_currency: str | None = None
    """The billing currency."""
    price_per_sms: Decimal | None = None
    """The price of one part (exact decimal)."""
    price_total: Decimal | None = None
    """The price of the message, all parts (exact decimal)."""
    client_message_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your reference for the message."""
    client_batch_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your reference for its batch."""
    batch_id: str | None = None
    """8x8's id of its batch."""
    body: str | None = attrs.field(default=None, repr=_hidden_repr)
    """The message text, redacted by 8x8."""


# --- CSV -----------------------------------------------------------------------------------------


class _CellError(Exception):
    """A cell that is not what its column holds; ``what`` says what was expected."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _text(cell: str) -> str:
    return cell


def _integer(cell: str) -> int:
    text = cell.strip()
    # At most 18 digits: int() of a 5,000-digit cell would raise far from here, in a repr.
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        raise _CellError("an integer")
    return int(text)


def _decimal(cell: str) -> Decimal:
    try:
        result = Decimal(cell.strip())
    except InvalidOperation:
        raise _CellError("a number") from None
    if not result.is_finite():
        raise _CellError("a finite number")
    return result


_US_DATETIME_RE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AaPp][Mm]))?"
)


def _timestamp(cell: str) -> datetime:
    text = cell.strip()
    try:
        return parse_datetime(text)
    except ValueError:
        pass
    # .NET's en-US form ("7/1/2020 6:58:41 AM"), in case the file is written that way; UTC.
    match = _US_DATETIME_RE.fullmatch(text)
    if match is None:
        raise _CellError("a date and time")
    month, day, year, hour, minute, second, half = match.groups()
    hours = int(hour)
    if half is not None:
        if not 1 <= hours <= 12:
            raise _CellError("a date and time")
        hours = hours % 12 + (12 if half.lower() == "pm" else 0)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            hours,
            int(minute),
            int(second or 0),
            tzinfo=timezone.utc,
        )
    except ValueError:
        raise _CellError("a date and time") from None


def _direction(cell: str) -> DirectionTypes:
    text = cell.strip()
    if text == "1":
        return Direction.OUTBOUND
    if text == "0":
        return Direction.INBOUND
    folded = text.casefold()
    return next((d for d in Direction if d.value == folded), text)


def _open(enum_cls: type[enum.Enum]) -> Callable[[str], object]:
    known = {member.value.casefold(): member for member in enum_cls}

    def parse(cell: str) -> object:
        text = cell.strip()
        return known.get(text.casefold(), text)

    return parse


# CSV column (folded: lower case, letters and digits only) -> (LogRecord field, cell parser).
_COLUMNS: dict[str, tuple[str, Callable[[str], object]]] = {
    "umid": ("umid", _text),
    "subaccountid": ("subaccount_id", _text),
    "direction": ("direction", _direction),
    "country": ("country", _text),
    "operator": ("operator", _text),
    "mcc": ("mcc", _text),
    "mnc": ("mnc", _text),
    "statusvalue": ("status", _open(MessageState)),
    "statusdetails": ("status_detail", _open(StatusDetail)),
    "statuserrorcode": ("error_code", _integer),
    "statuserrormessage": ("error_message", _text),
    "statustimestamp": ("status_timestamp", _timestamp),
    "msisdn": ("msisdn", _text),
    "source": ("source", _text),
    "encoding": ("encoding", _open(Encoding)),
    "createdat": ("created_at", _timestamp),
    "smscount": ("sms_count", _integer),
    "pricecurrency": ("price_currency", _text),
    "pricepersms": ("price_per_sms", _decimal),
    "pricetotal": ("price_total", _decimal),
    "clientmessageid": ("client_message_id", _text),
    "clientbatchid": ("client_batch_id", _text),
    "batchid": ("batch_id", _text),
    "body": ("body", _text),
}
_FOLD_RE = re.compile(r"[^0-9a-z]")


def _csv_error(message: str, path: str) -> ResponseValidationError:
    return ResponseValidationError(f"8x8's log export CSV {message}.", path=path)


_FOLDED: dict[str, tuple[str, Callable[[str], object]] | None] = {}


def _column(name: str) -> tuple[str, Callable[[str], object]] | None:
    """The LogRecord field and cell parser of a CSV column name (case, ``_``, BOM aside)."""
    known = _FOLDED.get(name, ())
    if known == ():
        known = _COLUMNS.get(_FOLD_RE.sub("", name.lstrip("\ufeff").casefold()))
        if len(_FOLDED) < 1000:  # a hostile file cannot grow the cache without bound
            _FOLDED[name] = known
    return known  # type: ignore[return-value]


def log_record_from_row(row: Mapping[Any, Any], *, row_number: int | None = None) -> LogRecord:
    """Turn one CSV row, as ``csv.DictReader`` gives it, into a :class:`LogRecord`.

    Columns are matched by name without regard to case, ``_`` or spaces (``status_value``,
    ``StatusValue``); unknown columns are ignored, and missing or empty cells are None.

    Args:
        row: Column name -> cell text. A ``None`` key or cell (``DictReader``'s overflow and
            missing cells) is ignored; any other cell that is not a string is refused.
        row_number: The row's number, for the error message.

    Returns:
        The typed record.

    Raises:
        ResponseValidationError: When a cell is not what its column holds (naming the row and
            the column, never the value), or the row has no ``umid``.
    """
    where = "a row" if row_number is None else f"row {row_number}"
    path = "row" if row_number is None else f"row[{row_number}]"
    values: dict[str, object] = {}
    for name, cell in row.items():
        if not isinstance(name, str) or cell is None or cell == "":
            continue
        known = _column(name)
        if known is None:
            continue
        field, parse = known
        if isinstance(cell, str):
            try:
                values[field] = parse(cell)
            except _CellError as exc:
                what = exc.what
            else:
                continue
        else:
            what = "text"
        # Outside the except block: the error chains nothing that could hold the cell.
        column = clean_server_text(name.strip(), 40)
        raise _csv_error(f"{where}, column {column!r} is not {what}", f"{path}.{column}")
    if "umid" not in values:
        raise _csv_error(f"{where} has no umid", f"{path}.umid")
    return LogRecord(**values)  # type: ignore[arg-type]


class _RowParser:
    """Turns the records of one CSV file into LogRecords; the first record is the header."""

    def __init__(self) -> None:
        self.names: list[str] | None = None
        self.row = 0

    def header(self, cells: list[str]) -> None:
        if not any(_column(name) == _COLUMNS["umid"] for name in cells):
            raise _csv_error("has no 'umid' column in its header", "header")
        self.names = cells

    def parse(self, record: str) -> LogRecord | None:
        """The LogRecord of one complete CSV record; None for the header or a blank line."""
        if not record.strip():
            return None
        cells: list[str] | None = None
        with contextlib.suppress(csv.Error):
            cells = next(csv.reader((record,)))
        if cells is None:
            raise _csv_error(f"row {self.row + 1} is not valid CSV", f"row[{self.row + 1}]")
        if self.names is None:
            self.header(cells)
            return None
        self.row += 1
        if len(cells) != len(self.names):
            raise _csv_error(
                f"row {self.row} has {len(cells)} cells where the header has {len(self.names)}",
                f"row[{self.row}]",
            )
        return log_record_from_row(dict(zip(self.names, cells, strict=True)), row_number=self.row)


class _Records:
    """Joins lines into whole CSV records: a quoted cell may hold a line break."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.quotes = 0

    def feed(self, line: str) -> str | None:
        """Add one line (with or without its line ending); return a record once it is whole."""
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        elif line.endswith("\r"):
            line = line[:-1]
        self.pending.append(line)
        # "" inside a quoted cell is two quotes, so an odd count means a cell is still open.
        self.quotes += line.count('"')
        if self.quotes % 2:
            return None
        record = self.pending[0] if len(self.pending) == 1 else "\n".join(self.pending)
        self.pending.clear()
        self.quotes = 0
        return record

    def finish(self, rows: int) -> None:
        if self.pending:
            raise _csv_error(f"ends inside a quoted cell after row {rows}", f"row[{rows + 1}]")


def parse_log_records(lines: Iterable[str]) -> Iterator[LogRecord]:
    """Parse the lines of a log export CSV file into typed records, one at a time.

    The first line is the header; columns are matched by name (case, ``_`` and spaces aside),
    columns the SDK does not know are ignored and missing ones are None. Lines may keep or lose
    their line endings (``str.splitlines``, ``httpx.Response.iter_lines``).

    Args:
        lines: The file's lines (or the whole file as one string).

    Yields:
        One :class:`LogRecord` per message.

    Raises:
        ResponseValidationError: For a malformed row, naming the row number (1 = the first
            record after the header) and the column, never the cell's value.
    """
    if isinstance(lines, str):
        # A whole file given as one string: iterating it would give characters, not lines.
        lines = lines.splitlines()
    parser = _RowParser()
    records = _Records()
    for line in lines:
        record = records.feed(line)
        if record is not None:
            parsed = parser.parse(record)
            if parsed is not None:
                yield parsed
    records.finish(parser.row)


async def aparse_log_records(lines: AsyncIterable[str]) -> AsyncIterator[LogRecord]:
    """Parse the lines of a log export CSV file as they arrive; see :func:`parse_log_records`.

    Args:
        lines: The file's lines, e.g. ``httpx.Response.aiter_lines()``.

    Yields:
        One :class:`LogRecord` per message.

    Raises:
        ResponseValidationError: For a malformed row, naming the row number and the column.
    """
    parser = _RowParser()
    records = _Records()
    async for line in lines:
        record = records.feed(line)
        if record is not None:
            parsed = parser.parse(record)
            if parsed is not None:
                yield parsed
    records.finish(parser.row)
