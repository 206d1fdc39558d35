"""Tests of ``WebhookReceiver.respond``, the entry for servers that are not ASGI (aiohttp.web).

The table runs every kind of post through both entries and holds their answers and their handler
calls equal: one code path decides, whichever way the post came in. Then the real aiohttp.web
server on 127.0.0.1, with the three lines the examples use.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from eightxeight_async.webhooks import (
    WEBHOOK_SOURCE_IPS,
    DeliveryReceipt,
    WebhookEvent,
    WebhookReceiver,
)

from .test_webhooks import AUTH, INBOUND, LEGACY_JSON, LEGACY_XML, RECEIPT, Recorder, body

APAC = WEBHOOK_SOURCE_IPS["APAC"][0]
AUTH_HEADER = (b"authorization", AUTH.encode())

# (method, headers, chunks of the body, client address, receiver options)
Post = tuple[str, list[tuple[bytes, bytes]], list[bytes], str | None, dict[str, Any]]

POSTS = [
    pytest.param(("POST", [AUTH_HEADER], [body(RECEIPT)], APAC, {}), id="receipt"),
    pytest.param(("POST", [AUTH_HEADER], [body(INBOUND)], APAC, {}), id="inbound"),
    pytest.param(("POST", [], [body(RECEIPT)], APAC, {}), id="no-authorization"),
    pytest.param(
        ("POST", [(b"authorization", b"Basic wrong")], [body(RECEIPT)], APAC, {}),
        id="wrong-authorization",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER, (b"Authorization", b"Basic x")], [body(RECEIPT)], APAC, {}),
        id="two-authorizations",
    ),
    pytest.param(("GET", [AUTH_HEADER], [b""], APAC, {}), id="get"),
    pytest.param(("post", [AUTH_HEADER], [body(RECEIPT)], APAC, {}), id="lowercase-method"),
    pytest.param(
        ("POST", [AUTH_HEADER], [body(RECEIPT)], "9.9.9.9", {"allowed_ips": [APAC]}),
        id="address-refused",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER], [body(RECEIPT)], None, {"allowed_ips": [APAC]}),
        id="address-unknown",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER], [body(RECEIPT)], APAC, {"allowed_ips": [APAC]}),
        id="address-allowed",
    ),
    pytest.param(
        (
            "POST",
            [AUTH_HEADER, (b"x-forwarded-for", APAC.encode())],
            [body(RECEIPT)],
            "10.0.0.1",
            {"allowed_ips": [APAC], "trust_forwarded": True},
        ),
        id="forwarded-trusted",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER, (b"content-length", b"5000")], [b"{}"], APAC, {}),
        id="declared-too-large",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER], [b"x" * 40_000, b"x" * 40_000], APAC, {}), id="streamed-too-large"
    ),
    pytest.param(("POST", [AUTH_HEADER], [b"{not json"], APAC, {}), id="garbage"),
    pytest.param(("POST", [AUTH_HEADER], [LEGACY_XML], APAC, {}), id="legacy-xml"),
    pytest.param(("POST", [AUTH_HEADER], [body(LEGACY_JSON)], APAC, {}), id="legacy-json"),
    pytest.param(
        ("POST", [AUTH_HEADER], [body({"namespace": "ChatApps", "eventType": "x"})], APAC, {}),
        id="unknown-event",
    ),
    pytest.param(
        ("POST", [AUTH_HEADER], [body(RECEIPT)], APAC, {"authorization": None}),
        id="no-authorization-configured",
    ),
]


async def asgi_once(receiver: WebhookReceiver, post: Post) -> tuple[int, str, dict[str, str]]:
    """One post through the ASGI app: its status, text and headers (Content-Length checked)."""
    method, headers, chunks, host, _ = post
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "headers": headers, "client": host and (host, 1)}
    await receiver(scope, receive, send)
    start, end = sent
    found = {k.decode(): v.decode() for k, v in start["headers"]}
    assert found.pop("content-length") == str(len(end["body"]))
    return start["status"], end["body"].decode(), found


async def through_asgi(post: Post) -> tuple[int, str, dict[str, str], int]:
    """Post twice through the ASGI app: (status, text, headers, handler calls) of the first."""
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, **{"authorization": AUTH, **post[4]})
    first = await asgi_once(receiver, post)
    assert await asgi_once(receiver, post) == first  # 8x8's retry: a duplicate, the same 200
    await receiver.drain()
    return (*first, len(recorder.events))


async def through_respond(post: Post) -> tuple[int, str, dict[str, str], int]:
    """Post twice through ``respond``, the body as chunks: the same four things."""
    method, headers, chunks, host, options = post
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, **{"authorization": AUTH, **options})
    answers = []
    for _ in range(2):

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        answer = await receiver.respond(
            method=method, headers=headers, body=stream(), client_host=host
        )
        assert answer.body == answer.text.encode()
        answers.append((answer.status, answer.text, dict(answer.headers)))
    await receiver.drain()
    assert answers[1] == answers[0]
    status, text, found = answers[0]
    return status, text, found, len(recorder.events)


@pytest.mark.parametrize("post", POSTS)
async def test_respond_answers_every_post_as_the_asgi_app_does(post: Post) -> None:
    """Each kind of post gets the same status, text and headers, and reaches the handler as
    often (a duplicate never), through ``respond`` as through the ASGI app."""
    assert await through_respond(post) == await through_asgi(post)


@pytest.mark.parametrize(
    ("post", "status"),
    [
        pytest.param(("POST", [AUTH_HEADER], [body(RECEIPT)], APAC, {}), 200, id="ok"),
        pytest.param(("GET", [AUTH_HEADER], [b""], APAC, {}), 405, id="get"),
        pytest.param(("POST", [], [b""], APAC, {}), 401, id="unauthorized"),
        pytest.param(
            ("POST", [AUTH_HEADER], [body(RECEIPT)], "9.9.9.9", {"allowed_ips": [APAC]}),
            403,
            id="forbidden",
        ),
        pytest.param(("POST", [AUTH_HEADER], [b"x" * 70_000], APAC, {}), 413, id="too-large"),
        pytest.param(("POST", [AUTH_HEADER], [LEGACY_XML], APAC, {}), 400, id="legacy"),
    ],
)
async def test_respond_gives_each_documented_status(post: Post, status: int) -> None:
    """The table above covers every status of the documented table (not all 200s)."""
    answer = await through_respond(post)
    assert answer[0] == status
    assert answer[3] == (1 if status == 200 else 0)
    if status == 405:
        assert answer[2]["allow"] == "POST"


async def test_respond_reads_no_body_before_the_checks_pass() -> None:
    """A 401 or 403 is answered without reading one chunk of the body."""
    reads = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal reads
        reads += 1
        yield body(RECEIPT)

    receiver = WebhookReceiver(Recorder(), authorization=AUTH, allowed_ips=[APAC])
    refused = await receiver.respond(method="POST", headers={}, body=stream(), client_host=APAC)
    assert refused.status == 401
    elsewhere = await receiver.respond(
        method="POST", headers={"Authorization": AUTH}, body=stream(), client_host="9.9.9.9"
    )
    assert elsewhere.status == 403
    assert reads == 0


async def test_respond_stops_reading_an_endless_body_at_the_limit() -> None:
    """Chunks are read only until they pass max_body_bytes: 413, and the rest is never read."""
    reads = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal reads
        while True:
            reads += 1
            yield b"x" * 400

    receiver = WebhookReceiver(Recorder(), authorization=AUTH, max_body_bytes=1000)
    answer = await receiver.respond(
        method="POST", headers={"Authorization": AUTH}, body=endless(), client_host=None
    )
    assert answer.status == 413
    assert reads == 3  # 400, 800, 1200 > 1000


@pytest.mark.parametrize(
    ("size", "status"), [pytest.param(0, 200, id="at-limit"), pytest.param(1, 413, id="over")]
)
async def test_respond_takes_a_whole_body_up_to_the_limit(size: int, status: int) -> None:
    """A body given whole is held to max_body_bytes like a streamed one."""
    content = body(RECEIPT)
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, authorization=AUTH, max_body_bytes=len(content))
    answer = await receiver.respond(
        method="POST",
        headers=[("Authorization", AUTH)],
        body=content + b" " * size,
        client_host=None,
    )
    await receiver.drain()
    assert answer.status == status
    assert len(recorder.events) == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(AUTH[:-1] + "\udcc3", id="surrogate-escaped-byte"),
        pytest.param(AUTH[:-1] + "\ud800", id="lone-surrogate"),
        pytest.param(AUTH[:-1] + "é", id="non-ascii"),
    ],
)
async def test_respond_refuses_a_non_ascii_authorization_without_failing(value: str) -> None:
    """Header text a server decoded from odd bytes is a 401, never an exception or a match."""
    receiver = WebhookReceiver(Recorder(), authorization=AUTH)
    answer = await receiver.respond(
        method="POST", headers={"Authorization": value}, body=body(RECEIPT), client_host=None
    )
    assert answer.status == 401


async def test_respond_starts_the_handler_without_waiting_for_it() -> None:
    """``respond`` returns 200 while the handler still waits; the handler runs after."""
    release = asyncio.Event()
    done: list[WebhookEvent] = []

    async def slow(event: WebhookEvent) -> None:
        await release.wait()
        done.append(event)

    receiver = WebhookReceiver(slow, authorization=AUTH)
    answer = await receiver.respond(
        method="POST", headers={"Authorization": AUTH}, body=body(RECEIPT), client_host=None
    )
    assert answer.status == 200
    await asyncio.sleep(0)  # the handler task starts and blocks on the event
    assert done == []
    release.set()
    await receiver.drain()
    assert len(done) == 1


# --- on aiohttp.web's real server ------------------------------------------------------------


@asynccontextmanager
async def aiohttp_receiver(receiver: WebhookReceiver) -> AsyncIterator[str]:
    """Serve ``receiver`` at ``/hooks`` with aiohttp.web on a free 127.0.0.1 port; its URL."""

    async def hook(request: web.Request) -> web.Response:
        answer = await receiver.respond(
            method=request.method,
            headers=request.headers,
            body=request.content.iter_chunked(16_384),
            client_host=request.remote,
        )
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_route("*", "/hooks", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    finally:
        await runner.cleanup()
        sock.close()


async def test_respond_serves_aiohttp_web() -> None:
    """On aiohttp.web: a receipt reaches the handler once (its retry dropped), a wrong or
    doubled Authorization gets 401, a GET 405 with Allow, a body over the limit 413."""
    recorder = Recorder()
    receiver = WebhookReceiver(recorder, authorization=AUTH, allowed_ips=["127.0.0.1"])
    async with aiohttp_receiver(receiver) as url, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(2):
            async with http.post(url, data=body(RECEIPT), headers={"Authorization": AUTH}) as r:
                statuses.append((r.status, await r.text()))
        async with http.post(url, data=body(RECEIPT), headers={"Authorization": "x"}) as r:
            statuses.append((r.status, await r.text()))
        doubled = [("Authorization", AUTH), ("Authorization", AUTH)]
        async with http.post(url, data=body(RECEIPT), headers=doubled) as r:
            statuses.append((r.status, await r.text()))
        async with http.get(url, headers={"Authorization": AUTH}) as r:
            statuses.append((r.status, r.headers["Allow"]))
        big = b"x" * (receiver.max_body_bytes + 1)
        async with http.post(url, data=big, headers={"Authorization": AUTH}) as r:
            statuses.append((r.status, r.headers["Content-Type"]))
        await receiver.drain()
    assert statuses == [
        (200, "OK"),
        (200, "OK"),
        (401, "Missing or wrong Authorization header."),
        (401, "Missing or wrong Authorization header."),
        (405, "POST"),
        (413, "text/plain; charset=utf-8"),
    ]
    assert [type(e) for e in recorder.events] == [DeliveryReceipt]
