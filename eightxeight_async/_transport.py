"""Building the connection pool the client owns: httpcore's or aiohttp's, behind a proxy or not.

``_http`` sends over whatever ``httpx.AsyncClient`` it is given; this module makes the SDK's own
(the linear-time httpcore pool, the closing network backend, the aiohttp adapter of ``_aiohttp``,
the proxy router of ``_proxy``) and answers the two questions the sender asks of a client: does
httpcore's trace tell when the request headers went out, and how many connections does the
aiohttp pool hold.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ssl
from typing import Any, Literal

import httpx

from ._config import DEFAULT_LIMITS
from ._errors import ValidationError
from ._netbackend import install_closing_backend
from ._pool import install_linear_pool
from ._proxy import ProxyRouter, ProxyTypes, resolve_proxy

__all__ = ["TransportTypes", "aiohttp_slots", "build_http_client", "uses_httpcore"]

TransportTypes = Literal["httpx", "aiohttp"]


def _direct_transport(
    transport: TransportTypes,
    ssl_context: ssl.SSLContext,
    limits: httpx.Limits,
    proxy: httpx.Proxy | None,
) -> httpx.AsyncBaseTransport:
    if transport == "httpx":
        pool_transport = None
        with contextlib.suppress(ImportError):  # socks5:// without httpx's [socks] extra
            pool_transport = httpx.AsyncHTTPTransport(
                verify=ssl_context, limits=limits, proxy=proxy
            )
        if pool_transport is None:
            raise ValidationError(
                "proxy", 'an http:// or https:// proxy (socks5:// needs "httpx[socks]")'
            )
        if proxy is None:
            install_linear_pool(pool_transport, ssl_context=ssl_context, limits=limits)
        install_closing_backend(pool_transport)
        return pool_transport
    if importlib.util.find_spec("httpx_aiohttp") is None:
        raise ValidationError(
            "transport",
            '"httpx", or "aiohttp" with its extra installed '
            '(pip install "eightxeight-async[aiohttp]")',
        )
    from ._aiohttp import SdkAiohttpTransport

    if proxy is not None and proxy.url.scheme not in ("http", "https"):
        raise ValidationError("proxy", 'an http:// or https:// proxy with transport="aiohttp"')
    return SdkAiohttpTransport(ssl_context=ssl_context, limits=limits, proxy=proxy)


def build_http_client(
    *,
    ssl_context: ssl.SSLContext,
    timeout: httpx.Timeout,
    transport: TransportTypes,
    limits: httpx.Limits = DEFAULT_LIMITS,
    proxy: ProxyTypes | None = None,
) -> httpx.AsyncClient:
    """Create the pool the client owns, on the chosen transport.

    Args:
        ssl_context: The TLS 1.3 context, used for 8x8 itself (inside a proxy's tunnel too).
        timeout: The default timeout of requests.
        transport: ``"httpx"`` or ``"aiohttp"``.
        limits: The pool's size and keep-alive.
        proxy: The proxy for ``https://`` requests; when None, ``HTTPS_PROXY`` / ``ALL_PROXY``
            and ``NO_PROXY`` are read, as httpx does. Loopback and ``http://`` requests never
            go through a proxy (see ``_proxy``).

    Raises:
        ValidationError: When ``transport`` is unknown, ``"aiohttp"`` without its extra, or the
            proxy URL unusable.
    """
    if transport not in ("httpx", "aiohttp"):
        raise ValidationError("transport", 'one of "httpx", "aiohttp"')
    resolved, no_proxy = resolve_proxy(proxy)
    direct = _direct_transport(transport, ssl_context, limits, None)
    if resolved is None:
        return httpx.AsyncClient(transport=direct, timeout=timeout, trust_env=False)
    proxied = _direct_transport(transport, ssl_context, limits, resolved)
    return httpx.AsyncClient(
        transport=ProxyRouter(proxied, direct, no_proxy), timeout=timeout, trust_env=False
    )


def _transport_of(client: httpx.AsyncClient) -> Any:
    transport = getattr(client, "_transport", None)
    return transport.proxied if isinstance(transport, ProxyRouter) else transport


def uses_httpcore(client: httpx.AsyncClient) -> bool:
    """Whether the client's transport is httpcore's, whose trace tells when headers went out."""
    return isinstance(_transport_of(client), httpx.AsyncHTTPTransport)


def aiohttp_slots(client: httpx.AsyncClient) -> int | None:
    """The pool size of the SDK's own aiohttp transport, else None."""
    transport = _transport_of(client)
    if type(transport).__name__ != "SdkAiohttpTransport":  # the extra may not be installed
        return None
    slots: int | None = transport.limits.max_connections
    return slots
