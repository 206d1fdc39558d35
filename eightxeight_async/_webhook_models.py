"""The events 8x8 posts to a webhook, and :func:`parse_event`, which reads one body into one.

8x8 posts three kinds of body (``api-notes`` §5): a delivery receipt and an inbound SMS, both in
the envelope ``{namespace, eventType, description, payload}``, and the SMS Engage survey response,
which is flat. The same URL may also get events this SDK does not know (ChatApps): those come back
as :class:`UnknownEvent`, never as an error. A body in the format of Wavecell, before 8x8, raises
:class:`LegacyWebhookError`.
"""

# No "from __future__ import annotations": the converter reads these classes' annotations.
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import attrs

from ._converters import decode_json, structure_response
from ._errors import ResponseValidationError, ValidationError
from ._models import EncodingTypes, MessageStateTypes, MessageStatus, Price, mask_phone
from ._redact import mask_numbers

__all__ = [
    "DeliveryReceipt",
    "InboundMessage",
    "LegacyWebhookError",
    "SurveyAnswer",
    "SurveyResponse",
    "TemplateVariable",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookFormatError",
    "parse_event",
]

_T = TypeVar("_T")

#: Where to read how to move a webhook from Wavecell's format to 8x8's (the guide's title and
#: the site it is on; its exact address has moved before, so none is promised here).
MIGRATION_GUIDE = '8x8\'s "Webhook migration guide" at developer.8x8.com/connect'


class WebhookFormatError(ResponseValidationError):
    """A webhook body is not one 8x8 documents: not JSON, or not of the documented shape.

    The message names the JSON path of the first offending value (``.path``), never a value:
    a body holds phone numbers and message text. The receiver answers it with HTTP 400.
    """


class LegacyWebhookError(WebhookFormatError):
    """The body is in Wavecell's old webhook format (XML, or the old JSON field names).

    8x8 still posts it to accounts whose webhook was set up through Wavecell's API. The fix is
    on 8x8's side, not in code: ask 8x8 support to switch the account to the current format, or
    delete the old-format webhook (``api.wavecell.com/config/v1/webhook``) and create it again
    with ``set_webhook``. See :data:`MIGRATION_GUIDE`.
    """

    def __init__(self, what: str) -> None:
        msg = (
            f"This is a legacy Wavecell webhook body ({what}), not 8x8's current format. "
            "Ask 8x8 support to activate the latest webhook format for the account, or delete "
            "the old-format webhook (api.wavecell.com/config/v1/webhook) and create it again "
            f"with set_webhook; see {MIGRATION_GUIDE}."
        )
        super().__init__(msg, path="$")


def _mask_repr(value: str | None) -> str:
    return repr(mask_phone(value))


def _id_repr(value: str | None) -> str:
    return "None" if value is None else repr(mask_numbers(value))


def _hidden_repr(value: object) -> str:
    return "'***'" if value is not None else "None"


@attrs.frozen(kw_only=True)
class DeliveryReceipt:
    """A delivery receipt (``SMS`` / ``outbound_message_status_changed``).

    8x8 may post the same receipt more than once (it retries after 1, 10, 30 and 90 s when an
    answer is late or not 2xx): the pair (``umid``, ``status.state``) identifies it.
    """

    umid: str
    """The message the receipt is about."""
    status: MessageStatus
    """The new state, its detail, the delivery error code and message, and when."""
    subaccount_id: str | None = attrs.field(default=None, repr=_id_repr)
    """The subaccount that sent the message."""
    source: str | None = attrs.field(default=None, repr=_id_repr)
    """The sender id of the message."""
    destination: str | None = attrs.field(default=None, repr=_mask_repr)
    """The number the message went to (empty after its personal data was deleted)."""
    price: Price | None = None
    """What the message cost; absent when nothing was charged (failed, undelivered)."""
    sms_count: int | None = None
    """How many parts the message was sent in."""
    client_message_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your reference, given at send time."""
    batch_id: str | None = attrs.field(default=None, repr=_id_repr)
    """8x8's batch id, for a message sent in a batch."""
    client_batch_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your batch reference, for a message sent in a batch."""

    @property
    def state(self) -> MessageStateTypes:
        """The receipt's state (``delivered``, ``undelivered``, ``rejected``...)."""
        return self.status.state


@attrs.frozen(kw_only=True)
class InboundMessage:
    """An SMS sent to your virtual number (``eventType`` ``inbound_message_received``)."""

    umid: str
    """The unique id 8x8 gave the message; it identifies a retried post."""
    subaccount_id: str | None = attrs.field(default=None, repr=_id_repr)
    """The subaccount the virtual number belongs to."""
    timestamp: datetime | None = None
    """When 8x8 received the message."""
    source: str | None = attrs.field(default=None, repr=_mask_repr)
    """The sender: the end user's number."""
    destination: str | None = attrs.field(default=None, repr=_mask_repr)
    """Your virtual number."""
    body: str | None = attrs.field(default=None, repr=_hidden_repr)
    """The text of the message (``body`` on the wire, not ``text``)."""
    encoding: EncodingTypes | None = None
    """``GSM7`` or ``UCS2`` (an unknown value is kept as the raw string)."""
    sms_count: int | None = None
    """How many parts the message came in."""
    price: Price | None = None
    """What receiving the message cost."""


@attrs.frozen(kw_only=True)
class TemplateVariable:
    """One variable of a survey's message template, as the response webhook lists it."""

    name: str
    """The variable's name."""
    value: str | None = attrs.field(default=None, repr=_hidden_repr)
    """Its value (hidden from the repr: it may be a name or a number)."""


@attrs.frozen(kw_only=True)
class SurveyAnswer:
    """One answer of an SMS Engage survey response."""

    question_id: str
    """The question's id."""
    answer_id: str | None = None
    """The chosen answer's id; ``None`` for a free-text answer."""
    question: str | None = attrs.field(default=None, repr=False)
    """The question's text (it may hold HTML)."""
    answer: str | None = attrs.field(default=None, repr=_hidden_repr)
    """The answer given."""


@attrs.frozen(kw_only=True)
class SurveyResponse:
    """An SMS Engage survey response (a flat body: no ``namespace`` envelope).

    8x8 support configures this webhook, not ``set_webhook``.
    """

    umid: str
    """The survey message the response answers; it identifies a retried post."""
    survey_id: str
    """The survey's id."""
    survey_started_at: datetime | None = None
    """When the recipient opened the survey."""
    survey_submitted_at: datetime | None = None
    """When the recipient submitted it."""
    template_variables: tuple[TemplateVariable, ...] = ()
    """The template's variables, as ``{name, value}`` pairs (a dict at send time)."""
    answers: tuple[SurveyAnswer, ...] = ()
    """The answers, in the survey's order."""


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """An event this SDK does not know (another namespace, such as ChatApps, or a new type).

    Not an error: one webhook URL receives every event of the account, and 8x8 adds new ones.
    """

    namespace: str | None
    """The envelope's ``namespace``, e.g. ``"ChatApps"``."""
    event_type: str | None
    """The envelope's ``eventType``."""
    payload: object = attrs.field(repr=False)
    """The envelope's ``payload`` as plain JSON data (dicts, lists, strings, numbers), or None
    when there is none; hidden from the repr, since it may hold numbers and text."""
    description: str | None = None
    """The envelope's ``description``, when it is a string."""


#: What :func:`parse_event` returns.
WebhookEvent = DeliveryReceipt | InboundMessage | SurveyResponse | UnknownEvent


@attrs.frozen(kw_only=True)
class _ReceiptEnvelope:
    payload: DeliveryReceipt


@attrs.frozen(kw_only=True)
class _InboundEnvelope:
    payload: InboundMessage


_ENVELOPES: dict[tuple[str, str], tuple[type[_ReceiptEnvelope | _InboundEnvelope], str]] = {
    ("SMS", "outbound_message_status_changed"): (_ReceiptEnvelope, "delivery receipt"),
    ("SMS", "inbound_message_received"): (_InboundEnvelope, "inbound SMS"),
}

# Wavecell's JSON used PascalCase keys (DeliveryReport version 3 in JSON); 8x8's are camelCase.
_LEGACY_KEYS = frozenset(
    {
        "UMID",
        "Umid",
        "DateTimeStamp",
        "SubAccountId",
        "SubAccountID",
        "Status",
        "Reason",
        "Source",
        "Destination",
        "ClientMessageId",
        "ErrorCode",
        "Price",
        "Currency",
        "Attempt",
        "DeliveryReport",
        "Version",
    }
)


def parse_event(body: bytes | bytearray | memoryview | str) -> WebhookEvent:
    """Read one webhook body from 8x8 into a typed event.

    Args:
        body: The raw request body, as 8x8 posted it; a ``str`` (a body a framework already
            decoded) is read as its UTF-8 encoding.

    Returns:
        A :class:`DeliveryReceipt`, an :class:`InboundMessage`, a :class:`SurveyResponse`, or an
        :class:`UnknownEvent` for a namespace or event type this SDK does not know.

    Raises:
        LegacyWebhookError: The body is in Wavecell's old format (XML, or the old field names).
        WebhookFormatError: The body is not JSON, or not of the documented shape; ``.path``
            names the first offending value. Neither message quotes the body.
        ValidationError: ``body`` is neither bytes nor a str (e.g. an already parsed dict).
    """
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise ValidationError("body", "the request body as bytes or str (not parsed JSON)")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise LegacyWebhookError("XML")
    try:
        data = decode_json(body)
    except ValueError:
        msg = "The webhook body is not JSON."
        raise WebhookFormatError(msg, path="$") from None
    if not isinstance(data, dict):
        msg = f"The webhook body is not a JSON object (got {type(data).__name__})."
        raise WebhookFormatError(msg, path="$")
    if "namespace" not in data and "eventType" not in data:
        if "surveyId" in data:
            return _structure(data, SurveyResponse, "survey response")
        if _LEGACY_KEYS.intersection(data):
            raise LegacyWebhookError("JSON with Wavecell's field names")
        msg = "The webhook body has no $.namespace, and is not a survey response."
        raise WebhookFormatError(msg, path="$.namespace")
    namespace = data.get("namespace")
    event_type = data.get("eventType")
    if not isinstance(namespace, str) or not isinstance(event_type, str):
        bad = "$.namespace" if not isinstance(namespace, str) else "$.eventType"
        msg = f"The webhook body's {bad} is not a string."
        raise WebhookFormatError(msg, path=bad)
    known = _ENVELOPES.get((namespace, event_type))
    if known is None:
        description = data.get("description")
        return UnknownEvent(
            namespace=namespace,
            event_type=event_type,
            payload=data.get("payload"),
            description=description if isinstance(description, str) else None,
        )
    envelope, label = known
    event: DeliveryReceipt | InboundMessage = _structure(data, envelope, label).payload
    return event


def _structure(data: Mapping[str, object], cls: type[_T], label: str) -> _T:
    try:
        result: _T = structure_response(data, cls)
    except ResponseValidationError as exc:
        # The converter's message reads "8x8 returned a <Class> ...: <path> <problem>."; the
        # problem (a type, "is missing") never quotes the value.
        problem = str(exc).rpartition(f"{exc.path} ")[2].rstrip(".")
        msg = f"The webhook body is not a valid {label}: {exc.path} {problem}."
        raise WebhookFormatError(msg, path=exc.path) from None
    return result
