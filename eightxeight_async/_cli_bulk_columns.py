"""What the columns of ``eightxeight bulk``'s file mean: the header, its aliases, ``--template``.

The first record is a header when a cell names a column the command reads (in any case, ``_``,
``-`` and spaces ignored); a file that starts with a phone number has none, and its columns are
the number, then the text. Every problem here is the file's or an option's as a whole, raised as
:class:`FileProblem` before any row is read or sent.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["COLUMN_ALIASES", "Columns", "FileProblem", "Template"]

#: The header names of each column the command reads (compared lowercase, without ``_ -`` and
#: spaces); any other column is a template variable.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "destination": ("destination", "to", "phone", "msisdn"),
    "text": ("text",),
    "client_message_id": ("client_message_id",),
    "source": ("source",),
    "country": ("country",),
}
_BY_KEY = {
    re.sub(r"[\s_-]", "", alias.lower()): role
    for role, aliases in COLUMN_ALIASES.items()
    for alias in aliases
}
_LOOKS_LIKE_NUMBER = re.compile(r"\+?[0-9][0-9\s().-]*")


class FileProblem(Exception):
    """The file as a whole cannot be read as the command needs (its header, its encoding).

    Args:
        message: One sentence naming the file, and the option to change when one would help.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the template ------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@attrs.frozen
class Template:
    """``--template``: text with ``{{column}}`` variables, rendered for each row."""

    pieces: tuple[str, ...]
    """Literal text and column names alternating: literal, name, literal, ..., literal."""

    @classmethod
    def parse(cls, text: str) -> Template:
        """Split ``text`` into literals and variable names.

        Raises:
            FileProblem: When a ``{{`` is not closed or a variable has no name.
        """
        pieces: list[str] = []
        start = 0
        for match in _VARIABLE.finditer(text):
            if not match.group(1):
                msg = "Invalid --template: {{}} names no column (write {{name}})."
                raise FileProblem(msg)
            pieces += [text[start : match.start()], match.group(1)]
            start = match.end()
        pieces.append(text[start:])
        for literal in pieces[::2]:
            if "{{" in literal:
                msg = "Invalid --template: a {{ is not closed by }} (write {{name}})."
                raise FileProblem(msg)
        return cls(tuple(pieces))

    @property
    def variables(self) -> tuple[str, ...]:
        """The column names the template uses, in order."""
        return self.pieces[1::2]

    def render(self, values: dict[str, str]) -> str:
        """The text of one row: each variable replaced by the row's value in that column."""
        return "".join(
            piece if index % 2 == 0 else values[piece] for index, piece in enumerate(self.pieces)
        )


# --- columns -----------------------------------------------------------------------------------


@attrs.frozen
class Columns:
    """Which column of the file holds what."""

    names: tuple[str, ...]
    """The header's names, as written (positional names when the file has no header)."""
    roles: dict[str, int]
    """Column index of each role the file has: ``destination``, ``text``, ``source``..."""
    header: bool
    """Whether the first record was a header."""

    @classmethod
    def detect(cls, first: list[str], *, template: Template | None, path: str) -> Columns:
        """Read the roles from the first record, which is a header unless it starts with a number.

        Raises:
            FileProblem: When no column holds the destination, two columns claim one role, a
                column the template names is missing, or no text can be made.
        """
        roles: dict[str, int] = {}
        for index, name in enumerate(first):
            role = _BY_KEY.get(re.sub(r"[\s_-]", "", name.strip().lower()))
            if role is None:
                continue
            if role in roles:
                other = first[roles[role]].strip()
                msg = (
                    f"{path}: the columns {other!r} and {name.strip()!r} both hold the {role}; "
                    "keep one."
                )
                raise FileProblem(msg)
            roles[role] = index
        if roles:
            names = tuple(name.strip() for name in first)
            header = True
        elif first and _LOOKS_LIKE_NUMBER.fullmatch(first[0].strip()):
            # No header: the destination first, then the text (unless --template gives it).
            names = ("destination", "text")[: 1 if template else 2]
            roles = {name: index for index, name in enumerate(names)}
            header = False
        else:
            aliases = ", ".join(COLUMN_ALIASES["destination"])
            msg = (
                f"{path}: the first line names no destination column ({aliases}) and does not "
                "start with a phone number."
            )
            raise FileProblem(msg)
        if "destination" not in roles:
            aliases = ", ".join(COLUMN_ALIASES["destination"])
            msg = f"{path}: no destination column; name one {aliases}."
            raise FileProblem(msg)
        columns = cls(names, roles, header)
        columns.check_template(template, path)
        return columns

    def check_template(self, template: Template | None, path: str) -> None:
        if template is None:
            if "text" not in self.roles:
                msg = f"{path}: no text column; add one named text, or pass --template."
                raise FileProblem(msg)
            return
        for name in template.variables:
            if name not in self.names or not self.header:
                known = ", ".join(self.names) if self.header else "none: the file has no header"
                msg = (
                    f"Invalid --template: {{{{{name}}}}} is not a column of {path} "
                    f"(its columns: {known})."
                )
                raise FileProblem(msg)
