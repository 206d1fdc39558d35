"""Hostile and broken servers on 127.0.0.1: every failure comes out as one of our errors."""

from __future__ import annotations

import asyncio
import gc
import gzip
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trustme

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._http import MAX_RESPONSE_BYTES, TransportTypes
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.testing import retry_without_waiting

from .conftest import eventually
from .hostile import (
    DETAILS_OK,
    SMS_OK,
    ConnectProxy,
    RawServer,
    answer,
    read_request,
    tls_server_context,
)

pytestmark = pytest.mark.integration

PHONE = "+6591234567"
SUB = "acme_hq"
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
NO_LIMITS = RateLimits(
    send_per_second=1e6, send_burst=10**6, details_per_second=1e6, details_burst=10**6
)


def sms_client(url: str, transport: TransportTypes, **kwargs: Any) -> AsyncSmsClient:
    kwargs.setdefault("retry", ONE_ATTEMPT)
    kwargs.setdefault("rate_limits", NO_LIMITS)
    return AsyncSmsClient(
        api_key="k-secret-key", subaccount_id=SUB, base_url=url, transport=transport, **kwargs
    )


def replying(raw: bytes, *, close: bool = True) -> Any:
    """A handler that reads one request, writes ``raw``, and hangs up when ``close``."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(reader):
            server.count()
            writer.write(raw)
            await writer.drain()
            if close:
                return

    return handler


async def silent(
    server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read the request, then never answer."""
    if await read_request(reader):
        server.count()
    await reader.read()  # until the client hangs up


# --- 1. every failure is ours ------------------------------------------------------------------

GARBLED = [
    pytest.param(b"HTTP/1.1 abc\r\n\r\n", id="invalid-status-line"),
    pytest.param(b"\x00\x01garbage" * 10, id="non-http-bytes"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n",
        id="200-KB-header",
    ),
]


@pytest.mark.parametrize("raw", GARBLED)
async def test_garbled_answer_to_a_send_is_outcome_unknown(
    raw: bytes, transport: TransportTypes
) -> None:
    """A garbled answer after the send went out: SendOutcomeUnknownError, never aiohttp's error."""
    async with RawServer(replying(raw)) as server, sms_client(server.url, transport) as client:
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await client.send_sms(destination=PHONE, text="hi", client_message_id="g-1")
    assert info.value.client_message_id == "g-1"
    assert server.requests == 1


@pytest.mark.parametrize("raw", GARBLED)
async def test_garbled_answer_to_a_read_is_retried(raw: bytes, transport: TransportTypes) -> None:
    """get_message meets the same answers as a connection error, and retries it."""
    async with (
        RawServer(replying(raw)) as server,
        sms_client(server.url, transport, retry=RetryPolicy(max_attempts=2)) as client,
    ):
        with retry_without_waiting(), pytest.raises(e.APIConnectionError) as info:
            await client.get_message("umid-1")
    assert type(info.value) is e.APIConnectionError
    assert server.requests == 2


async def test_corrupt_gzip_2xx_is_response_validation_error(transport: TransportTypes) -> None:
    """A 200 whose gzip body is corrupt: ResponseValidationError, not httpx.DecodingError."""
    raw = answer(b"not gzip at all", headers=b"Content-Encoding: gzip\r\n")
    async with RawServer(replying(raw)) as server, sms_client(server.url, transport) as client:
        with pytest.raises(e.ResponseValidationError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert "accepted" in str(info.value)


async def test_corrupt_gzip_error_status_is_status_error(transport: TransportTypes) -> None:
    """A 500 whose gzip body is corrupt is still the InternalServerError it is."""
    raw = answer(
        b"garbage", status="500 Internal Server Error", headers=b"Content-Encoding: gzip\r\n"
    )
    async with RawServer(replying(raw)) as server, sms_client(server.url, transport) as client:
        with pytest.raises(e.InternalServerError):
            await client.send_sms(destination=PHONE, text="hi")


async def test_gzip_answer_is_decoded(transport: TransportTypes) -> None:
    """A well-formed gzip answer is decoded (the SDK inflates it itself)."""
    raw = answer(gzip.compress(SMS_OK), headers=b"Content-Encoding: gzip\r\n")
    async with (
        RawServer(replying(raw, close=False)) as server,
        sms_client(server.url, transport) as client,
    ):
        sent = await client.send_sms(destination=PHONE, text="hi")
    assert sent.umid == "0fc7b1ba-7f66-4e4b-a1c6-4b9b8a0e0d51"


# --- 2. scheme mismatches, and messages that name the URL --------------------------------------


async def test_plain_http_to_tls_sandbox_says_use_https(transport: TransportTypes) -> None:
    """http:// against the TLS sandbox: a configuration error naming https, never retried."""
    async with Sandbox() as sandbox:
        kwargs = sandbox.client_kwargs()
        kwargs["base_url"] = sandbox.base_url.replace("https://", "http://")
        async with AsyncSmsClient(**kwargs, transport=transport) as client:
            with retry_without_waiting() as waits, pytest.raises(e.APIConnectionError) as info:
                await client.send_sms(destination=PHONE, text="hi")
        assert sum(sandbox.state.requests.values()) == 0
    assert type(info.value) is e.APIConnectionError
    assert "use https://" in str(info.value)
    assert f"http://127.0.0.1:{sandbox.port}" in str(info.value)
    assert waits == []


async def test_https_to_plain_http_server_says_no_tls(transport: TransportTypes) -> None:
    """https:// against a plain-HTTP server: "does not speak TLS", not a TLS-version error."""

    async def plain(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(1)  # a ClientHello arrives; answer as an HTTP server would
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async with RawServer(plain) as server:
        url = server.url.replace("http://", "https://")
        async with sms_client(url, transport, retry=RetryPolicy()) as client:
            with retry_without_waiting() as waits, pytest.raises(e.APIConnectionError) as info:
                await client.send_sms(destination=PHONE, text="hi")
    assert type(info.value) is e.APIConnectionError
    assert "does not speak TLS" in str(info.value)
    assert url in str(info.value)
    assert waits == []


async def test_connection_refused_names_the_url(transport: TransportTypes) -> None:
    """ "Could not connect" says where to."""
    async with RawServer(silent) as server:
        url = server.url
    async with sms_client(url, transport) as client:
        with pytest.raises(e.APIConnectionError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert url in str(info.value)
    assert "nothing was sent" in str(info.value)


# --- 3. a deadline per attempt -----------------------------------------------------------------


def trickling(total: int) -> Any:
    """Answer with a body of ``total`` bytes, one byte every 20 ms."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        server.count()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {total}\r\n\r\n".encode()
        )
        for _ in range(total):
            writer.write(b" ")
            await writer.drain()
            server.written += 1
            await asyncio.sleep(0.02)

    return handler


async def test_trickled_answer_ends_at_the_attempt_deadline(transport: TransportTypes) -> None:
    """Each byte comes within the read timeout, yet the attempt ends at its deadline."""
    total = 1000  # 20 s of trickle; the deadline is well under 1 s
    async with (
        RawServer(trickling(total)) as server,
        sms_client(server.url, transport, timeout=httpx.Timeout(0.2)) as client,
    ):
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await client.send_sms(destination=PHONE, text="hi")
        assert "timed out" in str(info.value)
        assert server.requests == 1
        assert server.written < total
        await eventually(lambda: server.open == 0)


async def test_trickled_read_is_a_timeout_that_is_retried(transport: TransportTypes) -> None:
    """get_message hitting the deadline is an APITimeoutError, and is retried."""
    async with (
        RawServer(trickling(1000)) as server,
        sms_client(
            server.url, transport, timeout=httpx.Timeout(0.2), retry=RetryPolicy(max_attempts=2)
        ) as client,
    ):
        with retry_without_waiting(), pytest.raises(e.APITimeoutError):
            await client.get_message("umid-1")
    assert server.requests == 2


# --- 4. the gate's wait is bounded by timeout.pool ---------------------------------------------


async def test_calls_that_never_got_a_slot_say_nothing_was_sent(transport: TransportTypes) -> None:
    """A server that never answers, 4 connections, 20 sends: 4 unknown, 16 "nothing was sent"."""
    async with (
        RawServer(silent) as server,
        sms_client(
            server.url,
            transport,
            max_connections=4,
            timeout=httpx.Timeout(1.0, pool=0.1),
        ) as client,
    ):
        results = await asyncio.gather(
            *(client.send_sms(destination=PHONE, text="hi") for _ in range(20)),
            return_exceptions=True,
        )
    unknown = [r for r in results if isinstance(r, e.SendOutcomeUnknownError)]
    unsent = [r for r in results if type(r) is e.APITimeoutError]
    assert len(unknown) == 4
    assert len(unsent) == 16
    assert all("nothing was sent" in str(r) for r in unsent)
    assert server.requests == 4


# --- 5. bounded reading ------------------------------------------------------------------------


def streaming(status: str, total: int, headers: bytes = b"", chunk: bytes = b"x" * 65536) -> Any:
    """Answer with ``total`` bytes of ``chunk`` repeated, counting what was written."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        server.count()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: {total}\r\n".encode() + headers + b"\r\n"
        )
        sent = 0
        while sent < total:
            piece = chunk[: total - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            server.written = sent

    return handler


async def test_oversized_2xx_answer_is_not_read_whole(transport: TransportTypes) -> None:
    """A 64 MiB answer stops being read past the cap: ResponseValidationError, connection closed."""
    total = 4 * MAX_RESPONSE_BYTES
    async with (
        RawServer(streaming("200 OK", total)) as server,
        sms_client(server.url, transport) as client,
    ):
        with pytest.raises(e.ResponseValidationError) as info:
            await client.send_sms(destination=PHONE, text="hi")
        assert "larger than 16 MiB" in str(info.value)
        await eventually(lambda: server.open == 0)
    assert server.written < total


async def test_gzip_bomb_is_not_inflated_past_the_cap(transport: TransportTypes) -> None:
    """1 GiB of zeros in about 1 MB of gzip: refused once 16 MiB have been inflated."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    raw = answer(bomb, headers=b"Content-Encoding: gzip\r\n")
    async with RawServer(replying(raw)) as server, sms_client(server.url, transport) as client:
        with pytest.raises(e.ResponseValidationError, match="larger than"):
            await client.send_sms(destination=PHONE, text="hi")


async def test_large_error_answer_keeps_a_bounded_prefix(transport: TransportTypes) -> None:
    """A 500 with 64 MiB of body: InternalServerError, the body not read past a prefix."""
    total = 4 * MAX_RESPONSE_BYTES
    async with (
        RawServer(streaming("500 Internal Server Error", total)) as server,
        sms_client(server.url, transport) as client,
    ):
        with pytest.raises(e.InternalServerError) as info:
            await client.send_sms(destination=PHONE, text="hi")
        await eventually(lambda: server.open == 0)
    assert len(info.value.response.content) <= 64 * 1024
    assert server.written < total


# --- 6 and 7. connection reuse on the aiohttp transport ----------------------------------------


async def test_server_closing_after_each_answer_never_makes_a_send_ambiguous(
    transport: TransportTypes,
) -> None:
    """100 sequential sends to a server that hangs up after each answer, saying nothing."""
    async with RawServer(replying(answer())) as server, sms_client(server.url, transport) as client:
        for _ in range(100):
            await client.send_sms(destination=PHONE, text="hi")
    assert server.requests == 100


async def test_dropped_get_message_reaches_the_server_once_per_attempt(
    transport: TransportTypes,
) -> None:
    """After a drop on a reused connection, only the SDK's retry repeats the request."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(reader):
            server.count()
            if server.requests > 1:
                return  # hang up without answering
            writer.write(answer(DETAILS_OK))
            await writer.drain()

    async with (
        RawServer(handler) as server,
        sms_client(server.url, transport, retry=RetryPolicy(max_attempts=2)) as client,
    ):
        await client.get_message("warm-up")  # leaves one idle connection in the pool
        with retry_without_waiting(), pytest.raises(e.APIConnectionError):
            await client.get_message("dropped")
    assert server.requests == 3  # the warm-up, then one per attempt


# --- 8 and 9. cancellation and closing ---------------------------------------------------------


async def test_cancelled_calls_close_their_connections(transport: TransportTypes) -> None:
    """Twenty calls cancelled in flight: every connection closed, no ResourceWarning."""
    async with RawServer(silent) as server:
        client = sms_client(server.url, transport, max_connections=20)
        tasks = [
            asyncio.create_task(client.send_sms(destination=PHONE, text="hi")) for _ in range(20)
        ]
        await eventually(lambda: server.requests == 20)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        gc.collect()
        await eventually(lambda: server.open == 0)
        await client.aclose()
    gc.collect()


async def test_sender_aclose_ends_calls_in_flight_with_our_errors(
    transport: TransportTypes,
) -> None:
    """Closing under calls in flight: sent ones are outcome-unknown, queued ones were not sent."""
    async with RawServer(silent) as server:
        client = sms_client(server.url, transport, max_connections=2)
        tasks = [
            asyncio.create_task(client.send_sms(destination=PHONE, text="hi")) for _ in range(5)
        ]
        await eventually(lambda: server.requests == 2)
        await client._sender.aclose(close_client=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await eventually(lambda: server.open == 0)
    assert not any(isinstance(r, asyncio.CancelledError) for r in results)
    unknown = [r for r in results if isinstance(r, e.SendOutcomeUnknownError)]
    unsent = [r for r in results if type(r) is e.APIConnectionError]
    assert len(unknown) == 2
    assert len(unsent) == 3
    assert all("nothing was sent" in str(r) for r in unsent)
    assert server.requests == 2


# --- 10. proxies -------------------------------------------------------------------------------

PROXIED_HOST = "sms.proxied.test"


class Origin:
    """A TLS 1.3 origin for PROXIED_HOST that records the TLS version and the headers it got."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.versions: list[str | None] = []
        self.heads: list[bytes] = []

    async def handler(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        self.versions.append(ssl_object.version() if ssl_object else None)
        while head := await read_request(reader):
            server.count()
            self.heads.append(head)
            writer.write(answer())
            await writer.drain()


@pytest.fixture
async def origin() -> AsyncIterator[tuple[Origin, RawServer]]:
    """The TLS origin behind the proxy."""
    behind = Origin()
    async with RawServer(
        behind.handler, ssl_context=tls_server_context(behind.ca, PROXIED_HOST)
    ) as server:
        yield behind, server


def verify_for(behind: Origin) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    behind.ca.configure_trust(context)
    return context


async def test_proxy_argument_tunnels_tls13_and_hides_the_key(
    origin: tuple[Origin, RawServer], transport: TransportTypes
) -> None:
    """proxy=: CONNECT to the origin, TLS 1.3 inside, no API key or header visible to the proxy."""
    behind, server = origin
    async with (
        ConnectProxy(server.port) as proxy,
        sms_client(
            f"https://{PROXIED_HOST}:{server.port}",
            transport,
            verify=verify_for(behind),
            proxy=proxy.url,
        ) as client,
    ):
        await client.send_sms(destination=PHONE, text="hi")
    assert proxy.connects == [f"CONNECT {PROXIED_HOST}:{server.port} HTTP/1.1".encode()]
    assert b"k-secret-key" not in proxy.seen
    assert b"authorization" not in proxy.seen.lower()
    assert behind.versions == ["TLSv1.3"]
    assert b"Bearer k-secret-key" in behind.heads[0]


async def test_https_proxy_variable_is_honoured(
    origin: tuple[Origin, RawServer], transport: TransportTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY is used when proxy= is not given."""
    behind, server = origin
    async with ConnectProxy(server.port) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with sms_client(
            f"https://{PROXIED_HOST}:{server.port}", transport, verify=verify_for(behind)
        ) as client:
            await client.send_sms(destination=PHONE, text="hi")
    assert len(proxy.connects) == 1
    assert server.requests == 1


async def test_no_proxy_variable_bypasses_the_proxy(
    origin: tuple[Origin, RawServer], transport: TransportTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host NO_PROXY names goes direct (here: a name that does not resolve, so it fails)."""
    behind, server = origin
    async with ConnectProxy(server.port) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,.proxied.test")
        async with sms_client(
            f"https://{PROXIED_HOST}:{server.port}", transport, verify=verify_for(behind)
        ) as client:
            with pytest.raises(e.APIConnectionError, match="nothing was sent"):
                await client.send_sms(destination=PHONE, text="hi")
    assert proxy.connects == []


async def test_loopback_base_url_never_goes_through_a_proxy(
    transport: TransportTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox on 127.0.0.1 is reached directly even with HTTPS_PROXY set."""
    async with Sandbox() as sandbox, ConnectProxy(sandbox.port or 0) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        async with AsyncSmsClient(
            **sandbox.client_kwargs(), transport=transport, proxy=proxy.url
        ) as client:
            await client.send_sms(destination=PHONE, text="hi")
        assert sandbox.state.requests["send_sms"] == 1
    assert proxy.connects == []


async def test_cancel_during_tls_handshake_closes_the_socket(transport: TransportTypes) -> None:
    """A call cancelled while its TLS handshake waits closes the socket (no ResourceWarning)."""

    async def mute(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # takes the ClientHello, never answers it

    async with RawServer(mute) as server:
        url = server.url.replace("http://", "https://")
        async with sms_client(url, transport) as client:
            tasks = [
                asyncio.create_task(client.send_sms(destination=PHONE, text="hi")) for _ in range(5)
            ]
            await eventually(lambda: server.connections == 5)
            await asyncio.sleep(0.05)  # let the ClientHellos go out
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await eventually(lambda: server.open == 0)
        gc.collect()


async def test_proxy_that_never_opens_the_tunnel_sent_nothing(transport: TransportTypes) -> None:
    """A proxy that takes the CONNECT and never answers: a timeout that says nothing was sent."""

    async def mute(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        server.count()
        await reader.read()

    async with (
        RawServer(mute) as proxy,
        sms_client(
            f"https://{PROXIED_HOST}:443", transport, proxy=proxy.url, timeout=httpx.Timeout(0.2)
        ) as client,
    ):
        with pytest.raises(e.APITimeoutError, match="nothing was sent") as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert not isinstance(info.value, e.SendOutcomeUnknownError)
    assert proxy.requests == 1
