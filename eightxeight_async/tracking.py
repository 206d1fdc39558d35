"""Know what became of a message: delivery receipts first, ``get_message`` only when one is late.

8x8 allows ``get_message`` 1 request per second per subaccount, for all messages together: an
app that sends thousands of messages cannot poll each one. :class:`DeliveryTracker` resolves
``await tracker.wait(umid)`` from the delivery receipts 8x8 posts to your webhook, and looks a
message up with ``get_message`` only when its final receipt is ``poll_after`` seconds late (then
every ``poll_every`` seconds), one request at a time through the client's own rate limiter::

    from eightxeight_async.tracking import DeliveryTimeoutError, DeliveryTracker
    from eightxeight_async.webhooks import WebhookReceiver

    async with AsyncSmsClient() as client, DeliveryTracker(client) as tracker:
        receiver = WebhookReceiver(tracker.handle, authorization="Basic ...")  # serve it
        sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
        tracker.track(sent.umid)  # start the late-receipt clock right after the send
        try:
            delivery = await tracker.wait(sent.umid, timeout=300)
        except DeliveryTimeoutError as exc:
            print("no final state yet; last:", exc.last_status)
        else:
            print(delivery.state, "via", delivery.via)  # e.g. "delivered via receipt"

Final states are ``delivered``, ``undelivered``, ``rejected`` (a receipt's word), ``failed`` (the
details' word for the same) and ``read``; ``queued`` and ``sent`` are remembered as the last
status and do not end a wait. Receipts may come in any order: the first final state stands.

Memory follows the messages in flight: a message leaves the tracker once its final state is
known, once the last wait on it ends, or 48 hours after it was tracked when nobody waits on it
(8x8 forwards no receipt later than that). What is known of messages nobody waits on is kept
in a table of the ``max_unclaimed`` most recently used: a receipt that beat ``wait`` (as in an
OTP flow), a final state a wait already returned (every later ``wait`` on the message returns
the same ``Delivery`` at once), and the last status of a message whose waits timed out.

``feed``, ``handle`` and the constructor refuse what they cannot use (not a receipt, not a
webhook event, a client without ``get_message``) with a ``ValidationError``.
"""

from __future__ import annotations

from ._tracking import DeliveryTracker
from ._tracking_models import Delivery, DeliveryTimeoutError

__all__ = ["Delivery", "DeliveryTimeoutError", "DeliveryTracker"]

# Public names report this module, not the private one they live in (pickles name it too).
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
