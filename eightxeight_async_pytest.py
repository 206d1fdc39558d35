"""The pytest plugin of eightxeight-async: fixtures for testing your own code without a network.

pytest loads it in every run wherever the package is installed (entry point ``pytest11``, named
``eightxeight_async``: ``pytest -p no:eightxeight_async`` turns it off). It is a module of its
own, outside the ``eightxeight_async`` package, so that loading it imports nothing but pytest:
the SDK, the mock and the sandbox extra are imported only by a test that asks for a fixture.

Fixtures:

- ``sms_mock``: an :class:`eightxeight_async.testing.SmsMock`, with the no-backoff mode on for
  the test (retries, rate-limit pauses and the client's own rate-limiter waits do not wait; the
  skipped waits are in ``sms_mock.retry_waits`` and ``sms_mock.limiter_waits``). Async receipt
  handlers still running when the test's coroutine returns are run to their end before the
  test's event loop closes; a handler's exception that no ``advance()`` raised fails the test
  at teardown.
- ``sms_client``: an ``AsyncSmsClient`` talking to ``sms_mock`` (``sms_mock.client()``). It holds
  no socket: closing it is optional.
- ``sms_mock_options``: the keyword arguments of ``SmsMock``, ``{}`` here; override it in a
  ``conftest.py`` (or a test module) to change them, e.g. the subaccounts or ``delivered_after``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from eightxeight_async import AsyncSmsClient
    from eightxeight_async.testing import SmsMock

# The mock the sms_mock fixture made for a test, so that the teardown hook below finds it.
_MOCK = pytest.StashKey["SmsMock"]()


@pytest.fixture
def sms_mock_options() -> dict[str, Any]:
    """Keyword arguments for ``SmsMock``; override this fixture to change them."""
    return {}


@pytest.fixture
def sms_mock(request: pytest.FixtureRequest, sms_mock_options: Any) -> Iterator[SmsMock]:
    """An in-process mock of 8x8's SMS API, with retries and rate limits that do not wait."""
    if not isinstance(sms_mock_options, Mapping):
        msg = (
            "The sms_mock_options fixture must return a dict of SmsMock's keyword arguments "
            f"(e.g. {{'delivered_after': 60}}), not {type(sms_mock_options).__name__}."
        )
        raise TypeError(msg)
    from eightxeight_async._clock import testing_mode
    from eightxeight_async._testing_mock import mock_from_options

    mock: SmsMock = mock_from_options(sms_mock_options)
    request.node.stash[_MOCK] = mock
    with testing_mode(skip_rate_limiter=True):
        yield mock
    mock.close_now()
    mock.raise_handler_errors()


@pytest.fixture
def sms_client(sms_mock: SmsMock) -> AsyncSmsClient:
    """An ``AsyncSmsClient`` talking to ``sms_mock``."""
    return sms_mock.client()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Let the mock's async receipt handlers finish before any fixture is torn down.

    An async test runner closes the test's event loop in a fixture's teardown, which may come
    before ``sms_mock``'s: handlers still pending then would be cancelled unrun.
    """
    mock = item.stash.get(_MOCK, None)
    if mock is not None:
        mock.finish_pending()
    yield
