"""Helpers for testing code that uses eightxeight-async.

Example::

    from eightxeight_async.testing import retry_without_waiting

    def test_my_code_survives_a_429(respx_mock):
        with retry_without_waiting() as waits:
            ...  # retries happen at once
        assert waits == [1.0]
"""

from __future__ import annotations

from ._clock import testing_mode as retry_without_waiting

__all__ = ["retry_without_waiting"]
