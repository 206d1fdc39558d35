"""Helpers for testing your own code that uses eightxeight-async: no network, no sleeping.

- :class:`SmsMock`: 8x8's SMS API in-process (the sandbox's imitation of all 17 operations,
  run through an httpx transport inside your test's event loop). It records every request,
  scripts failures per operation (429, 500, timeouts, dropped connections), issues UMIDs and
  hands delivery receipts to a ``DeliveryTracker`` or any handler, on a clock that moves only
  when the test says so. Needs the ``sandbox`` extra: ``pip install "eightxeight-async[sandbox]"``.
- :func:`retry_without_waiting`: the no-backoff mode, for the whole process while it is on.
  Every retry wait, 429 pause and wait of the client's own rate limiter returns at once (the
  limiter still hands out its tokens in order, as if the time had passed); the retry waits
  are recorded in the list it yields, the limiter's in ``SmsMock.limiter_waits``.
- A pytest plugin (the top-level module ``eightxeight_async_pytest``, installed with the
  package, nothing to configure) with the fixtures ``sms_mock`` (an :class:`SmsMock`, in
  no-backoff mode for the test), ``sms_client`` (an ``AsyncSmsClient`` talking to it) and
  ``sms_mock_options`` (override it to return a dict of :class:`SmsMock` arguments).

Example::

    from eightxeight_async.testing import retry_without_waiting

    def test_my_code_survives_a_429(respx_mock):
        with retry_without_waiting() as waits:
            ...  # retries happen at once
        assert waits == [1.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._clock import testing_mode as retry_without_waiting

if TYPE_CHECKING:
    from ._testing_mock import FAULTS, FaultKind, RecordedRequest, SmsMock

__all__ = ["FAULTS", "FaultKind", "RecordedRequest", "SmsMock", "retry_without_waiting"]

_LAZY = frozenset({"FAULTS", "FaultKind", "RecordedRequest", "SmsMock"})


def __getattr__(name: str) -> Any:
    # The mock needs the sandbox extra (starlette); retry_without_waiting must not.
    if name in _LAZY:
        from . import _testing_mock

        return getattr(_testing_mock, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
