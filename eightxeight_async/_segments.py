r"""Count the SMS parts a text needs, as 8x8 bills them (GSM 03.38 / UCS-2).

8x8's rules: GSM7 holds 160 characters in one part and 153 per part when split; UCS2 holds 70
and 67. At most 10 parts are sent: a longer text is cut, without an error. ``AUTO`` picks UCS2
as soon as one character is outside the GSM alphabet. The docs do not say it, but the GSM
extension characters (``^{}\[~]|€`` and form feed) take two septets each (3GPP TS 23.038).
"""

from __future__ import annotations

import attrs

__all__ = ["MAX_PARTS", "SegmentInfo", "count_segments"]

MAX_PARTS = 10

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@attrs.frozen
class SegmentInfo:
    """How a text will be sent."""

    encoding: str
    """``"GSM7"`` or ``"UCS2"``."""
    units: int
    """Septets (GSM7) or UTF-16 code units (UCS2) in the text."""
    parts: int
    """SMS parts billed, at most :data:`MAX_PARTS`."""
    truncated: bool
    """Whether the text is longer than 10 parts hold (8x8 cuts it)."""


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 alphabet or its extension."""
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text)


def count_segments(text: str, encoding: str = "AUTO") -> SegmentInfo:
    """Count the parts ``text`` needs in ``encoding`` (``AUTO``, ``GSM7`` or ``UCS2``).

    Args:
        text: The message text.
        encoding: The requested encoding; ``AUTO`` detects it.

    Returns:
        The encoding used, the size in units, and the parts.
    """
    if encoding == "AUTO":
        encoding = "GSM7" if is_gsm7(text) else "UCS2"
    if encoding == "GSM7":
        units = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
    else:
        encoding = "UCS2"
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    parts = 1 if units <= single else -(-units // multi)
    return SegmentInfo(
        encoding=encoding,
        units=units,
        parts=min(parts, MAX_PARTS),
        truncated=parts > MAX_PARTS,
    )
