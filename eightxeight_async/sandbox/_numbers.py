"""National numbers to international form, as 8x8 does when a send names the ``country``.

8x8 accepts a national number with its ISO 3166-1 country ("Optional country code of Destination
number ... It will help to convert number from national to international format"). The sandbox
knows the numbering plans of the countries below (calling code, trunk prefix, lengths of the
national significant number) and nothing more: a number of another country, or one whose length
fits no plan, is taken as already international, as written. It is a demo's table, not
libphonenumber.
"""

from __future__ import annotations

__all__ = ["NUMBERING_PLANS", "to_international"]

#: country -> (calling code, trunk prefix or "", lengths of the national significant number)
NUMBERING_PLANS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "AU": ("61", "0", (9,)),
    "CA": ("1", "1", (10,)),
    "DE": ("49", "0", (10, 11)),
    "FR": ("33", "0", (9,)),
    "GB": ("44", "0", (10,)),
    "HK": ("852", "", (8,)),
    "ID": ("62", "0", (9, 10, 11, 12)),
    "IN": ("91", "0", (10,)),
    "JP": ("81", "0", (9, 10)),
    "MY": ("60", "0", (9, 10)),
    "PH": ("63", "0", (10,)),
    "SG": ("65", "", (8,)),
    "TH": ("66", "0", (8, 9)),
    "US": ("1", "1", (10,)),
    "VN": ("84", "0", (9, 10)),
}


def to_international(destination: str, country: str | None) -> str:
    """The E.164 digits (without ``+``) 8x8 would send ``destination`` to.

    Args:
        destination: The number as sent, matching 8x8's destination pattern.
        country: The request's ``country``, if any.

    Returns:
        ``"6591234567"`` for ``("91234567", "SG")``; the digits as written when the number has a
        ``+``, no country is given, the country is not in :data:`NUMBERING_PLANS`, or the length
        fits no national form of that country (so it is already international).
    """
    digits = destination.removeprefix("+")
    if destination.startswith("+") or not country:
        return digits
    plan = NUMBERING_PLANS.get(country.upper())
    if plan is None:
        return digits
    calling_code, trunk, lengths = plan
    if trunk and digits.startswith(trunk) and len(digits) - len(trunk) in lengths:
        return calling_code + digits[len(trunk) :]
    if len(digits) in lengths:
        return calling_code + digits
    return digits
