"""The webhook receiver on a real server (uvicorn on 127.0.0.1) receiving the sandbox's receipts."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from eightxeight_async import AsyncSmsClient, MessageState
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.webhooks import DeliveryReceipt, WebhookEvent, WebhookReceiver

from .conftest import eventually, serve_http

AUTH = "Basic d2ViaG9vazpzM2NyZXQtdmFsdWU="


class Recorder:
    """A handler that records the events it is given."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)


def attempts(sandbox: Sandbox, umid: str) -> list[int | None]:
    """The HTTP statuses the sandbox got for the receipt of ``umid``, in order."""
    return [status for u, _url, status in sandbox.state.dlr_attempts if u == umid]


async def test_receiver_mounted_in_starlette_gets_the_sandboxs_receipts(sandbox: Sandbox) -> None:
    """After set_webhook(http_authorization=...), every receipt reaches the handler, typed."""
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, authorization=AUTH, allowed_ips=["127.0.0.1"])
    app = Starlette(routes=[Mount("/hooks/8x8", app=receiver)])
    async with (
        serve_http(app) as base,
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
    ):
        # A mount answers "/hooks/8x8" with a redirect: 8x8 must be given the trailing slash.
        await client.set_webhook(url=f"{base}/hooks/8x8/", http_authorization=AUTH)
        sent = [
            await client.send_sms(
                destination=f"+659123456{i}", text="hi", client_message_id=f"m{i}"
            )
            for i in range(3)
        ]
        await eventually(lambda: len(recorder.events) == 3)
        await receiver.drain()
    receipts = {e.umid: e for e in recorder.events if isinstance(e, DeliveryReceipt)}
    assert sorted(receipts) == sorted(s.umid for s in sent)
    for response in sent:
        receipt = receipts[response.umid]
        assert receipt.state is MessageState.DELIVERED
        assert receipt.client_message_id == response.client_message_id
        assert receipt.subaccount_id == sandbox.subaccount_id
        assert attempts(sandbox, response.umid) == [200]


async def test_receiver_refuses_a_wrong_authorization_from_the_sandbox(sandbox: Sandbox) -> None:
    """A webhook configured with another value gets 401 on every attempt; no handler runs."""
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, authorization=AUTH)
    async with (
        serve_http(receiver) as base,
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
    ):
        await client.set_webhook(url=base, http_authorization="Basic c29tZW9uZTplbHNl")
        sent = await client.send_sms(destination="+6591234567", text="hi")
        # 8x8 tries once and retries four times (1, 10, 30, 90 s; scaled down here).
        await eventually(lambda: len(attempts(sandbox, sent.umid)) == 5)
        await receiver.drain()
    assert attempts(sandbox, sent.umid) == [401] * 5
    assert recorder.events == []


class LoseFirstAnswer:
    """ASGI middleware: the first answer reaches the sandbox as a 500, as if it were lost.

    The receiver has handled the receipt by then; 8x8 (the sandbox) posts it again.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lost = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.lost:
            await self.app(scope, receive, send)
            return
        self.lost = True

        async def send_500(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "status": 500}
            await send(message)

        await self.app(scope, receive, send_500)


async def test_receiver_hands_a_retried_receipt_to_the_handler_once(sandbox: Sandbox) -> None:
    """A receipt 8x8 delivers twice (its first answer lost) reaches the handler once."""
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, authorization=AUTH)
    async with (
        serve_http(LoseFirstAnswer(receiver)) as base,
        AsyncSmsClient(**sandbox.client_kwargs()) as client,
    ):
        await client.set_webhook(url=base, http_authorization=AUTH)
        sent = await client.send_sms(destination="+6591234567", text="hi")
        await eventually(lambda: attempts(sandbox, sent.umid) == [500, 200])
        await receiver.drain()
    assert [e.umid for e in recorder.events if isinstance(e, DeliveryReceipt)] == [sent.umid]
