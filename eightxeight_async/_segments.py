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

One implementation serves everyone: :func:`estimate_segments` (public, strict about its
arguments), :func:`count_segments` (the sandbox and ``eightxeight bulk --dry-run``: lenient, it
counts whatever a request holds) and :func:`split_parts` all measure through :func:`_measure`.
8x8 does not document what it does with a forced GSM7 on text outside the alphabet: the lenient
count sends each such character as one replacement septet; the public one refuses it.
"""

from __future__ import annotations

import warnings

import attrs

from ._errors import ValidationError

__all__ = [
    "MAX_PARTS",
    "SegmentEstimate",
    "SegmentInfo",
    "SegmentWarning",
    "count_segments",
    "estimate_segments",
    "is_gsm7",
    "split_parts",
]

MAX_PARTS = 10
"""8x8 sends at most this many parts of one text and cuts the rest, without an error."""

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
# (units in one part alone, units per part of a split text)
_SIZES = {"GSM7": (160, 153), "UCS2": (70, 67)}
_ENCODINGS = ("AUTO", "GSM7", "UCS2")


class SegmentWarning(UserWarning):
    """A text needs more than :data:`MAX_PARTS` parts: 8x8 sends the first 10 and cuts the rest.

    Emitted by :func:`estimate_segments` only when asked (``warn=True``); the same fact is always
    in :attr:`SegmentEstimate.truncated` and :attr:`SegmentEstimate.warning`.
    """


@attrs.frozen
class SegmentEstimate:
    """How 8x8 will send a text: its encoding, its parts and the room left in the last one.

    Sizes are in the units of the encoding: septets for GSM7 (an extension character such as
    ``€`` takes two), UTF-16 code units for UCS2 (an emoji outside the Basic Multilingual Plane
    takes two). Nothing here holds the text itself.
    """

    encoding: str
    """``"GSM7"`` or ``"UCS2"``: the one ``AUTO`` picks, or the one asked for."""
    units: int
    """Septets (GSM7) or UTF-16 code units (UCS2) in the whole text."""
    parts: int
    """SMS parts 8x8 sends (and bills), at most :data:`MAX_PARTS`."""
    parts_needed: int
    """Parts the whole text would need; more than :attr:`parts` when it is truncated."""
    characters_left: int
    """Units still free in the last part before another part is needed: septets for GSM7,
    UTF-16 code units for UCS2. One free unit takes a basic character but not an extension
    character or an emoji (those need two, and never straddle two parts). For a text of one
    part it counts against the single-part size (160 / 70), so that adding more than this many
    units makes it two parts of 153 / 67. 0 when the text is truncated."""
    truncated: bool
    """Whether the text needs more than 10 parts: 8x8 sends the first 10 and cuts the rest."""
    warning: str | None = None
    """A sentence saying the text will be cut, when :attr:`truncated`; else None."""


#: The name the sandbox and ``bulk --dry-run`` have used.
SegmentInfo = SegmentEstimate


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


def _measure(text: str, encoding: str) -> tuple[list[str], list[int]]:
    """Split ``text`` (in a resolved encoding) into parts, with the units each part holds."""
    single, per_part = _SIZES[encoding]
    costs = [_cost(ch, encoding) for ch in text]
    total = sum(costs)
    if total <= single:
        return [text], [total]
    parts: list[str] = []
    sizes: list[int] = []
    start = used = 0
    for index, cost in enumerate(costs):
        if used + cost > per_part:  # a pair never straddles two parts
            parts.append(text[start:index])
            sizes.append(used)
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    sizes.append(used)
    return parts, sizes


def _estimate(text: str, encoding: str) -> SegmentEstimate:
    resolved = _resolve(text, encoding)
    single, per_part = _SIZES[resolved]
    _, sizes = _measure(text, resolved)
    needed = len(sizes)
    truncated = needed > MAX_PARTS
    # A cut text has no room left: what would be added is cut too.
    left = 0 if truncated else (single if needed == 1 else per_part) - sizes[-1]
    warning = (
        f"The text needs {needed} parts; 8x8 sends the first {MAX_PARTS} and cuts the rest."
        if truncated
        else None
    )
    return SegmentEstimate(
        encoding=resolved,
        units=sum(sizes),
        parts=min(needed, MAX_PARTS),
        parts_needed=needed,
        characters_left=left,
        truncated=truncated,
        warning=warning,
    )


def split_parts(text: str, encoding: str = "AUTO") -> list[str]:
    """Split ``text`` into the parts it is sent in, before the 10-part cut.

    Args:
        text: The message text.
        encoding: ``AUTO``, ``GSM7`` or ``UCS2``.

    Returns:
        The parts, in order; one part (perhaps empty) when the text fits in one.
    """
    return _measure(text, _resolve(text, encoding))[0]


def count_segments(text: str, encoding: str = "AUTO") -> SegmentEstimate:
    """Count the parts ``text`` needs in ``encoding`` (``AUTO``, ``GSM7`` or ``UCS2``), leniently.

    For the sandbox and ``bulk --dry-run``, which must count any request without failing: a
    forced GSM7 counts a character outside the alphabet as one replacement septet, and an
    encoding other than GSM7 or AUTO counts as UCS2. :func:`estimate_segments` refuses both.

    Args:
        text: The message text.
        encoding: The requested encoding; ``AUTO`` detects it.

    Returns:
        The encoding used, the size in units, and the parts.
    """
    return _estimate(text, encoding)


def estimate_segments(text: str, encoding: str = "AUTO", *, warn: bool = False) -> SegmentEstimate:
    r"""Tell how 8x8 will send ``text``: the encoding, the parts it is billed for, the room left.

    The rules are 8x8's (GSM7: 160 in one part, 153 per part when split; UCS2: 70 and 67; at
    most 10 parts, the rest cut without an error; ``AUTO`` picks UCS2 for any character outside
    the GSM 03.38 alphabet) and the standards' (an extension character ``^{}\[~]|€`` or form
    feed takes two septets, an emoji two UTF-16 code units, and neither pair straddles two
    parts). Nothing is sent; the text is not kept.

    Args:
        text: The message text.
        encoding: An :class:`~eightxeight_async.Encoding` or its value: ``"AUTO"`` (the
            default), ``"GSM7"`` or ``"UCS2"``.
        warn: Also emit a :class:`SegmentWarning` when the text needs more than 10 parts
            (the estimate's ``truncated`` and ``warning`` say so either way).

    Returns:
        The :class:`SegmentEstimate`.

    Raises:
        ValidationError: ``text`` is not a string (field ``text``); ``encoding`` is not one of
            the three, or is GSM7 for a text with a character outside the GSM 03.38 alphabet
            (field ``encoding``: ask for AUTO or UCS2 instead).
    """
    if not isinstance(text, str):
        raise ValidationError("text", "a string")
    value = getattr(encoding, "value", encoding)
    if not isinstance(value, str) or value not in _ENCODINGS:
        raise ValidationError("encoding", "one of AUTO, GSM7 or UCS2")
    if value == "GSM7" and not is_gsm7(text):
        raise ValidationError(
            "encoding",
            "AUTO or UCS2 for a text with characters outside the GSM 03.38 alphabet",
        )
    estimate = _estimate(text, value)
    if warn and estimate.warning is not None:
        warnings.warn(estimate.warning, SegmentWarning, stacklevel=2)
    return estimate
