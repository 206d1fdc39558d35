"""A local imitation of 8x8's SMS API for demos and tests: TLS 1.3 on 127.0.0.1, no account needed.

Install it with ``pip install "eightxeight-async[sandbox]"``; run it with ``eightxeight sandbox``.

Test numbers (any other valid number is delivered):

=================  ===========================================================================
``+15550100001``   undelivered, ``rejected_by_operator``, error 15 "Invalid destination"
``+15550100002``   undelivered, ``undelivered_to_recipient``, error 1 "Absent subscriber"
``+15550100003``   REJECTED in the HTTP 200 answer (state ``failed`` in message details)
=================  ===========================================================================
"""

from ._app import TEST_NUMBERS, SandboxState, StoredMessage
from ._faults import Fault, Faults
from ._server import DEFAULT_SUBACCOUNT, ClientKwargs, Sandbox

__all__ = [
    "DEFAULT_SUBACCOUNT",
    "ClientKwargs",
    "TEST_NUMBERS",
    "Fault",
    "Faults",
    "Sandbox",
    "SandboxState",
    "StoredMessage",
]
