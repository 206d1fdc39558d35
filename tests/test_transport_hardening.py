"""The HTTP layer hardened, without sockets: classification, bounded reads, proxies, the gate."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RetryPolicy
from eightxeight_async._errors import SendIds
from eightxeight_async._http import HttpSender
from eightxeight_async._proxy import ProxyRouter, bypasses_proxy, resolve_proxy
from eightxeight_async._reading import BodyTooLarge, Undecodable, read_body, set_body
from eightxeight_async._retry import CallKind, should_retry
from eightxeight_async._tls import build_ssl_context
from eightxeight_async._transport import build_http_client
from eightxeight_async._transport_errors import (
    classify_transport_error,
    describe_origin,
    map_stop,
    map_transport_error,
    may_be_tls_reply,
    redact_chain,
)

REQUEST = httpx.Request("POST", "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages")


def ssl_error(reason: str) -> ssl.SSLError:
    err = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    err.reason = reason
    return err


def caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        pytest.param(
            caused(httpx.ConnectError("x", request=REQUEST), ssl_error("WRONG_VERSION_NUMBER")),
            "not_tls",
            id="https-to-plain-http",
        ),
        pytest.param(
            caused(httpx.ConnectError("x", request=REQUEST), ssl_error("UNSUPPORTED_PROTOCOL")),
            "tls_version",
            id="tls12-only",
        ),
        pytest.param(httpx.ProxyError("407 Proxy Authentication Required"), "proxy", id="proxy"),
        pytest.param(httpx.LocalProtocolError("bad header"), "config", id="h11-refused-to-send"),
        pytest.param(RuntimeError("Session is closed"), "closed", id="aiohttp-session-closed"),
        pytest.param(
            RuntimeError("Cannot send a request, as the client has been closed."),
            "closed",
            id="httpx-client-closed",
        ),
        pytest.param(
            aiohttp.ClientResponseError(None, (), status=400, message="Bad status line"),  # type: ignore[arg-type]
            "ambiguous",
            id="aiohttp-bad-status-line",
        ),
        pytest.param(socket.gaierror(-2, "Name or service not known"), "before_send", id="dns"),
        pytest.param(ConnectionRefusedError(), "before_send", id="raw-refused"),
        pytest.param(ConnectionResetError(), "ambiguous", id="raw-reset"),
        pytest.param(ValueError("anything else"), "ambiguous", id="unknown"),
    ],
)
def test_classify_any_exception(error: BaseException, kind: str) -> None:
    """Every exception a transport can raise is sorted, not only httpx's own."""
    assert classify_transport_error(error) == kind


def test_messages_name_the_origin_and_nothing_more() -> None:
    """Connection errors say scheme://host:port, never the path."""
    request = httpx.Request("POST", "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages")
    error = caused(httpx.ConnectError("x", request=request), ConnectionRefusedError())
    mapped = map_transport_error(error, request, send=SendIds(client_message_id="c1"))
    assert "https://sms.8x8.com:443" in str(mapped)
    assert "acme_hq" not in str(mapped)
    assert describe_origin(httpx.URL("http://[::1]:8080/x")) == "http://[::1]:8080"


def test_not_tls_is_a_configuration_error() -> None:
    """https:// to a plain-HTTP port says so, and is never retried."""
    error = caused(httpx.ConnectError("x", request=REQUEST), ssl_error("WRONG_VERSION_NUMBER"))
    mapped = map_transport_error(error, REQUEST, send=SendIds(client_message_id="c1"))
    assert type(mapped) is e.APIConnectionError
    assert "does not speak TLS" in str(mapped)
    assert mapped.permanent
    assert not mapped.may_have_been_sent


@pytest.mark.parametrize(
    ("error", "probe"),
    [
        pytest.param(
            httpx.RemoteProtocolError("illegal status line: b'\\x15\\x03\\x03'"), True, id="alert"
        ),
        pytest.param(
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            True,
            id="hang-up",
        ),
        pytest.param(
            httpx.RemoteProtocolError("illegal status line: b'HTTP/1.1 abc'"),
            False,
            id="garbled-http",
        ),
        pytest.param(httpx.ReadTimeout("x"), False, id="timeout"),
    ],
)
def test_only_tls_looking_failures_are_probed(error: BaseException, probe: bool) -> None:
    """The TLS probe of a plain-HTTP port runs only when the failure could be a TLS answer."""
    assert may_be_tls_reply(error) is probe


# --- bounded reading ---------------------------------------------------------------------------


class CountingStream(httpx.AsyncByteStream):
    """Yields ``data`` in chunks and counts how much was taken."""

    def __init__(self, data: bytes, chunk: int = 16384) -> None:
        self.data = data
        self.chunk = chunk
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            piece = self.data[start : start + self.chunk]
            self.taken += len(piece)
            yield piece


def streamed(data: bytes, encoding: str | None = None) -> tuple[httpx.Response, CountingStream]:
    stream = CountingStream(data)
    headers = {"Content-Encoding": encoding} if encoding else {}
    return httpx.Response(200, headers=headers, stream=stream), stream


async def test_gzip_bomb_stops_inflating_at_the_cap() -> None:
    """64 MiB of zeros gzipped: refused after reading a small part of the compressed bytes."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    response, stream = streamed(bomb, "gzip")
    with pytest.raises(BodyTooLarge):
        await read_body(response, 1024 * 1024, truncate=False)
    assert stream.taken == stream.chunk  # the first 16 KiB already inflate past the cap


async def test_plain_body_stops_being_read_at_the_cap() -> None:
    """A large identity body is not read past the cap."""
    response, stream = streamed(b"x" * (8 * 1024 * 1024))
    with pytest.raises(BodyTooLarge):
        await read_body(response, 1024 * 1024, truncate=False)
    assert stream.taken <= 1024 * 1024 + stream.chunk


async def test_truncate_keeps_a_prefix() -> None:
    """Error answers keep the first bytes, up to the cap."""
    response, _ = streamed(b"abc" * 100_000)
    body = await read_body(response, 1000, truncate=True)
    assert body == (b"abc" * 400)[:1000]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(gzip.compress(b'{"a": 1}'), "gzip", id="gzip"),
        pytest.param(zlib.compress(b'{"a": 1}'), "deflate", id="zlib-deflate"),
        pytest.param(zlib.compress(b'{"a": 1}')[2:-4], "deflate", id="raw-deflate"),
        pytest.param(b'{"a": 1}', "identity", id="identity"),
    ],
)
async def test_encodings_are_decoded(data: bytes, encoding: str) -> None:
    """gzip, both forms of deflate and identity decode to the same bytes."""
    response, _ = streamed(data, encoding)
    assert await read_body(response, 1000, truncate=False) == b'{"a": 1}'


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(b"not gzip", "gzip", id="corrupt-gzip"),
        pytest.param(gzip.compress(b"x" * 1000)[:20], "gzip", id="truncated-gzip"),
        pytest.param(b"x", "br", id="unasked-encoding"),
    ],
)
async def test_undecodable_bodies(data: bytes, encoding: str) -> None:
    """Corrupt, truncated or unknown encodings are Undecodable, not httpx.DecodingError."""
    response, _ = streamed(data, encoding)
    with pytest.raises(Undecodable):
        await read_body(response, 1000, truncate=False)


def test_set_body_serves_content_text_and_json() -> None:
    """The body decoded here is what httpx's Response gives back (checks httpx's internals)."""
    response = httpx.Response(200, stream=CountingStream(b""))
    set_body(response, b'{"a": 1}')
    assert response.content == b'{"a": 1}'
    assert response.text == '{"a": 1}'
    assert response.json() == {"a": 1}


# --- proxies -----------------------------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_resolve_proxy_reads_the_environment(no_proxy_env: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY (either case) then ALL_PROXY; NO_PROXY split; proxy= wins over both."""
    assert resolve_proxy(None) == (None, ())
    no_proxy_env.setenv("ALL_PROXY", "http://all:3128")
    assert str(resolve_proxy(None)[0].url) == "http://all:3128"  # type: ignore[union-attr]
    no_proxy_env.setenv("https_proxy", "corp:8080")
    no_proxy_env.setenv("NO_PROXY", " .internal , 10.0.0.0/8,")
    proxy, no_proxy = resolve_proxy(None)
    assert str(proxy.url) == "http://corp:8080"  # type: ignore[union-attr]
    assert no_proxy == (".internal", "10.0.0.0/8")
    explicit, ignored = resolve_proxy("http://mine:1")
    assert str(explicit.url) == "http://mine:1"  # type: ignore[union-attr]
    assert ignored == ()


@pytest.mark.parametrize(
    ("url", "no_proxy", "direct"),
    [
        pytest.param("https://sms.8x8.com", (), False, id="proxied"),
        pytest.param("http://127.0.0.1:8080", (), True, id="plain-http-never"),
        pytest.param("https://127.9.9.9:8443", (), True, id="loopback-v4"),
        pytest.param("https://[::1]:8443", (), True, id="loopback-v6"),
        pytest.param("https://localhost:8443", (), True, id="localhost"),
        pytest.param("https://127.attacker.example", (), False, id="not-loopback-by-name"),
        pytest.param("https://sms.8x8.com", ("8x8.com",), True, id="domain"),
        pytest.param("https://sms.8x8.com", (".8x8.com",), True, id="dot-domain"),
        pytest.param("https://sms.8x8.com", ("*.8x8.com",), True, id="star-domain"),
        pytest.param("https://not8x8.com", ("8x8.com",), False, id="not-a-suffix-match"),
        pytest.param("https://sms.8x8.com", ("*",), True, id="star"),
        pytest.param("https://10.1.2.3", ("10.0.0.0/8",), True, id="cidr"),
        pytest.param("https://sms.8x8.com:8443", ("sms.8x8.com:443",), False, id="other-port"),
        pytest.param("https://sms.8x8.com", ("sms.8x8.com:443",), True, id="same-port"),
    ],
)
def test_bypasses_proxy(url: str, no_proxy: tuple[str, ...], direct: bool) -> None:
    """Loopback and plain HTTP always go direct; NO_PROXY entries as curl reads them."""
    assert bypasses_proxy(httpx.URL(url), no_proxy) is direct


def test_bad_proxy_url_is_refused_without_echoing_it() -> None:
    """A proxy URL that cannot work is a ValidationError that does not show its password."""
    for bad in ("ftp://user:hunter2@proxy:21", "http://user:hunter2@:99999", "not a url"):
        with pytest.raises(e.ValidationError) as info:
            AsyncSmsClient(api_key="k", proxy=bad)
        assert info.value.field == "proxy"
        assert "hunter2" not in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


async def test_proxy_credentials_stay_out_of_reprs() -> None:
    """The client, its sender and the router never show the proxy URL."""
    async with AsyncSmsClient(api_key="k", proxy="http://user:hunter2@proxy:3128") as client:
        assert isinstance(client._sender.client._transport, ProxyRouter)
        assert "hunter2" not in repr(client)
        assert "hunter2" not in repr(client._sender)
        assert "hunter2" not in repr(client._sender.client._transport)


def test_proxy_and_http_client_conflict() -> None:
    """proxy= with an injected http_client is refused: that client's own settings apply."""
    with pytest.raises(e.ValidationError, match="proxy"):
        AsyncSmsClient(api_key="k", http_client=httpx.AsyncClient(), proxy="http://p:1")


def test_aiohttp_refuses_socks_proxies() -> None:
    """aiohttp cannot use socks5 proxies: a ValidationError, not a failure at send time."""
    with pytest.raises(e.ValidationError, match="proxy"):
        build_http_client(
            ssl_context=build_ssl_context(True),
            timeout=httpx.Timeout(5),
            transport="aiohttp",
            proxy="socks5://proxy:1080",
        )


# --- the gate and the sender's lifecycle -------------------------------------------------------


class BlockingTransport(httpx.AsyncBaseTransport):
    """Counts requests and holds each one until released."""

    def __init__(self) -> None:
        self.arrived = 0
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.arrived += 1
        await self.release.wait()
        return httpx.Response(200, json={"ok": True})


def sender_for(transport: httpx.AsyncBaseTransport) -> HttpSender:
    return HttpSender(
        httpx.AsyncClient(transport=transport), "k", max_in_flight=1, owns_client=True
    )


async def send(sender: HttpSender, timeout: httpx.Timeout, *, is_send: bool = True) -> Any:
    return await sender.send(
        "POST",
        "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages",
        content=b"{}",
        timeout=timeout,
        endpoint="send_sms",
        attempt=1,
        send=SendIds(client_message_id="c1") if is_send else None,
    )


async def test_gate_wait_ends_at_the_pool_timeout() -> None:
    """A request waiting for a slot gives up after timeout.pool: nothing was sent, retryable."""
    transport = BlockingTransport()
    sender = sender_for(transport)
    first = asyncio.create_task(send(sender, httpx.Timeout(None)))
    await asyncio.sleep(0)
    with pytest.raises(e.APITimeoutError, match="nothing was sent") as info:
        await send(sender, httpx.Timeout(None, pool=0.01))
    assert not info.value.may_have_been_sent
    assert transport.arrived == 1
    transport.release.set()
    assert (await first).status_code == 200


async def test_close_gate_wakes_waiters_with_our_error() -> None:
    """close_gate(): waiting and later requests raise "closed, nothing was sent" at once."""
    transport = BlockingTransport()
    sender = sender_for(transport)
    first = asyncio.create_task(send(sender, httpx.Timeout(None)))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(send(sender, httpx.Timeout(None)))
    await asyncio.sleep(0)
    sender.close_gate()
    with pytest.raises(e.APIConnectionError, match="nothing was sent"):
        await waiting
    with pytest.raises(e.APIConnectionError, match="nothing was sent"):
        await send(sender, httpx.Timeout(None))
    assert transport.arrived == 1
    await sender.aclose(close_client=True)
    with pytest.raises(e.SendOutcomeUnknownError, match="aclose"):
        await first


async def test_aclose_ends_a_read_in_flight_as_maybe_sent() -> None:
    """A non-send in flight when the sender closes: may have been sent, not retried."""
    transport = BlockingTransport()
    sender = sender_for(transport)
    task = asyncio.create_task(send(sender, httpx.Timeout(None), is_send=False))
    await asyncio.sleep(0)
    await sender.aclose(close_client=True)
    with pytest.raises(e.APIConnectionError) as info:
        await task
    assert info.value.may_have_been_sent
    assert info.value.permanent


async def test_callers_own_cancel_is_never_mapped() -> None:
    """Cancelling the caller's task gives CancelledError, the attempt's timer notwithstanding."""
    transport = BlockingTransport()
    sender = sender_for(transport)
    task = asyncio.create_task(send(sender, httpx.Timeout(5.0)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sender._in_flight == set()
    assert not sender._gate.locked()  # type: ignore[union-attr]


async def test_a_hook_raising_anything_comes_out_as_ours() -> None:
    """Whatever an injected client's transport raises becomes an APIConnectionError."""

    def boom(request: httpx.Request) -> httpx.Response:
        raise KeyError("not a transport error")

    sender = HttpSender(httpx.AsyncClient(transport=httpx.MockTransport(boom)), "k")
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await send(sender, httpx.Timeout(1.0))
    assert isinstance(info.value.__cause__, KeyError)


class AbortingTransport(httpx.AsyncBaseTransport):
    """Waits on a future that the test cancels, as aiohttp does to waiters of a closed pool."""

    def __init__(self) -> None:
        self.waiting: asyncio.Future[None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.waiting = asyncio.get_running_loop().create_future()
        await self.waiting
        return httpx.Response(200)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 tasks do not count cancel requests")
async def test_a_cancel_from_inside_the_transport_is_not_a_bare_cancelled_error() -> None:
    """A future cancelled inside the transport (nobody cancelled the task) becomes our error."""
    transport = AbortingTransport()
    sender = sender_for(transport)
    task = asyncio.create_task(send(sender, httpx.Timeout(5.0)))
    await asyncio.sleep(0)
    assert transport.waiting is not None
    transport.waiting.cancel()
    with pytest.raises(e.SendOutcomeUnknownError, match="cancelled the request"):
        await task


@pytest.mark.parametrize(
    ("reason", "unsent", "is_send", "expected", "retryable", "text"),
    [
        pytest.param("pool", True, True, e.APITimeoutError, True, "nothing was sent", id="pool"),
        pytest.param(
            "deadline",
            True,
            True,
            e.APITimeoutError,
            True,
            "nothing was sent",
            id="deadline-unsent",
        ),
        pytest.param(
            "deadline",
            False,
            True,
            e.SendOutcomeUnknownError,
            False,
            "timed out",
            id="deadline-send",
        ),
        pytest.param(
            "deadline", False, False, e.APITimeoutError, True, "timed out", id="deadline-read"
        ),
        pytest.param(
            "closed",
            True,
            True,
            e.APIConnectionError,
            False,
            "nothing was sent",
            id="closed-unsent",
        ),
        pytest.param(
            "closed", False, True, e.SendOutcomeUnknownError, False, "aclose", id="closed-send"
        ),
        pytest.param(
            "closed", False, False, e.APIConnectionError, False, "may have been", id="closed-read"
        ),
        pytest.param(
            "aborted",
            True,
            True,
            e.APIConnectionError,
            True,
            "nothing was sent",
            id="aborted-unsent",
        ),
    ],
)
def test_map_stop(
    reason: Any, unsent: bool, is_send: bool, expected: type, retryable: bool, text: str
) -> None:
    """Each way the SDK stops an attempt gets its error, its retry rule and a true sentence."""
    error = map_stop(
        reason,
        REQUEST,
        unsent=unsent,
        send=SendIds(client_message_id="c1") if is_send else None,
        pool_seconds=10.0,
        deadline_seconds=20.0,
    )
    assert type(error) is expected
    assert text in str(error)
    kind = CallKind.SEND if is_send else CallKind.READ
    assert should_retry(error, kind=kind, policy=RetryPolicy()) is retryable
    assert error.may_have_been_sent is not unsent


def test_unreadable_ca_bundle_chains_nothing(tmp_path: Any) -> None:
    """The ValidationError for a bad CA path holds no OSError quoting the path, even as context."""
    with pytest.raises(e.ValidationError) as info:
        build_ssl_context(str(tmp_path / "secret-name" / "missing.pem"))
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


async def test_our_cause_holds_no_authorization_header() -> None:
    """The transport error chained as __cause__ carries the redacted request, not the key."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender = HttpSender(httpx.AsyncClient(transport=httpx.MockTransport(refuse)), "k-secret")
    with pytest.raises(e.APIConnectionError) as info:
        await send(sender, httpx.Timeout(1.0))
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert "authorization" not in cause.request.headers


def test_aiohttp_request_info_loses_its_secret_headers() -> None:
    """aiohttp's ClientResponseError keeps its request headers; the secret ones are dropped."""
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    info = aiohttp.RequestInfo(
        URL("https://sms.8x8.com/x"),
        "POST",
        CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer k", "Accept": "x"})),
    )
    error = aiohttp.ClientResponseError(info, (), status=400, message="Bad status line")
    outer = caused(httpx.RemoteProtocolError("x", request=REQUEST), error)
    redact_chain(outer, None)
    assert "Authorization" not in error.request_info.headers
    assert error.request_info.headers["Accept"] == "x"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        pytest.param("https://sms.8x8.com:abc/api", "could not be built", id="port-abc"),
        pytest.param("https://127.0.0.1:99999/api", "nothing was sent", id="port-99999"),
    ],
)
async def test_a_url_httpx_refuses_is_our_error(url: str, match: str) -> None:
    """InvalidURL at build time and the ExceptionGroup of an impossible port are ours too."""
    sender = HttpSender(httpx.AsyncClient(), "k", owns_client=True)
    with pytest.raises(e.APIConnectionError, match=match):
        await sender.send(
            "GET",
            url,
            content=None,
            timeout=httpx.Timeout(1.0),
            endpoint="get_message",
            attempt=1,
        )
    await sender.client.aclose()


def test_installed_aiohttp_gets_the_liveness_check() -> None:
    """The connector that skips dead idle connections fits the installed aiohttp."""
    from eightxeight_async._aiohttp import _CONNECTOR, _CheckedConnector

    assert _CONNECTOR is _CheckedConnector


async def test_mock_transport_answers_already_read_still_work() -> None:
    """A MockTransport answer built with content= (already read by httpx) is used as it is."""

    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"a": 1}')

    sender = HttpSender(httpx.AsyncClient(transport=httpx.MockTransport(ok)), "k")
    response = await send(sender, httpx.Timeout(1.0))
    assert response.json() == {"a": 1}


async def test_liveness_check_polls_only_the_connection_it_will_hand_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One socket poll per reuse, not one per idle connection (that cost grew with the pool)."""
    import collections
    import time

    from eightxeight_async import _aiohttp

    polled: list[object] = []

    def readable(transport: object) -> bool:
        polled.append(transport)
        return transport == "dead"

    class Proto:
        def __init__(self, transport: str) -> None:
            self.transport = transport
            self.closed = False

        def is_connected(self) -> bool:
            return not self.closed

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(_aiohttp, "socket_is_readable", readable)
    connector = _aiohttp._CheckedConnector(keepalive_timeout=30)
    try:
        now = time.monotonic()
        protos = [Proto("dead"), *(Proto(f"live-{n}") for n in range(50))]
        conns: Any = connector._conns
        conns["key"] = collections.deque((p, now) for p in protos)
        handed = await connector._get("key", [])
        assert handed is not None
        assert polled == ["dead", "live-0"]
        assert protos[0].closed
        assert handed.protocol is protos[1]
        # Hand nothing back: the fakes cannot be closed like real transports.
        handed._protocol = None
    finally:
        connector._conns.clear()
        connector._acquired.clear()
        await connector.close()
