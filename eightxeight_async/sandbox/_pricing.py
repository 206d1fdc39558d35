"""The sandbox's price list: a few countries and operators, in 8x8's price list shape.

A message is charged the per-part price of the first operator of its destination's country
(found by dialing prefix); a number of a country not listed costs :data:`DEFAULT_PRICE` per part
and has no operator. Prices are in :data:`CURRENCY`, the same for every subaccount.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

__all__ = [
    "COUNTRIES",
    "CURRENCY",
    "DEFAULT_PRICE",
    "Country",
    "Operator",
    "country_of",
    "price_list",
]

CURRENCY = "EUR"
DEFAULT_PRICE = Decimal("0.0075")


@attrs.frozen
class Operator:
    """A mobile operator: name, 8x8's operator id, its networks (MCC, MNC) and per-part price."""

    name: str
    operator_id: int
    hni: tuple[tuple[str, str], ...]
    price: Decimal


@attrs.frozen
class Country:
    """A country of the price list, its operators (first = the one the sandbox routes to)."""

    alpha2: str
    name: str
    dialing_prefix: str
    operators: tuple[Operator, ...]
    inbound: tuple[tuple[str, Decimal], ...] = ()
    """Inbound number types (8x8's ``PriceInboundNumber.type``) and their default price."""


COUNTRIES: tuple[Country, ...] = (
    Country(
        "SG",
        "Singapore",
        "+65",
        (
            Operator(
                "SingTel", 525001, (("525", "01"), ("525", "02"), ("525", "07")), DEFAULT_PRICE
            ),
            Operator("StarHub", 525005, (("525", "05"), ("525", "06")), Decimal("0.0071")),
            Operator("M1", 525003, (("525", "03"),), Decimal("0.0069")),
        ),
        (("longcode", Decimal("0.0040")), ("tollfree", Decimal("0.0100"))),
    ),
    Country(
        "US",
        "United States",
        "+1",
        (
            Operator("AT&T", 310410, (("310", "410"),), Decimal("0.0068")),
            Operator("Verizon", 311480, (("311", "480"),), Decimal("0.0070")),
            Operator("T-Mobile", 310260, (("310", "260"),), Decimal("0.0066")),
        ),
        (("longcode", Decimal("0.0030")), ("tollfree", Decimal("0.0060"))),
    ),
    Country(
        "GB",
        "United Kingdom",
        "+44",
        (
            Operator("EE", 234030, (("234", "30"), ("234", "33")), Decimal("0.0310")),
            Operator("Vodafone", 234015, (("234", "15"),), Decimal("0.0305")),
        ),
        (("longcode", Decimal("0.0050")),),
    ),
    Country(
        "PH",
        "Philippines",
        "+63",
        (
            Operator("Globe", 515002, (("515", "02"),), Decimal("0.0160")),
            Operator("Smart", 515003, (("515", "03"),), Decimal("0.0165")),
        ),
    ),
    Country(
        "ID",
        "Indonesia",
        "+62",
        (Operator("Telkomsel", 510010, (("510", "10"),), Decimal("0.0290")),),
    ),
)

# Longest prefix first, so that a longer code never loses to a shorter one it starts with.
_BY_PREFIX = sorted(COUNTRIES, key=lambda c: -len(c.dialing_prefix))


def country_of(digits: str) -> Country | None:
    """The listed country whose dialing prefix starts the E.164 ``digits`` (no ``+``), if any."""
    for country in _BY_PREFIX:
        if digits.startswith(country.dialing_prefix[1:]):
            return country
    return None


def _amount(value: Decimal) -> dict[str, Any]:
    return {"amount": float(value), "currency": CURRENCY}


def _outbound(country: Country, hni: tuple[int, int] | None) -> dict[str, Any] | None:
    operators = [
        {
            "operatorName": op.name,
            "operatorId": op.operator_id,
            "hni": [{"mcc": mcc, "mnc": mnc} for mcc, mnc in op.hni],
            "price": _amount(op.price),
        }
        for op in country.operators
        if hni is None or any((int(mcc), int(mnc)) == hni for mcc, mnc in op.hni)
    ]
    if not operators:
        return None
    return {
        "alpha2Code": country.alpha2,
        "countryName": country.name,
        "dialingPrefix": country.dialing_prefix,
        "operators": operators,
    }


def _inbound(country: Country) -> dict[str, Any] | None:
    if not country.inbound:
        return None
    return {
        "alpha2Code": country.alpha2,
        "countryName": country.name,
        "dialingPrefix": country.dialing_prefix,
        "numberTypes": [
            {"type": kind, "defaultPrice": _amount(price)} for kind, price in country.inbound
        ],
    }


def price_list(
    subaccounts: list[str],
    *,
    country: str | None,
    hni: tuple[int, int] | None,
    direction: str | None,
    as_arrays: bool,
) -> dict[str, Any]:
    """The price list body for ``subaccounts``, filtered.

    Args:
        subaccounts: The subaccounts to list, in order.
        country: Only this alpha-2 country.
        hni: Only operators with this (MCC, MNC); inbound prices of their countries.
        direction: ``"outbound"`` or ``"inbound"`` only; both when None.
        as_arrays: ``outbound`` as an array of ``{"countries": [...]}`` and ``inbound`` as an
            array of countries, as the file's schema says; otherwise ``{"countries": [...]}``
            for both, as all three of the file's examples show (the default).
    """
    countries = [c for c in COUNTRIES if country is None or c.alpha2 == country]
    outbound = [o for c in countries if (o := _outbound(c, hni)) is not None]
    matched = {o["alpha2Code"] for o in outbound}
    inbound = [i for c in countries if c.alpha2 in matched and (i := _inbound(c)) is not None]
    entries = []
    for subaccount in subaccounts:
        entry: dict[str, Any] = {"subAccountId": subaccount}
        if direction in (None, "outbound"):
            entry["outbound"] = [{"countries": outbound}] if as_arrays else {"countries": outbound}
        if direction in (None, "inbound"):
            entry["inbound"] = inbound if as_arrays else {"countries": inbound}
        entries.append(entry)
    return {"subAccounts": entries}
