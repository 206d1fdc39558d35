r"""Count the SMS parts a text needs, as 8x8 bills them (GSM 03.38 / UCS-2).

8x8's rules: GSM7 holds 160 characters in one part and 153 per part when split; UCS2 holds 70
and 67. At most 10 parts are sent: a longer text is cut, without an error. ``AUTO`` picks UCS2
as soon as one character is outside the GSM alphabet.

What the docs leave to the standards (3GPP TS 23.038 and 23.040):

- the GSM extension characters (``^{}\[~]|€`` and form feed) take two septets each, an escape
  and the character, and the pair is never split across parts: a part that has one septet left
  when such a character comes is sent one septet short;
- in UCS2 a character outside the Basic Multilingual Plane (most emoji) takes two UTF-16 code
  units, a surrogate pair, which is never split either: a part is then sent one unit short.

So a split text can need more parts than ``ceil(units / 153)`` (or ``/ 67``) says. A lone
surrogate (which JSON can carry) counts as one unit.
"""

from __future__ import annotations

import attrs

__all__ = ["MAX_PARTS", "SegmentInfo", "count_segments", "is_gsm7", "split_parts"]

MAX_PARTS = 10

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
# (units in one part alone, units per part of a split text)
_SIZES = {"GSM7": (160, 153), "UCS2": (70, 67)}


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


def _resolve(text: str, encoding: str) -> str:
    if encoding == "AUTO":
        return "GSM7" if is_gsm7(text) else "UCS2"
    return "GSM7" if encoding == "GSM7" else "UCS2"


def _cost(ch: str, encoding: str) -> int:
    """Units of one character: an escape pair in GSM7, a surrogate pair in UCS2 count 2."""
    if encoding == "GSM7":
        # A character outside the alphabet is sent as one replacement septet.
        return 2 if ch in _GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def split_parts(text: str, encoding: str = "AUTO") -> list[str]:
    """Split ``text`` into the parts it is sent in, before the 10-part cut.

    Args:
        text: The message text.
        encoding: ``AUTO``, ``GSM7`` or ``UCS2``.

    Returns:
        The parts, in order; one part (perhaps empty) when the text fits in one.
    """
    encoding = _resolve(text, encoding)
    single, per_part = _SIZES[encoding]
    if sum(_cost(ch, encoding) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    start = used = 0
    for index, ch in enumerate(text):
        cost = _cost(ch, encoding)
        if used + cost > per_part:  # a pair never straddles two parts
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def count_segments(text: str, encoding: str = "AUTO") -> SegmentInfo:
    """Count the parts ``text`` needs in ``encoding`` (``AUTO``, ``GSM7`` or ``UCS2``).

    Args:
        text: The message text.
        encoding: The requested encoding; ``AUTO`` detects it.

    Returns:
        The encoding used, the size in units, and the parts.
    """
    encoding = _resolve(text, encoding)
    parts = len(split_parts(text, encoding))
    return SegmentInfo(
        encoding=encoding,
        units=sum(_cost(ch, encoding) for ch in text),
        parts=min(parts, MAX_PARTS),
        truncated=parts > MAX_PARTS,
    )
