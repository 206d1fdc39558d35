"""TLS context rules, and what each transport failure means for a request."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import httpx
import pytest

import eightxeight_async as e
from eightxeight_async._errors import SendIds
from eightxeight_async._tls import build_ssl_context
from eightxeight_async._transport_errors import classify_transport_error, map_transport_error

REQUEST = httpx.Request("POST", "https://sms.8x8.com/api/v1/subaccounts/acme_hq/messages")


def chained(outer: type[httpx.TransportError], *causes: BaseException) -> httpx.TransportError:
    """An httpx error whose __cause__ chain is `causes`, outermost first, as transports raise."""
    error = outer("boom", request=REQUEST)
    current: BaseException = error
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return error


def ssl_error(reason: str) -> ssl.SSLError:
    err = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    err.reason = reason
    return err


def connector_error(os_error: OSError) -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(None, os_error)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        pytest.param(
            chained(httpx.ConnectError, ConnectionRefusedError()), "before_send", id="refused"
        ),
        pytest.param(chained(httpx.ConnectTimeout), "before_send", id="connect-timeout"),
        pytest.param(chained(httpx.PoolTimeout), "before_send", id="pool-timeout"),
        pytest.param(
            chained(httpx.ConnectError, ssl.SSLCertVerificationError(1, "bad cert")),
            "tls_certificate",
            id="cert",
        ),
        pytest.param(
            chained(httpx.ConnectError, ssl_error("TLSV1_ALERT_PROTOCOL_VERSION")),
            "tls_version",
            id="version-alert",
        ),
        pytest.param(
            chained(httpx.ConnectError, ssl.SSLEOFError(8, "EOF")),
            "tls_handshake_eof",
            id="handshake-eof",
        ),
        pytest.param(chained(httpx.ReadTimeout), "ambiguous", id="read-timeout"),
        pytest.param(chained(httpx.RemoteProtocolError), "ambiguous", id="disconnect"),
        pytest.param(chained(httpx.WriteError), "ambiguous", id="write-error"),
        pytest.param(chained(httpx.UnsupportedProtocol), "config", id="bad-scheme"),
        pytest.param(
            chained(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError()),
            "ambiguous",
            id="aiohttp-disconnect-mapped-to-connect-timeout",
        ),
        pytest.param(
            chained(httpx.ConnectTimeout, connector_error(ConnectionResetError())),
            "tls_handshake_eof",
            id="aiohttp-handshake-reset",
        ),
        pytest.param(
            chained(httpx.ConnectError, connector_error(ConnectionRefusedError())),
            "before_send",
            id="aiohttp-refused",
        ),
        pytest.param(
            chained(
                httpx.ConnectTimeout,
                aiohttp.ClientConnectorCertificateError(None, ValueError("x")),  # type: ignore[arg-type]
            ),
            "tls_certificate",
            id="aiohttp-cert",
        ),
        pytest.param(
            chained(httpx.ReadTimeout, aiohttp.SocketTimeoutError()),
            "ambiguous",
            id="aiohttp-read-timeout",
        ),
    ],
)
def test_classify_transport_error(error: httpx.TransportError, kind: str) -> None:
    """Each failure is sorted by whether the request may have reached the server."""
    assert classify_transport_error(error) == kind


def test_aiohttp_disconnect_on_send_is_not_called_a_timeout() -> None:
    """httpx-aiohttp reports a disconnect as ConnectTimeout; the message says what happened."""
    error = chained(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError())
    mapped = map_transport_error(error, REQUEST, send=SendIds(client_message_id="c1"))
    assert isinstance(mapped, e.SendOutcomeUnknownError)
    assert "timed out" not in str(mapped)


def test_aiohttp_disconnect_on_read_is_connection_error() -> None:
    """On a read, the same failure is a plain connection error that may be retried."""
    error = chained(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError())
    mapped = map_transport_error(error, REQUEST, send=None)
    assert type(mapped) is e.APIConnectionError
    assert mapped.may_have_been_sent


def test_build_ssl_context_requires_tls13(tmp_path: Path) -> None:
    """Our contexts refuse TLS 1.2; a caller's is used unmodified only if it already does."""
    assert build_ssl_context(True).minimum_version == ssl.TLSVersion.TLSv1_3
    strict = ssl.create_default_context()
    strict.minimum_version = ssl.TLSVersion.TLSv1_3
    assert build_ssl_context(strict) is strict
    with pytest.raises(e.ValidationError, match="verify"):
        build_ssl_context(False)
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("garbage")
    with pytest.raises(e.ValidationError, match="readable PEM"):
        build_ssl_context(str(bad))
