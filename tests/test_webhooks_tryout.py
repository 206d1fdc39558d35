"""WebhookReceiver.answers: the receiver counts what it answered, so refusals are not silent.

Found by an outside try-out: a wrong Authorization made every receipt vanish with no trace but
8x8's delivery log. The counter lets an app (and ``eightxeight bulk``) see the 401s.
"""

from __future__ import annotations

import collections

from .test_webhooks import AUTH, RECEIPT, body, make, post


async def test_answers_counts_each_status_by_entry() -> None:
    """Through ASGI and respond(): 200 (a duplicate too), 401, 403-free, 405, 400, 413."""
    receiver, recorder = make(max_body_bytes=4096)
    assert receiver.answers == collections.Counter()
    await post(receiver, body(RECEIPT))
    await post(receiver, body(RECEIPT))  # 8x8's retry: dropped, still answered 200
    await post(receiver, body(RECEIPT), headers={"Authorization": "Basic d3Jvbmc="})
    await post(receiver, body(RECEIPT), headers={})
    await post(receiver, b"", method="GET")
    await post(receiver, b"not json")
    await post(receiver, b"x" * 5000)
    answer = await receiver.respond(
        method="POST",
        headers={"Authorization": "Basic d3Jvbmc="},
        body=body(RECEIPT),
        client_host="127.0.0.1",
    )
    assert answer.status == 401
    assert receiver.answers == {200: 2, 401: 3, 405: 1, 400: 1, 413: 1}
    assert len(recorder.events) == 1


async def test_answers_is_a_copy_and_reads_zero_for_a_status_never_answered() -> None:
    receiver, _ = make(allowed_ips=["10.0.0.0/8"])
    await post(receiver, body(RECEIPT), headers={"Authorization": AUTH})  # not from 10/8: 403
    seen = receiver.answers
    seen[403] = 100  # the caller's copy: the receiver's count stays
    assert receiver.answers[403] == 1
    assert receiver.answers[401] == 0
