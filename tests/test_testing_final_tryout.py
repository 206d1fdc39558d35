"""The outside tryout's finding on the mock's options: an unknown one is named, with the fixture.

Before, ``sms_mock_options`` returning ``{"delivered_afterr": 3600}`` ended in Python's bare
"unexpected keyword argument" TypeError, naming neither the fixture nor the valid options.
"""

from __future__ import annotations

import pytest

from eightxeight_async import ValidationError
from eightxeight_async._testing_mock import SmsMock, mock_from_options


def test_an_unknown_option_names_itself_the_fixture_and_the_valid_ones() -> None:
    with pytest.raises(TypeError) as caught:
        mock_from_options({"delivered_afterr": 3600})
    message = str(caught.value)
    assert "'delivered_afterr'" in message
    assert "sms_mock_options" in message
    assert "did you mean 'delivered_after'?" in message
    for name in ("api_key", "subaccounts", "account_id", "delivered_after", "start_balance"):
        assert name in message
    assert "postpaid" in message


def test_every_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match=r"'speed', 'colour'"):
        mock_from_options({"speed": 1, "delivered_after": 5, "colour": "red"})


async def test_known_options_make_the_mock() -> None:
    mock = mock_from_options({"delivered_after": 60, "postpaid": True})
    assert isinstance(mock, SmsMock)
    assert mock.state.delivered_after == 60
    await mock.aclose()


def test_a_bad_value_is_still_the_mocks_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        mock_from_options({"delivered_after": -1})
    assert caught.value.field == "delivered_after"
