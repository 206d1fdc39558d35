"""Batch sends (``send_batch``, ``send_survey_batch``), their answer, and scheduled-send cancels.

A batch request is validated whole before any I/O: every single-send rule applies to each item,
and an item's error names it (``messages[3].destination``, ``destinations[7]``). Items may be
given as instances or as mappings of their keyword arguments. :meth:`BatchRequest.build` and
:meth:`SurveyBatchRequest.build` are what the client calls: they also give every message without a
``client_message_id`` a random one, and the batch a ``client_batch_id`` when it has none, so
that every message of a batch can be reconciled later (delivery receipts, log exports).
"""

# No "from __future__ import annotations" here: see _models.py (get_type_hints on re-exports).
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from . import _validators as v
from . import _validators_ops as vo
from ._converters import array_in
from ._errors import ValidationError
from ._models import (
    Encoding,
    SmsResponse,
    SurveyRequest,
    Track,
    _encoding,
    _hidden_repr,
    _id_repr,
    _mask_repr,
    _track,
    _url_repr,
)

__all__ = [
    "BatchMessage",
    "BatchRequest",
    "BatchResponse",
    "BatchTemplate",
    "CancelResponse",
    "SurveyBatchMessage",
    "SurveyBatchRequest",
    "SurveyTemplate",
    "new_client_batch_id",
    "new_client_message_id",
]


def new_client_message_id() -> str:
    """Return a new random ``client_message_id``: 32 hex characters (128 bits, as a UUID4 has).

    The same form single sends use, so issue 10's reconciliation can treat both alike.
    """
    return os.urandom(16).hex()


def new_client_batch_id() -> str:
    """Return a new random ``client_batch_id``: 20 hex characters (80 bits; 8x8 allows 20)."""
    return os.urandom(10).hex()


# --- items -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BatchMessage:
    """One message of a batch: an ``SmsRequest`` whose ``text`` may come from the template.

    A field given here overrides the template's.
    """

    destination: str = attrs.field(validator=v.destination, repr=_mask_repr)
    """The MSISDN, international (``+`` optional) or national when ``country`` is given."""
    text: str | None = attrs.field(default=None, validator=vo.optional_text, repr=_hidden_repr)
    """The message body; when omitted, the batch template's ``text`` (which must then be set)."""
    country: str | None = attrs.field(default=None, validator=v.country)
    """ISO 3166-1 alpha-2 code of the destination, to convert a national number."""
    source: str | None = attrs.field(default=None, validator=v.max_length(16))
    """The sender id, at most 16 characters (overrides the template's)."""
    client_message_id: str | None = attrs.field(
        default=None, validator=v.max_length(350), repr=_id_repr
    )
    """Your reference (at most 350 characters); ``build`` generates one when omitted."""
    encoding: Encoding | None = attrs.field(default=None, converter=_encoding)
    """The text encoding (overrides the template's)."""
    scheduled: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """When to deliver (timezone-aware, at most 7 days ahead)."""
    expiry: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """After this time the message is discarded if not yet sent (timezone-aware, in the future)."""
    dlr_callback_url: str | None = attrs.field(default=None, validator=v.http_url, repr=_url_repr)
    """Where 8x8 posts this message's delivery receipt."""
    client_ip: str | None = attrs.field(default=None, validator=v.ip_address)
    """The end user's IP address, for 8x8's per-IP rate limit."""
    track: Track | None = attrs.field(default=None, converter=_track)
    """``Outcome`` to track conversion (complete it with ``send_feedback``), ``None`` not to."""


@attrs.frozen(kw_only=True)
class SurveyBatchMessage(SurveyRequest):
    """One message of a survey batch: the fields of a ``SurveyRequest``.

    ``template_body`` may be omitted when the batch's ``SurveyTemplate`` supplies it.
    """


@attrs.frozen(kw_only=True)
class BatchTemplate:
    """The fields shared by every message of a batch (8x8's ``SmsTemplateFull``)."""

    text: str | None = attrs.field(default=None, validator=vo.optional_text, repr=_hidden_repr)
    """The shared message body; needed for ``destinations`` and for messages without text."""
    source: str | None = attrs.field(default=None, validator=v.max_length(16))
    """The shared sender id, at most 16 characters."""
    encoding: Encoding | None = attrs.field(default=None, converter=_encoding)
    """The shared text encoding; 8x8 uses AUTO when absent."""
    scheduled: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """When to deliver (timezone-aware, at most 7 days ahead)."""
    expiry: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """After this time unsent messages are discarded (timezone-aware, in the future)."""
    dlr_callback_url: str | None = attrs.field(default=None, validator=v.http_url, repr=_url_repr)
    """Where 8x8 posts the delivery receipts."""


@attrs.frozen(kw_only=True)
class SurveyTemplate:
    """The fields shared by every message of a survey batch (8x8's ``SurveyTemplate``)."""

    template_body: str = attrs.field(validator=[vo.required, v.template_body], repr=_hidden_repr)
    """The message template; it must hold ``{{url:}}``, the survey link 8x8 set up for you."""
    source: str | None = attrs.field(default=None, validator=v.max_length(16))
    """The shared sender id, at most 16 characters."""
    encoding: Encoding | None = attrs.field(default=None, converter=_encoding)
    """The shared text encoding; 8x8 uses AUTO when absent."""
    scheduled: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """When to deliver (timezone-aware, at most 7 days ahead)."""
    expiry: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """After this time unsent messages are discarded (timezone-aware, in the future)."""
    dlr_callback_url: str | None = attrs.field(default=None, validator=v.http_url, repr=_url_repr)
    """Where 8x8 posts the delivery receipts."""


# --- turning arguments into items --------------------------------------------------------------

_Item = TypeVar("_Item")


def _fields_of(cls: type[Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    fields = attrs.fields(cls)
    names = frozenset(a.name for a in fields)
    required = tuple(a.name for a in fields if a.default is attrs.NOTHING)
    return names, required


_SHAPES: dict[type[Any], tuple[frozenset[str], tuple[str, ...]]] = {}


def _shape(cls: type[Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = _fields_of(cls)
    return shape


def _key_name(prefix: str, key: object) -> str:
    # The key is the caller's; show it only when it cannot mangle a message or a log line.
    if isinstance(key, str) and key.isidentifier() and len(key) <= 64:
        return f"{prefix}.{key}"
    return prefix


def _from_mapping(cls: type[_Item], item: Mapping[Any, Any], prefix: str) -> _Item:
    """Build ``cls(**item)``; an error names the field as ``prefix.field``."""
    names, required = _shape(cls)
    for key in item:
        if key not in names:
            raise ValidationError(
                _key_name(prefix, key), f"a field of {cls.__name__}, and it is not"
            )
    for name in required:
        if item.get(name) is None:
            raise ValidationError(f"{prefix}.{name}", "given")
    error: ValidationError | None = None
    try:
        return cls(**item)
    except ValidationError as exc:
        error = exc
    # Raised here, not in the except block, so that no exception is chained to it.
    raise ValidationError(f"{prefix}.{error.field}", error.rule)


def _is_item_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _items(
    cls: type[_Item], value: object, field: str, accepted: type[Any] | None = None
) -> tuple[_Item, ...]:
    """A tuple of ``cls`` from a sequence of instances or mappings of keyword arguments."""
    if not _is_item_list(value):
        raise ValidationError(field, f"a list of {cls.__name__} or mappings of its fields")
    assert isinstance(value, Sequence)
    vo.check_batch_size(len(value), field)
    kind = accepted or cls
    result: list[_Item] = []
    append = result.append
    for index, item in enumerate(value):
        if isinstance(item, kind):
            append(item)
        elif isinstance(item, Mapping):
            append(_from_mapping(cls, item, f"{field}[{index}]"))
        else:
            raise ValidationError(
                f"{field}[{index}]", f"a {cls.__name__} or a mapping of its fields"
            )
    return tuple(result)


def _template(cls: type[_Item], value: object) -> _Item | None:
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return _from_mapping(cls, value, "template")
    raise ValidationError("template", f"a {cls.__name__} or a mapping of its fields")


def _batch_messages(
    value: Sequence[BatchMessage | Mapping[str, Any]] | None,
) -> tuple[BatchMessage, ...] | None:
    return None if value is None else _items(BatchMessage, value, "messages")


def _survey_messages(
    value: Sequence[SurveyRequest | Mapping[str, Any]],
) -> tuple[SurveyRequest, ...]:
    # A plain SurveyRequest is as good an item as a SurveyBatchMessage: the fields are the same.
    return _items(SurveyBatchMessage, value, "messages", accepted=SurveyRequest)


def _destinations(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not _is_item_list(value):
        raise ValidationError("destinations", "a list of phone numbers")
    vo.check_batch_size(len(value), "destinations")
    for index, number in enumerate(value):
        vo.check_destination(number, f"destinations[{index}]")
    return tuple(value)


def _batch_template(value: BatchTemplate | Mapping[str, Any] | None) -> BatchTemplate | None:
    return _template(BatchTemplate, value)


def _survey_template(value: SurveyTemplate | Mapping[str, Any] | None) -> SurveyTemplate | None:
    return _template(SurveyTemplate, value)


def _check_windows(
    messages: Sequence[BatchMessage | SurveyRequest],
    template: BatchTemplate | SurveyTemplate | None,
) -> None:
    """Check "expiry later than scheduled" on each message merged with the template.

    A message's own field overrides the template's, as 8x8 merges them.
    """
    if template is None or (template.scheduled is None and template.expiry is None):
        return  # each message checked its own pair when it was made
    for index, message in enumerate(messages):
        scheduled = message.scheduled or template.scheduled
        expiry = message.expiry or template.expiry
        if scheduled is not None and expiry is not None and expiry <= scheduled:
            raise ValidationError(
                f"messages[{index}].expiry", "later than scheduled (the template's or its own)"
            )


def _count_repr(value: tuple[object, ...] | None) -> str:
    # A 10,000-item batch would make a 2 MB repr; the items' own reprs mask what they hold.
    return "None" if value is None else f"<{len(value)} items>"


def _with_ids(items: object, cls: type[Any]) -> object:
    """The items with a generated ``client_message_id`` where they have none.

    Anything that is not a list of instances or mappings is returned unchanged, for the
    request's converter to refuse with the right field name.
    """
    if not _is_item_list(items):
        return items
    assert isinstance(items, Sequence)
    result: list[object] = []
    append = result.append
    for item in items:
        if isinstance(item, Mapping):
            if item.get("client_message_id") is None:
                item = {**item, "client_message_id": new_client_message_id()}
        elif isinstance(item, cls) and item.client_message_id is None:
            item = attrs.evolve(item, client_message_id=new_client_message_id())
        append(item)
    return result


# --- requests ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BatchRequest:
    """The body of ``POST /api/v1/subaccounts/{subAccountId}/messages/batch`` (``BatchSmsRequest``).

    Exactly one of ``messages`` (personalised) and ``destinations`` (one shared text) is given,
    1 to 10,000 of them. ``destinations`` need ``template.text``, as does a message without
    ``text``. Use :meth:`build` to also get generated ids.
    """

    messages: tuple[BatchMessage, ...] | None = attrs.field(
        default=None, converter=_batch_messages, repr=_count_repr
    )
    """The messages, each a ``BatchMessage`` (a mapping of its fields is converted)."""
    destinations: tuple[str, ...] | None = attrs.field(
        default=None, converter=_destinations, repr=_count_repr
    )
    """Phone numbers that all get ``template.text`` (8x8 names their messages itself)."""
    template: BatchTemplate | None = attrs.field(default=None, converter=_batch_template)
    """Fields shared by every message; a message's own field overrides it."""
    client_batch_id: str | None = attrs.field(
        default=None, validator=v.max_length(vo.MAX_CLIENT_BATCH_ID), repr=_id_repr
    )
    """Your reference for the batch, at most 20 characters."""
    include_messages_in_response: bool = attrs.field(default=False, validator=vo.flag)
    """Whether 8x8 answers with one result per message (``BatchResponse.messages``)."""
    client_ip: str | None = attrs.field(default=None, validator=v.ip_address)
    """The end user's IP address, for 8x8's per-IP rate limit."""

    def __attrs_post_init__(self) -> None:
        template_text = self.template is not None and self.template.text is not None
        if self.messages is not None:
            if self.destinations is not None:
                raise ValidationError("messages", "either messages or destinations, not both")
            if not template_text:
                for index, message in enumerate(self.messages):
                    if message.text is None:
                        raise ValidationError(
                            f"messages[{index}].text", "given, or template.text for every message"
                        )
            _check_windows(self.messages, self.template)
        elif self.destinations is None:
            raise ValidationError("messages", "given, or destinations (one of the two)")
        elif not template_text:
            raise ValidationError("template.text", "given when sending to destinations")

    @classmethod
    def build(
        cls,
        *,
        messages: Sequence[BatchMessage | Mapping[str, Any]] | None = None,
        destinations: Sequence[str] | None = None,
        template: BatchTemplate | Mapping[str, Any] | None = None,
        client_batch_id: str | None = None,
        include_messages_in_response: bool = False,
        client_ip: str | None = None,
    ) -> "BatchRequest":
        """Validate a batch as ``send_batch`` takes it, generating the ids it lacks.

        A message without ``client_message_id`` gets a random one (32 hex characters, as single
        sends do), and the batch a ``client_batch_id`` (20 hex characters) when it has none.

        Raises:
            ValidationError: Naming the first broken rule, e.g. ``messages[3].destination``.
        """
        return cls(
            messages=_with_ids(messages, BatchMessage),  # type: ignore[arg-type]
            destinations=destinations,
            template=template,
            client_batch_id=new_client_batch_id() if client_batch_id is None else client_batch_id,
            include_messages_in_response=include_messages_in_response,
            client_ip=client_ip,
        )


@attrs.frozen(kw_only=True)
class SurveyBatchRequest:
    """The body of ``POST .../surveys/{surveyId}/messages/batch`` (``BatchSurveyRequest``)."""

    messages: tuple[SurveyRequest, ...] = attrs.field(converter=_survey_messages, repr=_count_repr)
    """1 to 10,000 messages, each a ``SurveyBatchMessage`` (or ``SurveyRequest``, or mapping)."""
    template: SurveyTemplate | None = attrs.field(default=None, converter=_survey_template)
    """Fields shared by every message; a message's own field overrides it."""
    client_batch_id: str | None = attrs.field(
        default=None, validator=v.max_length(vo.MAX_CLIENT_BATCH_ID), repr=_id_repr
    )
    """Your reference for the batch, at most 20 characters."""
    include_messages_in_response: bool = attrs.field(default=False, validator=vo.flag)
    """Whether 8x8 answers with one result per message (``BatchResponse.messages``)."""

    def __attrs_post_init__(self) -> None:
        _check_windows(self.messages, self.template)

    @classmethod
    def build(
        cls,
        *,
        messages: Sequence[SurveyBatchMessage | SurveyRequest | Mapping[str, Any]],
        template: SurveyTemplate | Mapping[str, Any] | None = None,
        client_batch_id: str | None = None,
        include_messages_in_response: bool = False,
    ) -> "SurveyBatchRequest":
        """Validate a survey batch as ``send_survey_batch`` takes it, generating missing ids.

        Raises:
            ValidationError: Naming the first broken rule, e.g. ``messages[3].destination``.
        """
        return cls(
            messages=_with_ids(messages, SurveyRequest),  # type: ignore[arg-type]
            template=template,
            client_batch_id=new_client_batch_id() if client_batch_id is None else client_batch_id,
            include_messages_in_response=include_messages_in_response,
        )


# --- responses ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BatchResponse:
    """8x8's answer to a batch send: counts, and per-message results when asked for.

    A rejected message is a result here (``status.code == "REJECTED"``), never an exception.
    """

    batch_id: str
    """The id 8x8 gave the batch (use it with ``cancel_batch``)."""
    accepted_count: int
    """How many messages 8x8 accepted."""
    rejected_count: int
    """How many messages 8x8 rejected."""
    client_batch_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your batch reference, echoed back (the SDK generates one when you give none)."""
    messages: tuple[SmsResponse, ...] = attrs.field(default=(), metadata={"wire_in": array_in})
    """One result per message, when ``include_messages_in_response`` was set; else empty."""

    @property
    def rejected_messages(self) -> tuple[SmsResponse, ...]:
        """The per-message results 8x8 rejected (empty unless messages were included)."""
        return tuple(message for message in self.messages if message.rejected)


@attrs.frozen(kw_only=True)
class CancelResponse:
    """8x8's answer to ``cancel_message`` and ``cancel_batch``."""

    cancelled_count: int
    """How many scheduled messages were cancelled (0 when none was still waiting)."""
