"""Reading the CSV file of ``eightxeight bulk``: rows in, messages or bad rows out, one at a time.

The file is streamed: one record (at most :data:`MAX_RECORD_LINES` lines and
:data:`MAX_RECORD_CHARS` characters) is in memory at a time, whatever the file's size. Nothing
the file holds stops the reading: a line that is not CSV, bytes that are not in the file's
encoding, a field over the size limit, a quote that is never closed, a number 8x8 would refuse or
an empty text each become a :class:`BadRow` with its line number, and the next row is read.

Bytes that do not decode are caught without a second pass: the decoder replaces each with a lone
surrogate (``U+DC00`` + the byte), which no strictly decoded text can contain.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from typing import IO

import attrs

from ._cli_bulk_columns import Columns, FileProblem, Template
from ._demo import mask_e164
from ._errors import ValidationError
from ._models_batch import BatchMessage

__all__ = [
    "MAX_RECORD_CHARS",
    "MAX_RECORD_LINES",
    "BadRow",
    "GoodRow",
    "RowReader",
    "bom_encoding",
    "check_encoding",
]

#: A record may span this many lines (a quoted text with line breaks); past it, the quote that
#: opened it is taken as never closed.
MAX_RECORD_LINES = 100
#: A record may hold this many characters (ten UCS-2 parts are 670, ten GSM7 parts 1,530).
MAX_RECORD_CHARS = 65_536

_DELIMITERS = (",", ";", "\t", "|")
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")
_UNDECODED = re.compile("[\udc00-\udcff]")
_ERRORS = "eightxeight-bulk-mark"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), exc.end


codecs.register_error(_ERRORS, _mark_undecodable)


#: Byte-order marks and the codec each picks (which skips it); UTF-32's first, as UTF-32-LE's
#: begins with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> str | None:
    """The codec a file's byte-order mark names (``head``: its first 4 bytes), or None."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def check_encoding(name: str) -> str:
    """The codec to read a file in ``name``; UTF-8 also skips a byte-order mark.

    Raises:
        FileProblem: When Python knows no text encoding of that name.
    """
    try:
        info = codecs.lookup(name)
        io.TextIOWrapper(io.BytesIO(), encoding=info.name).close()  # refuses non-text codecs
    except LookupError:
        msg = f"Invalid --file-encoding: {name!r} is not a text encoding Python knows."
        raise FileProblem(msg) from None
    return "utf-8-sig" if info.name == "utf-8" else info.name


# --- rows --------------------------------------------------------------------------------------


@attrs.frozen
class GoodRow:
    """A row that became a message."""

    line: int
    """The line of the file where the row starts (1 is the first line)."""
    message: BatchMessage


@attrs.frozen
class BadRow:
    """A row that is never sent, and why."""

    line: int
    """The line of the file where the row starts."""
    reason: str
    """What is wrong, in the file's terms (its column names, the option that supplied a value)."""
    client_message_id: str | None = None
    """The row's own ``client_message_id``, when it gave a usable one."""
    destination: str | None = None
    """The row's number, masked (``+65******67``), when it had one."""


# --- the lines of the file ---------------------------------------------------------------------


class _RecordTooLong(Exception):
    """The current record passed MAX_RECORD_LINES or MAX_RECORD_CHARS."""


class _Unreadable(Exception):
    """The codec itself refused the stream (UTF-16 without its byte-order mark), at a line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _Lines:
    """The file's lines for ``csv.reader``, counted, with the current record's lines kept.

    The lines of a record that turns out broken can be pushed back and read again, so that a
    quote that is never closed costs one row, not the rest of the file.
    """

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._back: deque[tuple[int, str]] = deque()
        self._number = 0
        self.record: list[tuple[int, str]] = []
        self._chars = 0
        self.overlong: int | None = None
        """The line that was cut because it alone is longer than MAX_RECORD_CHARS."""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._back:
            number, line = self._back.popleft()
            if not line:  # a line cut for its length, read again: still too long
                self.overlong = number
                self.record.append((number, ""))
                raise _RecordTooLong
        else:
            try:
                line = self._text.readline(MAX_RECORD_CHARS + 1)
            except UnicodeError as exc:  # not a bad byte (those are marked): the codec gave up
                raise _Unreadable(self._number + 1, str(exc)) from None
            if not line:
                raise StopIteration
            self._number += 1
            number = self._number
            if len(line) > MAX_RECORD_CHARS and not line.endswith(("\n", "\r")):
                self._skip_rest_of_line()
                self.overlong = number
                self.record.append((number, ""))
                raise _RecordTooLong
        self.record.append((number, line))
        self._chars += len(line)
        if len(self.record) > MAX_RECORD_LINES or self._chars > MAX_RECORD_CHARS:
            raise _RecordTooLong
        return line

    def _skip_rest_of_line(self) -> None:
        while True:
            rest = self._text.readline(MAX_RECORD_CHARS)
            if not rest or rest.endswith(("\n", "\r")):
                return

    def start_record(self) -> None:
        self.record = []
        self._chars = 0
        self.overlong = None

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        self._back.extendleft(reversed(lines))

    def first_line(self) -> str | None:
        """The first line, read and pushed back (to detect the delimiter); None if overlong."""
        try:
            line: str | None = next(self)
        except StopIteration:
            line = ""
        except _RecordTooLong:
            return None  # nothing to push back: the line was skipped
        self.push_back(self.record)
        self.start_record()
        return line


def _sniff_delimiter(line: str) -> str:
    """The most frequent of ``, ; TAB |`` outside quotes in the header line (``,`` by default)."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class RowReader:
    r"""The rows of a CSV file, each a :class:`GoodRow` or a :class:`BadRow`, read lazily.

    Args:
        binary: The file, opened in binary mode; :meth:`close` closes it.
        path: The file's name as the user gave it, for messages.
        encoding: The codec from :func:`check_encoding`.
        delimiter: ``,``, ``;``, ``\\t`` or ``|``; None detects it from the first line.
        template: ``--template``, or None to read the text column.
        source: ``--source``, for rows without their own.
        country: ``--country``, for rows without their own.
        bom: :func:`bom_encoding` of the file, named in a hint when ``encoding`` differs.

    Raises:
        FileProblem: When the header cannot be used (from :meth:`open`), or the codec refuses
            the file (from the constructor or while iterating).
        OSError: The file cannot be read.
    """

    def __init__(
        self,
        binary: IO[bytes],
        *,
        path: str,
        encoding: str,
        delimiter: str | None = None,
        template: Template | None = None,
        source: str | None = None,
        country: str | None = None,
        bom: str | None = None,
    ) -> None:
        self._binary = binary
        self.path = path
        self.encoding = encoding
        self.bom = None if bom == "utf-8-sig" else bom
        """The codec the file's byte-order mark names (UTF-16 or 32), for hints."""
        self._text = io.TextIOWrapper(binary, encoding=encoding, errors=_ERRORS, newline="")
        self._lines = _Lines(self._text)
        try:
            first = self._lines.first_line()
        except _Unreadable as exc:
            raise self._unreadable(exc) from None
        self._first_overlong = first is None
        self.delimiter = delimiter or _sniff_delimiter(first or "")
        self._reader = self._new_reader()
        self._template = template
        self._source = source
        self._country = country
        self.columns: Columns | None = None
        self.rows = 0
        """Records read so far, the header and blank lines left out."""
        self._first: tuple[int, list[str] | BadRow] | None = None

    def close(self) -> None:
        """Close the file."""
        self._text.close()

    def _new_reader(self) -> Iterator[list[str]]:
        return csv.reader(self._lines, delimiter=self.delimiter, strict=True)

    def open(self) -> Columns:
        """Read the header (or the first row) and find the columns.

        Raises:
            FileProblem: When the file is empty, or its first line cannot serve.
        """
        if self._first_overlong:
            msg = f"{self.path}, line 1: the line is longer than {MAX_RECORD_CHARS:,} characters."
            raise FileProblem(msg)
        record = self._next_record()
        if record is None:
            msg = f"{self.path} holds no rows."
            raise FileProblem(msg)
        line, cells = record
        if isinstance(cells, BadRow):
            # Without its first record the columns are unknown: nothing can be read.
            msg = f"{self.path}, line {line}: {cells.reason}."
            raise FileProblem(msg)
        self.columns = Columns.detect(cells, template=self._template, path=self.path)
        if not self.columns.header:
            self._first = (line, cells)
            return self.columns
        # A header and nothing under it is an empty file: refused before any job is made.
        following = self._next_record()
        if following is None:
            msg = f"{self.path} holds no rows (only a header)."
            raise FileProblem(msg)
        self._first = following
        return self.columns

    def __iter__(self) -> Iterator[GoodRow | BadRow]:
        if self.columns is None:
            self.open()
        if self._first is not None:
            line, cells = self._first
            self._first = None
            self.rows += 1
            yield cells if isinstance(cells, BadRow) else self._row(line, cells)
        while True:
            record = self._next_record()
            if record is None:
                return
            self.rows += 1
            line, found = record
            yield found if isinstance(found, BadRow) else self._row(line, found)

    def _next_record(self) -> tuple[int, list[str] | BadRow] | None:
        """The next non-blank record and its first line; a broken one as a BadRow."""
        while True:
            self._lines.start_record()
            try:
                cells = next(self._reader)
            except StopIteration:
                return None
            except (_RecordTooLong, csv.Error) as exc:
                return self._broken(exc)
            except _Unreadable as exc:
                raise self._unreadable(exc) from None
            line = self._lines.record[0][0] if self._lines.record else 0
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a spreadsheet's row of empty cells
            undecoded = next((c for c in cells if _UNDECODED.search(c)), None)
            if undecoded is not None:
                return line, BadRow(line, self._encoding_reason(undecoded))
            return line, cells

    def _broken(self, exc: Exception) -> tuple[int, BadRow]:
        lines = self._lines.record
        line = lines[0][0]
        unclosed = isinstance(exc, _RecordTooLong) or "unexpected end of data" in str(exc)
        if self._lines.overlong == line:
            reason = f"the line is longer than {MAX_RECORD_CHARS:,} characters"
        elif unclosed:
            # Most likely a quote opened on this line is never closed: read the lines after it
            # again, as rows of their own.
            reason = 'a quote (") opened on this line is never closed'
            self._lines.push_back(lines[1:])
        else:
            reason = f"not valid CSV ({exc})"
        self._reader = self._new_reader()
        return line, BadRow(line, reason)

    def _unreadable(self, exc: _Unreadable) -> FileProblem:
        name = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        return FileProblem(
            f"{self.path}, line {exc.line}: cannot be read as {name} ({exc.reason}); "
            "pass --file-encoding with the file's encoding (e.g. utf-16-le)."
        )

    def _encoding_reason(self, cell: str) -> str:
        found = _UNDECODED.search(cell)
        assert found is not None
        byte = ord(found.group()) - 0xDC00
        name = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        example = self.bom or "cp1252"
        return (
            f"bytes not valid in {name} (0x{byte:02x}); "
            f"pass --file-encoding with the file's encoding (e.g. {example})"
        )

    # --- one row -------------------------------------------------------------------------------

    def _row(self, line: int, cells: list[str]) -> GoodRow | BadRow:
        columns = self.columns
        assert columns is not None
        width = len(columns.names)
        if len(cells) < width or (columns.header and any(c.strip() for c in cells[width:])):
            return BadRow(line, f"{len(cells)} field(s), where the header has {width}")
        roles = columns.roles
        own: dict[str, str | None] = {
            role: cells[roles[role]].strip() or None
            for role in ("client_message_id", "source", "country")
            if role in roles
        }
        client_message_id = own.get("client_message_id")
        raw_destination = cells[roles["destination"]].strip()
        destination = _NUMBER_PUNCTUATION.sub("", raw_destination)
        masked = mask_e164(destination) if destination.lstrip("+").isdigit() else None
        if self._template is not None:
            text = self._template.render(dict(zip(columns.names, cells, strict=False)))
        else:
            text = cells[roles["text"]]
        if not destination:
            return BadRow(line, f"{self._where('destination', own)} is empty", client_message_id)
        if not text.strip():
            return BadRow(line, f"{self._where('text', own)} is empty", client_message_id, masked)
        try:
            message = BatchMessage(
                destination=destination,
                text=text,
                country=own.get("country") or self._country,
                source=own.get("source") or self._source,
                client_message_id=client_message_id,
            )
        except ValidationError as exc:
            usable_id = None if exc.field == "client_message_id" else client_message_id
            reason = f"invalid {self._where(exc.field, own)}: must be {exc.rule}"
            return BadRow(line, reason, usable_id, masked)
        return GoodRow(line, message)

    def _where(self, field: str, own: dict[str, str | None]) -> str:
        """Where a field's value came from: ``column 'phone'``, ``--template``, ``--source``."""
        if field == "text" and self._template is not None:
            return "text (from --template)"
        if field in ("source", "country") and own.get(field) is None:
            return f"--{field}"
        columns = self.columns
        assert columns is not None
        index = columns.roles.get(field)
        if index is None:
            return field
        name = columns.names[index]
        return f"column {name!r}" if name == field else f"{field} (column {name!r})"
