"""The sandbox's one rule for an account balance, wherever it comes in.

``Sandbox(start_balance=...)``, ``eightxeight sandbox --start-balance`` and ``POST
/_sandbox/account {"balance": ...}`` all go through :func:`parse_balance`: an amount of
:data:`~eightxeight_async.sandbox._pricing.CURRENCY` from 0 to :data:`MAX_BALANCE`, with at most
:data:`MAX_DECIMALS` digits after the point. Text must be plain ASCII digits with an optional
decimal point (``100``, ``0.5``, ``12.25``): no sign, exponent (``1e3``), ``_`` separator,
whitespace or digits of other scripts (``١٢``), which ``Decimal`` and ``float`` would read. A
prepaid balance starts at 0 or more; only charges take it below 0 (the sandbox does no credit
check). The amount is kept normalised (``0100.50`` is ``100.5``), so it is echoed as it is kept,
and it always fits a JSON number.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["BALANCE_RULE", "MAX_BALANCE", "MAX_DECIMALS", "format_amount", "parse_balance"]

MAX_BALANCE = Decimal(10) ** 12
MAX_DECIMALS = 6
BALANCE_RULE = (
    f"an amount from 0 to 1000000000000 with at most {MAX_DECIMALS} decimals, in plain digits"
    " with an optional decimal point (e.g. 100 or 12.5)"
)
# ASCII only, whatever Unicode calls a digit; a point must have digits on both sides.
_PLAIN = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)


def _as_text(value: object) -> str | None:
    """``value`` written out in digits, or None when it is no amount or not from 0 to 10**12."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Compared as a number first: str() of an int of thousands of digits raises.
        return str(value) if 0 <= value <= MAX_BALANCE else None
    if isinstance(value, float):
        if not 0 <= value <= MAX_BALANCE:  # False for NaN and the infinities
            return None
        return format(Decimal(repr(value)), "f")  # 1e-05 reads 0.00001, not an exponent
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() and 0 <= value <= MAX_BALANCE else None
    return None


def parse_balance(value: object) -> Decimal:
    """``value`` as a normalised balance, or ``ValueError`` with :data:`BALANCE_RULE`.

    Args:
        value: Text of plain digits, an ``int``, a finite ``float`` (a JSON number, read by its
            shortest ``repr``) or a finite ``Decimal``; never a ``bool``.
    """
    text = _as_text(value)
    match = _PLAIN.fullmatch(text) if text is not None else None
    if match is None:
        raise ValueError(BALANCE_RULE)
    whole = match[1].lstrip("0") or "0"
    fraction = (match[2] or "").rstrip("0")
    if len(fraction) > MAX_DECIMALS or len(whole) > 13:
        raise ValueError(BALANCE_RULE)
    amount = Decimal(f"{whole}.{fraction}" if fraction else whole)
    if amount > MAX_BALANCE:
        raise ValueError(BALANCE_RULE)
    return amount


def format_amount(amount: Decimal) -> str:
    """``amount`` in plain digits (never an exponent), e.g. for ``balance 100.5 EUR``."""
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
