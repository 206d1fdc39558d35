"""A local imitation of 8x8's SMS API for demos and tests: TLS 1.3 on 127.0.0.1, no account needed.

Install it with ``pip install "eightxeight-async[sandbox]"``; run it with ``eightxeight sandbox``.

It serves all 17 operations of 8x8's OpenAPI file and answers as the file and 8x8's reference
pages say: every answer, errors included, has 8x8's shape (an unknown path is 404 / 1300, another
method 405 / 2001); a body the schema forbids is refused with 8x8's code; a national number with
``country`` is converted to international form (a small table of countries, see ``_numbers.py``);
messages go ``queued`` -> ``sent`` -> ``delivered`` (``delivered_to_recipient``), starting at their
``scheduled`` time, and can be cancelled until then; receipts name the destination in E.164 and
carry a price only when the message was charged. Batches reject messages in-band; log export jobs
serve a CSV of what was sent; the balance goes down with each part sent (``_pricing.py``); the
webhook configuration decides where receipts go. Time is the sandbox's own
(``Sandbox.advance``, ``POST /_sandbox/clock``), so tests never wait for a schedule; ``scheduled``
and ``expiry`` are read on the client's clock (real time), and the wait they ask for then passes
on the sandbox's. Every path id outside ``A-Z a-z 0-9 - . _ ~`` is 400 / code 1000.

Test numbers (any other valid number is delivered):

=================  ===========================================================================
``+15550100001``   undelivered, ``rejected_by_operator``, error 15 "Invalid destination"
``+15550100002``   undelivered, ``undelivered_to_recipient``, error 1 "Absent subscriber"
``+15550100003``   REJECTED in the HTTP 200 answer (state ``failed`` in message details,
                   ``rejected`` in the receipt)
=================  ===========================================================================
"""

from ._faults import Fault, Faults
from ._records import TEST_NUMBERS, StoredMessage
from ._server import DEFAULT_SUBACCOUNT, ClientKwargs, Sandbox
from ._state import SandboxState

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
