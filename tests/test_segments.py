"""The GSM-7 / UCS-2 part counter, against examples worked out by hand from the standards.

Each expected count below was computed on paper from 3GPP TS 23.038 / 23.040 and 8x8's table
(GSM7: 160 alone, 153 per part; UCS2: 70 alone, 67 per part; at most 10 parts), not from the
code: the working is in each case's comment. The properties then check what any correct split
must satisfy (the parts rebuild the text, each fits its budget, none could have taken the next
character), without recomputing the count.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async._errors import ValidationError
from eightxeight_async._models import Encoding
from eightxeight_async._segments import (
    MAX_PARTS,
    SegmentWarning,
    count_segments,
    estimate_segments,
    is_gsm7,
    split_parts,
)

EURO = "€"  # GSM extension table: ESC + 0x65, two septets
EMOJI = "😀"  # U+1F600, outside the BMP: a UTF-16 surrogate pair, two units


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        # One part holds 160 septets; a split text 153 per part (7 go to the UDH).
        pytest.param("a" * 160, "GSM7", 160, 1, id="gsm-160-one-part"),
        pytest.param("a" * 161, "GSM7", 161, 2, id="gsm-161-two-parts"),
        pytest.param("a" * 306, "GSM7", 306, 2, id="gsm-306-is-2x153"),
        pytest.param("a" * 307, "GSM7", 307, 3, id="gsm-307-three"),
        pytest.param("a" * 1530, "GSM7", 1530, 10, id="gsm-1530-is-10x153"),
        # Extension characters are two septets: 80 of them fill 160 exactly.
        pytest.param(EURO * 80, "GSM7", 160, 1, id="euro-80-fills-one"),
        # 81 euros = 162 septets, split: 76 per part (152), the 77th would straddle.
        pytest.param(EURO * 81, "GSM7", 162, 2, id="euro-81-two"),
        # 152 + 2 + 152 = 306 septets, but the euro cannot take the 153rd septet of part 1:
        # part 1 = 152, part 2 = 2 + 151 = 153, part 3 = 1.
        pytest.param("a" * 152 + EURO + "a" * 152, "GSM7", 306, 3, id="escape-never-straddles"),
        # 151 + 2 = 153 fills part 1 exactly; part 2 holds 153: two parts.
        pytest.param("a" * 151 + EURO + "a" * 153, "GSM7", 306, 2, id="escape-fits-exactly"),
        # 159 + 2 = 161 > 160: split, 153 then 6 + 2.
        pytest.param("a" * 159 + EURO, "GSM7", 161, 2, id="escape-pushes-over-160"),
        # é, Ç, Δ, ¤, §, ¡, ¿, à are in the basic GSM table.
        pytest.param("éÇΔ¤§¡¿à" * 20, "GSM7", 160, 1, id="basic-table-accents"),
        # UCS2: 70 alone, 67 per part.
        pytest.param("你" * 70, "UCS2", 70, 1, id="ucs2-70-one"),
        pytest.param("你" * 71, "UCS2", 71, 2, id="ucs2-71-two"),
        pytest.param("你" * 134, "UCS2", 134, 2, id="ucs2-134-is-2x67"),
        pytest.param("你" * 135, "UCS2", 135, 3, id="ucs2-135-three"),
        # One non-GSM character (ç is not in the table, Ç is) makes the whole text UCS2.
        pytest.param("a" * 70 + "ç", "UCS2", 71, 2, id="one-ucs2-char-switches"),
        # 35 emoji = 70 units, one part.
        pytest.param(EMOJI * 35, "UCS2", 70, 1, id="emoji-35-fill-one"),
        # 36 emoji = 72 units, split: 33 per part (66), the 34th would straddle: 33 + 3.
        pytest.param(EMOJI * 36, "UCS2", 72, 2, id="emoji-36-two"),
        # 66 + 2 + 66 = 134 units, but the pair cannot take unit 67: 66 | 2 + 65 | 1.
        pytest.param("a" * 66 + EMOJI + "a" * 66, "UCS2", 134, 3, id="pair-never-straddles"),
        pytest.param("a" * 65 + EMOJI + "a" * 67, "UCS2", 134, 2, id="pair-fits-exactly"),
        # 8x8 sends at most 10 parts and cuts the rest.
        pytest.param("a" * 5000, "GSM7", 5000, MAX_PARTS, id="cut-at-10"),
    ],
)
def test_count_segments_matches_hand_worked_examples(
    text: str, encoding: str, units: int, parts: int
) -> None:
    """AUTO detects the encoding and counts parts as worked out by hand."""
    info = count_segments(text)
    assert (info.encoding, info.units, info.parts) == (encoding, units, parts)


@pytest.mark.parametrize(
    ("length", "truncated"),
    [(1530, False), (1531, True)],
)
def test_count_segments_flags_texts_beyond_10_parts(length: int, truncated: bool) -> None:
    """1530 septets are exactly 10 parts; one more is cut."""
    assert count_segments("a" * length).truncated is truncated


def test_count_segments_forced_ucs2_counts_utf16_units() -> None:
    """A forced UCS2 encoding uses 70/67 even for GSM text: 71 letters are 2 parts."""
    info = count_segments("a" * 71, "UCS2")
    assert (info.encoding, info.parts) == ("UCS2", 2)


def test_count_segments_forced_gsm7_counts_one_septet_per_unknown_char() -> None:
    """Forced GSM7 sends a character outside the table as one replacement septet."""
    info = count_segments("ç" * 160, "GSM7")
    assert (info.encoding, info.units, info.parts) == ("GSM7", 160, 1)


def test_count_segments_lone_surrogate_is_one_unit() -> None:
    """A lone surrogate (JSON can carry one) is counted, not a UnicodeEncodeError."""
    info = count_segments("\ud800" + "a")
    assert (info.encoding, info.units, info.parts) == ("UCS2", 2, 1)


@pytest.mark.parametrize("ch", list("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà^{}\\[~]|€\f\n\r"))
def test_is_gsm7_knows_the_table(ch: str) -> None:
    """Characters of the GSM 03.38 basic table and its extension are GSM7."""
    assert is_gsm7(ch)


@pytest.mark.parametrize("ch", [*"`çáíóúâêÁ", "\t", "😀", "你"])
def test_is_gsm7_refuses_characters_outside_the_table(ch: str) -> None:
    """Look-alikes that are not in the GSM table (backtick, ç, á, tab, emoji) are not GSM7."""
    assert not is_gsm7(ch)


# GSM 03.38's basic table, 0x00 to 0x7F in order, less 0x1B (the escape to the extension).
GSM_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = "^{}\\[~]|€\f"
texts = st.one_of(
    st.text(alphabet=GSM_CHARS + GSM_EXT, max_size=1700),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=800),
    st.text(alphabet="a€" + EMOJI + "你", max_size=800),
)


def septets(ch: str) -> int:
    """3GPP TS 23.038: an extension character is ESC plus its code."""
    return 2 if ch in GSM_EXT else 1


def gsm_septets(text: str) -> int:
    """Septets of a GSM text."""
    return sum(septets(ch) for ch in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units, from Python's own encoder."""
    return len(text.encode("utf-16-le")) // 2


@given(texts)
def test_split_parts_rebuild_the_text_and_fit_their_budget(text: str) -> None:
    """The parts join back to the text, each fits 153 septets / 67 units, and none could take
    the first character of the next (so no split uses more parts than needed)."""
    info = count_segments(text)
    parts = split_parts(text)
    assert "".join(parts) == text
    assert info.parts == min(len(parts), MAX_PARTS)
    assert info.truncated == (len(parts) > MAX_PARTS)
    if info.encoding == "GSM7":
        size = sum(septets(ch) for ch in text)
        assert info.units == size
        if size <= 160:
            assert parts == [text]
            return
        budget, units = 153, gsm_septets
    else:
        assert info.units == utf16_units(text)
        if info.units <= 70:
            assert parts == [text]
            return
        budget, units = 67, utf16_units
    for part, after in itertools.pairwise(parts):
        assert 0 < units(part) <= budget
        assert units(part) + units(after[0]) > budget
    assert 0 < units(parts[-1]) <= budget


@given(texts, st.sampled_from(["a", "€", "😀", "你"]))
def test_count_segments_never_drops_when_text_grows(text: str, extra: str) -> None:
    """Appending a character never needs fewer parts, as long as the encoding stays."""
    before, after = count_segments(text), count_segments(text + extra)
    if before.encoding == after.encoding:
        assert after.parts >= before.parts


@given(st.text(alphabet=GSM_CHARS + GSM_EXT, max_size=300), st.sampled_from("çá😀你`"))
def test_count_segments_auto_switches_on_one_foreign_character(text: str, foreign: str) -> None:
    """GSM text stays GSM7 under AUTO; one character outside the table makes it UCS2."""
    assert count_segments(text).encoding == "GSM7"
    assert count_segments(text + foreign).encoding == "UCS2"


# --- estimate_segments, the public counter ------------------------------------------------------


def reference(text: str, encoding: str = "AUTO") -> tuple[str, int, int, int, bool]:
    """A straightforward count, written apart from the SDK's: (encoding, units, parts needed,
    units left in the last part, truncated).

    Each character costs its units (2 for a GSM extension character, 2 for a UTF-16 surrogate
    pair); parts are filled greedily and a character that does not fit whole starts a new one.
    """
    if encoding == "AUTO":
        encoding = "GSM7" if all(ch in GSM_CHARS or ch in GSM_EXT for ch in text) else "UCS2"
    if encoding == "GSM7":
        costs = [septets(ch) for ch in text]
        single, per_part = 160, 153
    else:
        costs = [len(ch.encode("utf-16-le", "surrogatepass")) // 2 for ch in text]
        single, per_part = 70, 67
    total = sum(costs)
    if total <= single:
        return encoding, total, 1, single - total, False
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    truncated = parts > 10
    return encoding, total, parts, 0 if truncated else per_part - used, truncated


def runs(alphabet: str, filler: str) -> st.SearchStrategy[str]:
    """Long texts with pairs at any offset: plain st.text() is mostly too short to reach part
    boundaries, so runs of filler carry the pairs across 153 / 67 and up past 10 parts."""
    pieces = st.sampled_from([*alphabet, filler * 7, filler * 50, filler * 150])
    return st.lists(pieces, max_size=60).map("".join)


@st.composite
def boundary_texts(draw: st.DrawFn) -> str:
    """A pair (an escape pair, or an emoji in UCS2) placed 0 to 3 units before a part boundary
    (the k-th multiple of 153 / 67, or 160 / 70), after a head that may hold pairs itself."""
    if draw(st.booleans()):
        filler, pairs, sizes, units = "a", GSM_EXT, (153, 160), gsm_septets
    else:
        filler, pairs, sizes, units = "你", EMOJI + "😎", (67, 70), utf16_units
    head = draw(st.text(alphabet=filler + pairs, max_size=30))
    size = draw(st.sampled_from(sizes))
    boundary = size * (draw(st.integers(1, 11)) if size in (153, 67) else 1)
    pad = max(0, boundary - draw(st.integers(0, 3)) - units(head))
    tail = draw(st.text(alphabet=filler + pairs, max_size=20))
    return head + filler * pad + draw(st.sampled_from(pairs)) + tail


long_texts = st.one_of(
    texts,
    boundary_texts(),
    runs(GSM_EXT + "a", "a"),  # GSM7 with escape pairs
    runs(EMOJI + "你a", "你"),  # UCS2 with surrogate pairs
    runs(EMOJI + "€a", "a"),
)


@given(long_texts, st.sampled_from(["AUTO", "UCS2", Encoding.AUTO, Encoding.UCS2]))
def test_estimate_segments_matches_the_reference(text: str, encoding: str) -> None:
    """Encoding, units, parts, room left and the cut agree with the reference count."""
    got = estimate_segments(text, encoding)
    want = reference(text, str(encoding))
    assert (got.encoding, got.units, got.parts_needed, got.characters_left, got.truncated) == want
    assert got.parts == min(want[2], MAX_PARTS)
    assert (got.warning is not None) == got.truncated


@given(
    st.one_of(
        st.text(alphabet=GSM_CHARS + GSM_EXT, max_size=1700),
        runs(GSM_EXT + "a", "a"),
        boundary_texts().filter(is_gsm7),
    )
)
def test_estimate_segments_forced_gsm7_matches_the_reference(text: str) -> None:
    """A forced GSM7 on GSM text counts as AUTO does."""
    got = estimate_segments(text, "GSM7")
    assert (got.encoding, got.units, got.parts_needed, got.characters_left, got.truncated) == (
        reference(text, "GSM7")
    )


@given(long_texts)
def test_characters_left_is_exactly_the_room_in_the_last_part(text: str) -> None:
    """Adding `characters_left` one-unit characters keeps the part count; one more adds a part
    (unless the text is already cut at 10)."""
    got = estimate_segments(text)
    if got.truncated:
        return
    filler = "a" if got.encoding == "GSM7" else "你"
    same = estimate_segments(text + filler * got.characters_left)
    more = estimate_segments(text + filler * (got.characters_left + 1))
    assert same.parts_needed == got.parts_needed
    assert more.parts_needed == got.parts_needed + 1


# Worked by hand: GSM7 160 alone / 153 per part, UCS2 70 / 67; a pair (€: 2 septets, 😀: 2
# units) that would take the last unit of a part moves whole to the next.
BOUNDARIES = [
    # 158 + 2 = 160: one part, full.
    pytest.param("a" * 158 + EURO, "GSM7", 160, 1, 0, id="euro-ends-at-160"),
    # 159 + 2 = 161: split 153 | 6 + 2 = 8, 145 left.
    pytest.param("a" * 159 + EURO, "GSM7", 161, 2, 145, id="euro-at-160-161"),
    # 160 + 2 = 162: split 153 | 7 + 2 = 9, 144 left.
    pytest.param("a" * 160 + EURO, "GSM7", 162, 2, 144, id="euro-after-160"),
    # 151 + 2 = 153: still one part (<= 160), 7 left.
    pytest.param("a" * 151 + EURO, "GSM7", 153, 1, 7, id="euro-ends-at-153-alone"),
    # 151 + 2 + 10 = 163: part 1 is exactly 153, part 2 is 10: 143 left.
    pytest.param("a" * 151 + EURO + "a" * 10, "GSM7", 163, 2, 143, id="euro-ends-at-153"),
    # 152 + 2 + 10 = 164: the euro would take septets 153 and 154: part 1 is 152, part 2 12.
    pytest.param("a" * 152 + EURO + "a" * 10, "GSM7", 164, 2, 141, id="euro-at-153-154"),
    # 153 + 2 + 10 = 165: part 1 153, part 2 2 + 10 = 12.
    pytest.param("a" * 153 + EURO + "a" * 10, "GSM7", 165, 2, 141, id="euro-starts-part-2"),
    # Second boundary: 153 + 152 + 2 = 307: 153 | 152 | 2, three parts, 151 left.
    pytest.param("a" * 305 + EURO, "GSM7", 307, 3, 151, id="euro-at-306-307"),
    pytest.param("a" * 304 + EURO, "GSM7", 306, 2, 0, id="euro-ends-at-306"),
    # Tenth boundary: 9 x 153 = 1377; + 151 + 2 = 1530 is ten full parts.
    pytest.param("a" * 1528 + EURO, "GSM7", 1530, 10, 0, id="euro-ends-at-1530"),
    # + 152 + 2 = 1531: the euro cannot take septet 1530: an 11th part, cut.
    pytest.param("a" * 1529 + EURO, "GSM7", 1531, 11, 0, id="euro-at-1530-1531-cut"),
    # Two euros back to back: 151 + 2 + 2 + 5 = 160 is one part; with 6 a's (161) it splits
    # 151 + 2 = 153 | 2 + 6 = 8: 145 left.
    pytest.param("a" * 151 + EURO * 2 + "a" * 5, "GSM7", 160, 1, 0, id="euros-alone-160"),
    pytest.param("a" * 151 + EURO * 2 + "a" * 6, "GSM7", 161, 2, 145, id="euros-at-153"),
    # UCS2: 68 + 2 = 70, one part, full.
    pytest.param("你" * 68 + EMOJI, "UCS2", 70, 1, 0, id="emoji-ends-at-70"),
    # 69 + 2 = 71: split 67 | 2 + 2 = 4, 63 left.
    pytest.param("你" * 69 + EMOJI, "UCS2", 71, 2, 63, id="emoji-at-70-71"),
    # 65 + 2 + 4 = 71: part 1 exactly 67, part 2 4: 63 left.
    pytest.param("你" * 65 + EMOJI + "你" * 4, "UCS2", 71, 2, 63, id="emoji-ends-at-67"),
    # 66 + 2 + 4 = 72: the pair would take units 67 and 68: part 1 66, part 2 6: 61 left.
    pytest.param("你" * 66 + EMOJI + "你" * 4, "UCS2", 72, 2, 61, id="emoji-at-67-68"),
    # 66 + 2 = 68: still one part (<= 70), 2 left.
    pytest.param("你" * 66 + EMOJI, "UCS2", 68, 1, 2, id="emoji-at-67-68-alone"),
    # Tenth boundary: 9 x 67 = 603; + 65 + 2 = 670 is ten full parts; + 66 + 2 is cut.
    pytest.param("你" * 668 + EMOJI, "UCS2", 670, 10, 0, id="emoji-ends-at-670"),
    pytest.param("你" * 669 + EMOJI, "UCS2", 671, 11, 0, id="emoji-at-670-671-cut"),
]


@pytest.mark.parametrize(("text", "encoding", "units", "needed", "left"), BOUNDARIES)
def test_estimate_segments_at_part_boundaries(
    text: str, encoding: str, units: int, needed: int, left: int
) -> None:
    """Extension characters and emoji at every boundary, against hand-worked counts."""
    got = estimate_segments(text)
    assert (got.encoding, got.units, got.parts_needed, got.characters_left) == (
        encoding,
        units,
        needed,
        left,
    )
    assert got.parts == min(needed, MAX_PARTS)
    assert got.truncated is (needed > MAX_PARTS)
    assert reference(text)[:4] == (encoding, units, needed, left)


@pytest.mark.parametrize("ext", list(GSM_EXT))
def test_every_extension_character_is_two_septets_and_never_straddles(ext: str) -> None:
    """^ { } \\ [ ~ ] | € and form feed: 152 + 2 + 10 = 164 septets split 152 | 2 + 10."""
    text = "a" * 152 + ext + "a" * 10
    got = estimate_segments(text)
    assert (got.encoding, got.units, got.parts, got.characters_left) == ("GSM7", 164, 2, 141)
    assert split_parts(text) == ["a" * 152, ext + "a" * 10]
    # Alone it fits one part of 160: 158 + 2.
    assert estimate_segments("a" * 158 + ext).parts == 1


def test_emoji_pair_never_straddles_in_split_parts() -> None:
    """66 + 2 + 4 = 72 units: the surrogate pair moves whole to part 2."""
    assert split_parts("你" * 66 + EMOJI + "你" * 4) == ["你" * 66, EMOJI + "你" * 4]


def test_estimate_segments_accepts_the_encoding_enum() -> None:
    """Encoding.UCS2 and "UCS2" are the same request."""
    assert estimate_segments("hi", Encoding.UCS2) == estimate_segments("hi", "UCS2")
    assert estimate_segments("hi", Encoding.UCS2).encoding == "UCS2"


@pytest.mark.parametrize("text", ["ç", "hello 😀", "你好", "`"])
def test_estimate_segments_refuses_gsm7_for_foreign_characters(text: str) -> None:
    """A forced GSM7 on text outside GSM 03.38: ValidationError on `encoding`, text not shown."""
    with pytest.raises(ValidationError) as caught:
        estimate_segments(text, "GSM7")
    assert caught.value.field == "encoding"
    assert "GSM 03.38" in caught.value.rule
    assert text not in str(caught.value)


@pytest.mark.parametrize("encoding", ["auto", "GSM8", "", "UTF-8", None, 7])
def test_estimate_segments_refuses_an_unknown_encoding(encoding: object) -> None:
    """Only AUTO, GSM7 and UCS2 (as 8x8 spells them) are encodings."""
    with pytest.raises(ValidationError) as caught:
        estimate_segments("hi", encoding)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("encoding", "one of AUTO, GSM7 or UCS2")


@pytest.mark.parametrize("text", [None, b"hi", 5])
def test_estimate_segments_refuses_a_text_that_is_not_a_string(text: object) -> None:
    """Bytes or None are refused by name, not counted or crashed on."""
    with pytest.raises(ValidationError) as caught:
        estimate_segments(text)  # type: ignore[arg-type]
    assert caught.value.field == "text"


def test_estimate_segments_warns_past_ten_parts_only_when_asked() -> None:
    """The field always says it; warn=True also emits a SegmentWarning, once, naming the count."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = estimate_segments("a" * 1531)
        assert estimate_segments("a" * 1530, warn=True).warning is None
    assert quiet.truncated
    assert quiet.warning == "The text needs 11 parts; 8x8 sends the first 10 and cuts the rest."
    with pytest.warns(SegmentWarning, match="needs 11 parts") as caught:
        estimate_segments("a" * 1531, warn=True)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # points at the caller's line


def test_estimate_holds_no_text() -> None:
    """The estimate's repr carries counts only: message text is never kept or shown."""
    secret = "Your code is 493817"
    assert secret not in repr(estimate_segments(secret))
    assert "493817" not in repr(estimate_segments(secret))


def test_empty_text_is_one_part_with_all_room_left() -> None:
    """8x8 refuses empty text at send time; the counter says what an empty part holds."""
    got = estimate_segments("")
    assert (got.encoding, got.parts, got.characters_left, got.units) == ("GSM7", 1, 160, 0)


def test_sandbox_and_public_counter_agree() -> None:
    """count_segments (sandbox, bulk --dry-run) and estimate_segments are one implementation."""
    for text in ["a" * 1529 + EURO, "你" * 66 + EMOJI, "", "x" * 5000]:
        assert count_segments(text) == estimate_segments(text)
