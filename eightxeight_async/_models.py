"""Request and response classes, and the enums of the 8x8 SMS API.

Requests are frozen, keyword-only and validated on construction: bad input stops here, before any
I/O. Responses are frozen and lenient: unknown keys are ignored and an enum value the SDK does not
know is kept as the raw string, so 8x8 adding a value never breaks a user.
"""

# No "from __future__ import annotations" here: the package re-exports these classes with
# __module__ = "eightxeight_async", where typing.get_type_hints() could not resolve the names of
# string annotations. Evaluated annotations need no resolving.
import enum
import types
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import attrs

from . import _validators as v
from ._errors import ValidationError
from ._redact import mask_numbers

__all__ = [
    "Direction",
    "Encoding",
    "FeedbackRequest",
    "MessageDetails",
    "MessageState",
    "MessageStatus",
    "Outcome",
    "Price",
    "SmsRequest",
    "SmsResponse",
    "SmsStatus",
    "SmsStatusCode",
    "StatusDetail",
    "SurveyRequest",
    "Track",
    "mask_phone",
]


class _StrEnum(str, enum.Enum):
    """A string enum whose ``str()`` and f-string form is its wire value."""

    def __str__(self) -> str:
        return str(self.value)


class Encoding(_StrEnum):
    """The encoding of a message's text."""

    AUTO = "AUTO"
    """Let 8x8 choose: UCS2 when any character is outside the GSM 03.38 alphabet."""
    GSM7 = "GSM7"
    """The GSM 7-bit alphabet: 160 characters in one part, 153 per part when split."""
    UCS2 = "UCS2"
    """UTF-16: 70 characters in one part, 67 per part when split."""


class Track(_StrEnum):
    """Whether 8x8 tracks the conversion of a message (completed with ``send_feedback``)."""

    NONE = "None"
    """No conversion tracking for this message."""
    OUTCOME = "Outcome"
    """Track conversion; report it with ``send_feedback`` within 15 minutes."""


class Outcome(_StrEnum):
    """The outcome reported through ``send_feedback``."""

    SUCCESS = "success"
    """The action the message was meant to trigger happened (e.g. the OTP was entered)."""
    FAILURE = "failure"
    """The action did not happen."""


class SmsStatusCode(_StrEnum):
    """The status of a send request as 8x8 accepted it."""

    QUEUED = "QUEUED"
    """Accepted and queued for processing."""
    REJECTED = "REJECTED"
    """Refused by 8x8 although the HTTP status was 200; ``SmsStatus.description`` says why."""


class Direction(_StrEnum):
    """The direction of a message."""

    OUTBOUND = "outbound"
    """Mobile terminated: sent by you."""
    INBOUND = "inbound"
    """Mobile originated: sent to your number."""


class MessageState(_StrEnum):
    """The general state of a message in message details and delivery receipts."""

    UNKNOWN = "unknown"
    """Not known; an exceptional or intermediate state."""
    QUEUED = "queued"
    """Accepted and queued for processing."""
    FAILED = "failed"
    """Rejected by the API; it will not be processed (``rejected`` in delivery receipts)."""
    REJECTED = "rejected"
    """Rejected (the delivery receipt's word for ``failed``)."""
    SENT = "sent"
    """Sent to the operator, not yet acknowledged."""
    DELIVERED = "delivered"
    """Delivered, confirmed by the operator."""
    UNDELIVERED = "undelivered"
    """The operator reported that the message was not delivered."""
    READ = "read"
    """Delivered and read."""
    OK = "ok"
    """The operation succeeded."""
    ERROR = "error"
    """An error occurred during the operation."""


class StatusDetail(_StrEnum):
    """The detail of a message state."""

    DELIVERED_TO_OPERATOR = "delivered_to_operator"
    """Delivered to the operator (state ``delivered``)."""
    DELIVERED_TO_RECIPIENT = "delivered_to_recipient"
    """Delivered to the recipient (state ``delivered``)."""
    REJECTED_BY_OPERATOR = "rejected_by_operator"
    """Rejected by the operator (state ``undelivered``)."""
    UNDELIVERED_TO_RECIPIENT = "undelivered_to_recipient"
    """Reached the device but rejected by it (state ``undelivered``)."""


#: Types of the response fields that hold an open enum: the member, or the raw unknown string.
EncodingTypes = Encoding | str
SmsStatusCodeTypes = SmsStatusCode | str
DirectionTypes = Direction | str
MessageStateTypes = MessageState | str
StatusDetailTypes = StatusDetail | str


def mask_phone(number: str | None) -> str | None:
    """Mask a phone number for reprs and logs, keeping its first 3 and last 2 characters.

    Args:
        number: The phone number (already-masked numbers from 8x8 are masked again, harmlessly).

    Returns:
        The masked number, e.g. ``"+65******67"``, or ``None``.
    """
    if number is None:
        return None
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def _mask_repr(value: str | None) -> str:
    return repr(mask_phone(value))


def _id_repr(value: str | None) -> str:
    # A client_message_id may hold a number ("{client_batch_id}/{destination}" for a batch
    # sent to destinations): phone-like digit runs are masked; the attribute keeps it whole.
    return "None" if value is None else repr(mask_numbers(value))


def _hidden_repr(value: object) -> str:
    return "'***'" if value is not None else "None"


def _url_repr(value: str | None) -> str:
    # A webhook URL may carry basic-auth credentials for the caller's own server.
    if value is None or "@" not in value:
        return repr(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        return "'***'"
    if not parts.username and parts.password is None:
        return repr(value)
    host = parts.netloc.rpartition("@")[2]
    return repr(parts._replace(netloc=f"***@{host}").geturl())


# --- requests ----------------------------------------------------------------------------------

# Named converters (not factories), so that mypy's attrs plugin can type __init__ from them.


def _encoding(value: Encoding | str | None) -> Encoding | None:
    return v.coerce_enum(Encoding, value, "encoding")


def _track(value: Track | str | None) -> Track | None:
    return v.coerce_enum(Track, value, "track")


def _frozen_mapping(
    value: Mapping[str, str | int | float | bool] | None,
) -> Mapping[str, str | int | float | bool] | None:
    # A copy, read-only: the caller's dict could otherwise change after validation (a NaN added
    # later would reach the wire). Anything else is left for the validator to refuse.
    if isinstance(value, Mapping):
        return types.MappingProxyType(dict(value))
    return value


def _outcome(value: Outcome | str) -> Outcome:
    result = v.coerce_enum(Outcome, value, "outcome")
    if result is None:
        raise ValidationError("outcome", "one of 'success', 'failure'")
    return result


@attrs.frozen(kw_only=True)
class SmsRequest:
    """The body of ``POST /api/v1/subaccounts/{subAccountId}/messages``."""

    destination: str = attrs.field(validator=v.destination, repr=_mask_repr)
    """The MSISDN, international (``+`` optional) or national when ``country`` is given."""
    text: str = attrs.field(validator=v.non_empty_text, repr=_hidden_repr)
    """The message body."""
    country: str | None = attrs.field(default=None, validator=v.country)
    """ISO 3166-1 alpha-2 code of the destination, to convert a national number."""
    source: str | None = attrs.field(default=None, validator=v.max_length(16))
    """The sender id (the "From:" of the SMS), at most 16 characters."""
    client_message_id: str | None = attrs.field(
        default=None, validator=v.max_length(350), repr=_id_repr
    )
    """Your own reference, echoed in responses and delivery receipts (at most 350 characters)."""
    encoding: Encoding | None = attrs.field(default=None, converter=_encoding)
    """The text encoding; 8x8 uses AUTO when absent."""
    scheduled: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """When to deliver (timezone-aware, at most 7 days ahead)."""
    expiry: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """After this time the message is discarded if not yet sent (timezone-aware, in the future)."""
    dlr_callback_url: str | None = attrs.field(default=None, validator=v.http_url, repr=_url_repr)
    """Where 8x8 posts the delivery receipt (overrides the account's webhook)."""
    client_ip: str | None = attrs.field(default=None, validator=v.ip_address)
    """The end user's IP address, for 8x8's per-IP rate limit (enabled by 8x8 support)."""
    track: Track | None = attrs.field(default=None, converter=_track)
    """``Outcome`` to track conversion (complete it with ``send_feedback``), ``None`` not to."""


@attrs.frozen(kw_only=True)
class SurveyRequest:
    """The body of ``POST /api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages``.

    A survey has no ``text``, ``clientIp`` or ``track``: its text is the survey's template.
    """

    destination: str = attrs.field(validator=v.destination, repr=_mask_repr)
    """The MSISDN, international (``+`` optional) or national when ``country`` is given."""
    country: str | None = attrs.field(default=None, validator=v.country)
    """ISO 3166-1 alpha-2 code of the destination (exactly 2 characters)."""
    template_body: str | None = attrs.field(
        default=None, validator=v.template_body, repr=_hidden_repr
    )
    """The message template; it must hold ``{{url:}}``, the survey link 8x8 set up for you."""
    template_variables: Mapping[str, str | int | float | bool] | None = attrs.field(
        default=None,
        converter=_frozen_mapping,
        validator=v.template_variables,
        repr=_hidden_repr,
    )
    """Values for the template's variables (kept as a read-only copy)."""
    source: str | None = attrs.field(default=None, validator=v.max_length(16))
    """The sender id, at most 16 characters."""
    client_message_id: str | None = attrs.field(
        default=None, validator=v.max_length(350), repr=_id_repr
    )
    """Your own reference (at most 350 characters)."""
    encoding: Encoding | None = attrs.field(default=None, converter=_encoding)
    """The text encoding; 8x8 uses AUTO when absent."""
    scheduled: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """When to deliver (timezone-aware, at most 7 days ahead)."""
    expiry: datetime | None = attrs.field(default=None, validator=v.schedule_window)
    """After this time the message is discarded if not yet sent."""
    dlr_callback_url: str | None = attrs.field(default=None, validator=v.http_url, repr=_url_repr)
    """Where 8x8 posts the delivery receipt."""


@attrs.frozen(kw_only=True)
class FeedbackRequest:
    """The body of ``POST /api/v1/subaccounts/{subAccountId}/messages/{umid}/feedback``."""

    outcome: Outcome = attrs.field(converter=_outcome)
    """Whether the action the message was meant to trigger happened."""
    timestamp: datetime | None = attrs.field(default=None, validator=v.aware_datetime)
    """When that action happened (timezone-aware)."""


# --- responses ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SmsStatus:
    """The status of a send request."""

    code: SmsStatusCodeTypes
    """``QUEUED`` or ``REJECTED`` (an unknown code is kept as the raw string)."""
    description: str | None = None
    """8x8's explanation, e.g. ``"SMS is accepted and queued for processing"``."""


@attrs.frozen(kw_only=True)
class SmsResponse:
    """8x8's answer to a send: the message was queued, or rejected in a 200."""

    umid: str
    """The unique message id 8x8 gave the message."""
    destination: str = attrs.field(repr=_mask_repr)
    """The MSISDN the message goes to."""
    encoding: EncodingTypes
    """The encoding 8x8 detected or used."""
    status: SmsStatus
    """Whether the message was queued or rejected, and why."""
    client_message_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your reference, echoed back (the SDK generates one when you give none)."""

    @property
    def rejected(self) -> bool:
        """True when 8x8 answered HTTP 200 but refused the message (status REJECTED)."""
        return self.status.code == SmsStatusCode.REJECTED


@attrs.frozen(kw_only=True)
class MessageStatus:
    """The delivery status in message details."""

    state: MessageStateTypes
    """The general state, e.g. ``delivered`` (an unknown state is kept as the raw string)."""
    detail: StatusDetailTypes | None = None
    """More detail, e.g. ``delivered_to_recipient``."""
    error_code: int | None = None
    """The delivery error code (see the README's table), when there is one."""
    error_message: str | None = attrs.field(default=None, repr=_id_repr)
    """The delivery error's description (a number it quotes is masked in the repr)."""
    timestamp: datetime | None = None
    """When the status was observed."""


@attrs.frozen(kw_only=True)
class Price:
    """What a message cost; exact decimals, never binary floats."""

    total: Decimal
    """The total price: ``per_sms * sms_count``."""
    per_sms: Decimal
    """The price of one part."""
    currency: str
    """ISO 4217 currency code, e.g. ``"EUR"``."""


@attrs.frozen(kw_only=True)
class MessageDetails:
    """The details of one message (``get_message``); ``msisdn`` and ``body`` masked by 8x8."""

    umid: str
    """The unique message id."""
    subaccount_id: str
    """The subaccount the message belongs to."""
    direction: DirectionTypes
    """``outbound`` or ``inbound``."""
    status: MessageStatus
    """The delivery status."""
    msisdn: str = attrs.field(repr=_mask_repr)
    """The phone number, masked by 8x8 unless support unmasked it (e.g. ``+63922110xxxx``)."""
    source: str
    """The sender id."""
    body: str = attrs.field(repr=False)
    """The message text, ``**MASKED**`` unless support unmasked it."""
    encoding: EncodingTypes
    """The encoding used (``GSM7``, ``GSM8`` or ``UCS2``; ``GSM8`` is kept as a string)."""
    created_at: datetime
    """When the message was submitted."""
    sms_count: int
    """How many parts the message was sent in."""
    price: Price | None = None
    """The price; documented as always present but absent when nothing was charged."""
    country: str | None = None
    """The destination's ISO 3166-1 alpha-2 code."""
    client_message_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your reference."""
    client_batch_id: str | None = attrs.field(default=None, repr=_id_repr)
    """Your batch reference, for batch sends."""
    batch_id: str | None = None
    """8x8's batch id, for batch sends."""
