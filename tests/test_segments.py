"""The GSM-7 / UCS-2 part counter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async._segments import MAX_PARTS, count_segments, is_gsm7


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        pytest.param("a" * 160, "GSM7", 160, 1, id="gsm-160"),
        pytest.param("a" * 161, "GSM7", 161, 2, id="gsm-161"),
        pytest.param("a" * 306, "GSM7", 306, 2, id="gsm-306"),
        pytest.param("a" * 307, "GSM7", 307, 3, id="gsm-307"),
        pytest.param("€" * 80, "GSM7", 160, 1, id="extension-counts-2"),
        pytest.param("€" * 81, "GSM7", 162, 2, id="extension-161+"),
        pytest.param("é" * 70, "GSM7", 70, 1, id="accent-in-gsm"),
        pytest.param("你" * 70, "UCS2", 70, 1, id="ucs2-70"),
        pytest.param("你" * 71, "UCS2", 71, 2, id="ucs2-71"),
        pytest.param("😀" * 35, "UCS2", 70, 1, id="surrogates-count-2"),
        pytest.param("a" * 5000, "GSM7", 5000, MAX_PARTS, id="cut-at-10"),
    ],
)
def test_auto_counts(text: str, encoding: str, units: int, parts: int) -> None:
    """AUTO detects the encoding and counts parts as 8x8 documents."""
    info = count_segments(text)
    assert (info.encoding, info.units, info.parts) == (encoding, units, parts)


def test_forced_ucs2() -> None:
    """A forced UCS2 encoding counts UTF-16 units even for GSM text."""
    assert count_segments("a" * 71, "UCS2").parts == 2


@given(st.text(max_size=2000))
def test_parts_follow_8x8s_table(text: str) -> None:
    """Parts are 1 up to the single-part size, then ceil(units / per-part size), at most 10."""
    info = count_segments(text)
    single, per_part = (160, 153) if info.encoding == "GSM7" else (70, 67)
    needed = 1 if info.units <= single else -(-info.units // per_part)
    assert info.parts == min(needed, MAX_PARTS)
    assert info.truncated == (needed > MAX_PARTS)
    assert count_segments(text + "x").parts >= info.parts  # "x" is GSM: the encoding stays


@given(st.text(alphabet="abcXYZ0123 @£$", max_size=500))
def test_gsm_alphabet_text_is_gsm7(text: str) -> None:
    """Text from the GSM alphabet is sent as GSM7."""
    assert is_gsm7(text)
    assert count_segments(text).encoding == "GSM7"
