"""The pytest plugin of eightxeight-async: fixtures for testing your own code without a network.

pytest loads it in every run wherever the package is installed (entry point ``pytest11``), so it
imports nothing but pytest at load time; the mock (and the sandbox extra it needs) is imported
only by a test that asks for a fixture.

Fixtures:

- ``sms_mock``: an :class:`eightxeight_async.testing.SmsMock`, with the no-backoff mode on for
  the test (retries and rate-limit pauses do not wait; the skipped waits are in
  ``sms_mock.retry_waits``). A receipt handler's exception that no ``advance()`` raised fails the
  test at teardown.
- ``sms_client``: an ``AsyncSmsClient`` talking to ``sms_mock`` (``sms_mock.client()``). It holds
  no socket: closing it is optional.
- ``sms_mock_options``: the keyword arguments of ``SmsMock``, ``{}`` here; override it in a
  ``conftest.py`` (or a test module) to change them, e.g. the subaccounts or ``delivered_after``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client import AsyncSmsClient
    from ._testing_mock import SmsMock


@pytest.fixture
def sms_mock_options() -> dict[str, Any]:
    """Keyword arguments for ``SmsMock``; override this fixture to change them."""
    return {}


@pytest.fixture
def sms_mock(sms_mock_options: dict[str, Any]) -> Iterator[SmsMock]:
    """An in-process mock of 8x8's SMS API, with retries that do not wait."""
    from ._clock import testing_mode
    from ._testing_mock import SmsMock

    mock = SmsMock(**sms_mock_options)
    with testing_mode() as waits:
        mock.retry_waits = waits
        yield mock
    mock.close_now()
    mock.raise_handler_errors()


@pytest.fixture
def sms_client(sms_mock: SmsMock) -> AsyncSmsClient:
    """An ``AsyncSmsClient`` talking to ``sms_mock``."""
    return sms_mock.client()
