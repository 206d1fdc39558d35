"""One input row of a bulk job: validated into a ``BatchMessage`` with its id and hash, or refused.

A row is a ``BatchMessage``, a mapping of its keyword arguments, a destination string (with a
template that has ``text``), or an ``InvalidRow`` its reader already refused. Validation applies
every rule ``send_batch`` applies to a message (each single-send rule, a text here or in the
template, ``expiry`` after ``scheduled`` once merged with the template), and a row that breaks
one becomes an INVALID result naming the field and the rule, never an exception.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping
from typing import Any, NamedTuple

import attrs

from .._errors import ValidationError
from .._models import mask_phone
from .._models_batch import BatchMessage, BatchTemplate, _from_mapping
from ._journal import row_id
from ._results import InvalidRow

__all__ = ["Prepared", "prepare", "row_digest", "setup_digest"]

_FIELDS = tuple(a.name for a in attrs.fields(BatchMessage))
_values = operator.attrgetter(*_FIELDS)
_TEMPLATE_FIELDS = tuple(a.name for a in attrs.fields(BatchTemplate))
_NO_TEXT = "given, or template.text for every message"
_NOT_A_ROW = "a BatchMessage, a mapping of its fields, or a destination (with template text)"


class Prepared(NamedTuple):
    """One row, ready to send or refused."""

    row: int
    message: BatchMessage | None
    """The message to send; ``None`` for an invalid row."""
    digest: bytes
    """The salted hash of the message's content (empty for an invalid row)."""
    client_message_id: str
    """The caller's id, else ``f"{job_id}-{row}"``."""
    own_id: str | None
    """The caller's id (what the journal stores), or ``None``."""
    destination: str | None
    """The masked number, when there is one."""
    reason: str | None
    """For an invalid row: the ValidationError's sentence (field and rule)."""


def row_digest(message: BatchMessage, salt: bytes) -> bytes:
    """8 bytes of BLAKE2b, keyed with the job's salt, over every field of the message.

    Eight bytes tell a changed row from the recorded one with a chance of 2**-64 of missing it;
    the key keeps the hash from being looked up in a table precomputed for all numbers.
    """
    return hashlib.blake2b(repr(_values(message)).encode(), key=salt, digest_size=8).digest()


def setup_digest(template: BatchTemplate | None) -> bytes:
    """What a resumed job must share with its first run besides the rows: the template."""
    content = None if template is None else tuple(getattr(template, n) for n in _TEMPLATE_FIELDS)
    return hashlib.blake2b(repr(content).encode(), digest_size=16).digest()


def _invalid(
    row: int, cmid: str, own: str | None, error: ValidationError, number: object
) -> Prepared:
    field = error.field.removeprefix("message.").removeprefix("message")
    sentence = ValidationError(field or "message", error.rule).args[0]
    masked = mask_phone(number) if isinstance(number, str) else None
    return Prepared(row, None, b"", cmid, own, masked, sentence)


def prepare(
    row: int, item: object, *, job_id: str, template: BatchTemplate | None, salt: bytes
) -> Prepared:
    """Validate one input row; never raises for a bad row (it comes back with a ``reason``)."""
    own: str | None = None
    number: object = None
    try:
        if isinstance(item, BatchMessage):
            number = item.destination
            own = item.client_message_id
            message = (
                item
                if own is not None
                else attrs.evolve(item, client_message_id=row_id(job_id, row))
            )
        elif isinstance(item, Mapping):
            number = item.get("destination")
            given = item.get("client_message_id")
            own = given if isinstance(given, str) else None
            fields: Mapping[Any, Any] = item
            if given is None:
                fields = {**item, "client_message_id": row_id(job_id, row)}
            message = _from_mapping(BatchMessage, fields, "message")
        elif isinstance(item, InvalidRow):
            return Prepared(row, None, b"", row_id(job_id, row), None, None, str(item.reason))
        elif isinstance(item, str):
            number = item
            message = BatchMessage(destination=item, client_message_id=row_id(job_id, row))
        else:
            message = None
        _check_merged(message, template)
    except ValidationError as error:
        return _invalid(row, own if own is not None else row_id(job_id, row), own, error, number)
    assert message is not None
    name = message.client_message_id
    assert name is not None
    return Prepared(
        row, message, row_digest(message, salt), name, own, mask_phone(message.destination), None
    )


def _check_merged(message: BatchMessage | None, template: BatchTemplate | None) -> None:
    """The rules that need the message merged with the template, as ``BatchRequest`` checks."""
    if message is None:
        raise ValidationError("message", _NOT_A_ROW)
    if message.text is None and (template is None or template.text is None):
        raise ValidationError("text", _NO_TEXT)
    scheduled = message.scheduled or (template.scheduled if template else None)
    expiry = message.expiry or (template.expiry if template else None)
    if scheduled is not None and expiry is not None and expiry <= scheduled:
        raise ValidationError("expiry", "later than scheduled (the template's or its own)")
