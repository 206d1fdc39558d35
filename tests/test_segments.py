"""The GSM-7 / UCS-2 part counter, against examples worked out by hand from the standards.

Each expected count below was computed on paper from 3GPP TS 23.038 / 23.040 and 8x8's table
(GSM7: 160 alone, 153 per part; UCS2: 70 alone, 67 per part; at most 10 parts), not from the
code: the working is in each case's comment. The properties then check what any correct split
must satisfy (the parts rebuild the text, each fits its budget, none could have taken the next
character), without recomputing the count.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async._segments import MAX_PARTS, count_segments, is_gsm7, split_parts

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
