"""Account operations: the price list, the balance, and the webhook configuration.

Webhook secrets (``http_authorization``, ``oauth.client_secret``) never appear in a repr. 8x8
masks them as ``***`` when it lists webhooks; a request refuses that mask, so a listed webhook
sent back unchanged cannot overwrite the real secret with three asterisks.
"""

# No "from __future__ import annotations" here: see _models.py (get_type_hints on re-exports).
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from . import _validators as v
from . import _validators_ops as vo
from ._converters import array_in
from ._errors import ValidationError
from ._models import _hidden_repr, _StrEnum, _url_repr

__all__ = [
    "Amount",
    "Balance",
    "CountryPrices",
    "CredentialsLocation",
    "Hni",
    "InboundCountryPrices",
    "InboundNumberPrice",
    "InboundNumberType",
    "OperatorPrice",
    "PriceDirection",
    "PriceList",
    "PriceQuery",
    "SubaccountPrices",
    "Webhook",
    "WebhookDelete",
    "WebhookOAuth",
    "WebhookRequest",
]


class PriceDirection(_StrEnum):
    """Which prices ``get_prices`` returns."""

    OUTBOUND = "outbound"
    """Prices of messages you send, per country and operator."""
    INBOUND = "inbound"
    """Prices of messages you receive, per country and number type."""


class InboundNumberType(_StrEnum):
    """The kind of virtual number an inbound price is for."""

    LONGCODE = "longcode"
    """A long (ordinary) number."""
    SHORT_CODE_PREMIUM = "shortCodePremium"
    """A premium-rate short code."""
    SHORT_CODE_P2P = "shortCodeP2P"
    """A person-to-person short code."""
    SHORT_CODE_FTEU = "shortCodeFTEU"
    """A free-to-end-user short code."""
    TOLLFREE = "tollfree"
    """A toll-free number (8x8's example spells it ``tollFree``)."""


class CredentialsLocation(_StrEnum):
    """Where 8x8 puts the OAuth client credentials when it asks your token endpoint."""

    HEADER = "header"
    """HTTP Basic authentication."""
    BODY = "body"
    """In the form body."""


def _open_folded(enum_cls: type[enum.Enum], value: object) -> object:
    # 8x8's own example writes "tollFree" for the enum value "tollfree": match without case and
    # keep an unknown value as the string.
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        folded = value.casefold()
        return next((m for m in enum_cls if m.value.casefold() == folded), value)
    return value


def _number_type(value: "InboundNumberType | str | None") -> "InboundNumberType | str | None":
    return _open_folded(InboundNumberType, value)  # type: ignore[return-value]


def _credentials_location(value: "CredentialsLocation | str") -> "CredentialsLocation | str":
    return _open_folded(CredentialsLocation, value)  # type: ignore[return-value]


# --- prices ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Amount:
    """An amount of money; an exact decimal, never a binary float."""

    amount: Decimal
    """The amount, e.g. ``Decimal("0.0099171")``."""
    currency: str
    """ISO 4217 currency code, e.g. ``"SGD"``."""


def _code_in(value: object) -> object:
    # The schema says a string ("01"); a number is taken as its digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


@attrs.frozen(kw_only=True)
class Hni:
    """A home network identity: the mobile country code and network code of an operator."""

    mcc: str = attrs.field(metadata={"wire_in": _code_in})
    """The mobile country code, e.g. ``"525"``."""
    mnc: str = attrs.field(metadata={"wire_in": _code_in})
    """The mobile network code, e.g. ``"01"`` (text: leading zeros matter)."""


@attrs.frozen(kw_only=True)
class OperatorPrice:
    """The outbound price of one operator."""

    operator_name: str | None = None
    """The operator's name, e.g. ``"SingTel"``."""
    operator_id: int | None = None
    """8x8's id of the operator."""
    hni: tuple[Hni, ...] = attrs.field(default=(), metadata={"wire_in": array_in})
    """The operator's networks."""
    price: Amount | None = None
    """The price of one message part."""


@attrs.frozen(kw_only=True)
class CountryPrices:
    """The outbound prices of one country."""

    alpha2_code: str
    """ISO 3166-1 alpha-2 code, e.g. ``"SG"``."""
    country_name: str | None = None
    """The country's name."""
    dialing_prefix: str | None = None
    """The country's dialing prefix, e.g. ``"+65"``."""
    operators: tuple[OperatorPrice, ...] = attrs.field(default=(), metadata={"wire_in": array_in})
    """The price of each operator."""


@attrs.frozen(kw_only=True)
class InboundNumberPrice:
    """The inbound price of one kind of virtual number."""

    type: InboundNumberType | str | None = attrs.field(default=None, converter=_number_type)
    """The kind of number (an unknown kind is kept as the raw string)."""
    default_price: Amount | None = None
    """The price of one received message."""


@attrs.frozen(kw_only=True)
class InboundCountryPrices:
    """The inbound prices of one country."""

    alpha2_code: str
    """ISO 3166-1 alpha-2 code, e.g. ``"SG"``."""
    country_name: str | None = None
    """The country's name."""
    dialing_prefix: str | None = None
    """The country's dialing prefix."""
    number_types: tuple[InboundNumberPrice, ...] = attrs.field(
        default=(), metadata={"wire_in": array_in}
    )
    """The price of each kind of number."""


def _countries_in(value: object) -> object:
    """8x8's examples write ``{"countries": [...]}``, its schema ``[{"countries": [...]}]``."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        msg = f"expected an object or an array, got {type(value).__name__}"
        raise TypeError(msg)
    countries: list[object] = []
    for item in value:
        if isinstance(item, dict) and "countries" in item:
            inner = item["countries"]
            if inner is None:
                continue
            if not isinstance(inner, list):
                msg = f"expected an array of countries, got {type(inner).__name__}"
                raise TypeError(msg)
            countries.extend(inner)
        else:
            # A country written without the wrapper; structuring checks it is one.
            countries.append(item)
    return countries


@attrs.frozen(kw_only=True)
class SubaccountPrices:
    """The prices of one subaccount."""

    subaccount_id: str
    """The subaccount."""
    outbound: tuple[CountryPrices, ...] = attrs.field(
        default=(), metadata={"wire_in": _countries_in}
    )
    """Outbound prices, per country (empty when not asked for or none)."""
    inbound: tuple[InboundCountryPrices, ...] = attrs.field(
        default=(), metadata={"wire_in": _countries_in}
    )
    """Inbound prices, per country (empty when not asked for or none)."""


@attrs.frozen(kw_only=True)
class PriceList:
    """8x8's answer to ``get_prices``."""

    subaccounts: tuple[SubaccountPrices, ...] = attrs.field(
        default=(), metadata={"wire": "subAccounts", "wire_in": array_in}
    )
    """The prices of each subaccount."""


def _direction(value: PriceDirection | str | None) -> PriceDirection | None:
    return v.coerce_enum(PriceDirection, value, "direction")


@attrs.frozen(kw_only=True)
class PriceQuery:
    """The query of ``GET /api/v1/accounts/{accountId}/prices``; every filter is optional."""

    country: str | None = attrs.field(default=None, validator=v.country)
    """Only this country (ISO 3166-1 alpha-2)."""
    mcc: int | None = attrs.field(default=None, validator=vo.int_range(0, 999))
    """Only this mobile country code (with ``mnc``)."""
    mnc: int | None = attrs.field(default=None, validator=vo.int_range(0, 999))
    """Only this mobile network code (with ``mcc``)."""
    direction: PriceDirection | None = attrs.field(default=None, converter=_direction)
    """Only outbound or only inbound prices."""
    subaccount_id: str | None = attrs.field(default=None)
    """Only this subaccount."""

    def __attrs_post_init__(self) -> None:
        if self.subaccount_id is not None:
            v.check_subaccount_id(self.subaccount_id)
        if (self.mcc is None) != (self.mnc is None):
            raise ValidationError(
                "mnc" if self.mnc is None else "mcc", "given together with mcc and mnc (a pair)"
            )

    def params(self) -> dict[str, str]:
        """The query parameters, with 8x8's names; filters not given are left out."""
        params: dict[str, str] = {}
        if self.country is not None:
            params["country"] = self.country
        if self.mcc is not None and self.mnc is not None:
            params["mcc"] = str(self.mcc)
            params["mnc"] = str(self.mnc)
        if self.direction is not None:
            params["direction"] = self.direction.value
        if self.subaccount_id is not None:
            params["subAccountId"] = self.subaccount_id
        return params


@attrs.frozen(kw_only=True)
class Balance:
    """8x8's answer to ``get_balance`` (prepaid accounts only)."""

    balance: Decimal
    """The balance left, an exact decimal."""
    currency: str
    """ISO 4217 currency code, e.g. ``"USD"``."""


# --- webhooks -------------------------------------------------------------------------------------


def _printable(_inst: object, attribute: "attrs.Attribute[Any]", value: object) -> None:
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ValidationError(attribute.name, "a non-empty string of printable characters")


@attrs.frozen(kw_only=True)
class WebhookOAuth:
    """OAuth 2.0 client credentials 8x8 uses to get a token before posting to your webhook.

    Checked when made, like the request classes: an http(s) ``url``, printable ``client_id``,
    ``client_secret`` and ``scope``. As listed by ``list_webhooks``, ``client_secret`` is 8x8's
    mask ``***``; a ``set_webhook`` call (``WebhookRequest``) also refuses that mask and a
    ``credentials_location`` other than ``header`` or ``body``.
    """

    url: str = attrs.field(validator=[vo.required, v.http_url], repr=_url_repr)
    """Your token endpoint."""
    client_id: str = attrs.field(validator=_printable)
    """The client id."""
    client_secret: str = attrs.field(validator=_printable, repr=_hidden_repr)
    """The client secret (``***`` when listed: 8x8 masks it)."""
    # Always sent: 8x8 requires it, and "header" is also the default here.
    credentials_location: CredentialsLocation | str = attrs.field(
        default=CredentialsLocation.HEADER,
        converter=_credentials_location,
        metadata={"wire_always": True},
    )
    """``header`` (HTTP Basic) or ``body`` (form body); an unknown listed value stays a string."""
    scope: str | None = attrs.field(default=None, validator=attrs.validators.optional(_printable))
    """Space-separated scopes to ask for."""


@attrs.frozen(kw_only=True)
class Webhook:
    """A webhook configuration as ``list_webhooks`` returns it."""

    subaccount_id: str
    """The subaccount whose events go to ``url``; ``"*"`` for every subaccount."""
    url: str = attrs.field(repr=_url_repr)
    """Where 8x8 posts the events."""
    enabled: bool = True
    """Whether the webhook is active."""
    http_authorization: str | None = attrs.field(default=None, repr=_hidden_repr)
    """The static ``Authorization`` header 8x8 sends (listed as ``***``: 8x8 masks it)."""
    oauth: WebhookOAuth | None = None
    """The OAuth client credentials 8x8 uses, when configured."""


def _oauth(value: WebhookOAuth | Mapping[str, Any] | None) -> WebhookOAuth | None:
    if value is None or isinstance(value, WebhookOAuth):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError("oauth", "a WebhookOAuth or a mapping of its fields")
    names = {a.name for a in attrs.fields(WebhookOAuth)}
    for key in value:
        if key not in names:
            field = f"oauth.{key}" if isinstance(key, str) and key.isidentifier() else "oauth"
            raise ValidationError(field, "a field of WebhookOAuth, and it is not")
    for name in ("url", "client_id", "client_secret"):
        if value.get(name) is None:
            raise ValidationError(f"oauth.{name}", "given")
    error: ValidationError | None = None
    try:
        return WebhookOAuth(**value)
    except ValidationError as exc:
        error = exc
    # Named as a field of oauth; raised outside the except block so that nothing is chained.
    raise ValidationError(f"oauth.{error.field}", error.rule)


def _check_oauth(oauth: WebhookOAuth) -> None:
    # What a WebhookOAuth checks itself holds; these are the rules of sending one.
    if oauth.client_secret == vo.MASKED_SECRET:
        raise ValidationError(
            "oauth.client_secret", "the secret itself, not the masked '***' 8x8 returns on GET"
        )
    if not isinstance(oauth.credentials_location, CredentialsLocation):
        raise ValidationError("oauth.credentials_location", "one of 'header', 'body'")


def _webhook_scope(_inst: object, attribute: "attrs.Attribute[Any]", value: object) -> None:
    v.check_webhook_scope(value, attribute.name)


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """One webhook of ``POST /api/v1/accounts/{accountId}/webhooks`` (the body is an array).

    8x8 creates the webhook of ``subaccount_id`` or replaces it.
    """

    subaccount_id: str = attrs.field(validator=_webhook_scope)
    """The subaccount whose events go to ``url``; ``"*"`` for every subaccount."""
    url: str = attrs.field(validator=[vo.required, v.http_url], repr=_url_repr)
    """Where 8x8 posts the events: an absolute http(s) URI."""
    # Always sent: whether a replace without "enabled" keeps the old value is not documented.
    enabled: bool = attrs.field(default=True, validator=vo.flag, metadata={"wire_always": True})
    """Whether the webhook is active."""
    http_authorization: str | None = attrs.field(
        default=None, validator=vo.header_value, repr=_hidden_repr
    )
    """A static ``Authorization`` header value 8x8 sends, e.g. ``"Basic dXNlcjpwYXNz"``."""
    oauth: WebhookOAuth | None = attrs.field(default=None, converter=_oauth)
    """OAuth client credentials 8x8 uses instead of ``http_authorization``."""

    def __attrs_post_init__(self) -> None:
        if self.oauth is not None:
            if self.http_authorization is not None:
                raise ValidationError("http_authorization", "omitted when oauth is given")
            _check_oauth(self.oauth)


@attrs.frozen(kw_only=True)
class WebhookDelete:
    """One item of ``DELETE /api/v1/accounts/{accountId}/webhooks`` (the body is an array)."""

    subaccount_id: str = attrs.field(validator=_webhook_scope)
    """The webhook's subaccount; ``"*"`` is the webhook of every subaccount, not a wildcard."""
