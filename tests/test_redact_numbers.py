"""Masking numbers never spoils an id: only digit runs that stand alone are phone numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eightxeight_async._redact import mask_numbers

HEX_WITH_A_LETTER = st.text("0123456789abcdef", min_size=1, max_size=64).filter(
    lambda s: any(c in "abcdef" for c in s)
)


@given(HEX_WITH_A_LETTER)
def test_hex_ids_are_never_masked(value: str) -> None:
    """A generated client_message_id (32 hex) came back from `send --json` with stars in it about
    40% of the time: a digit run inside a hex id is no number."""
    assert mask_numbers(value) == value


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param("b1/+6591234567", "b1/+65******67", id="batch-id-slash-number"),
        pytest.param("+15550100003", "+15*******03", id="own-id-a-number"),
        pytest.param("call 6591234567.", "call 659*****67.", id="in-a-sentence"),
        pytest.param("6591000004-1", "659*****04-1", id="numeric-job-row"),
        pytest.param("ab12345678901cd", "ab12345678901cd", id="inside-a-word"),
        pytest.param("id 123456", "id 123456", id="too-short"),
    ],
)
def test_standalone_runs_are_masked(text: str, masked: str) -> None:
    """Runs of 7+ digits that stand alone are masked, keeping 3 characters in front, 2 behind."""
    assert mask_numbers(text) == masked
