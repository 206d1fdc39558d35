"""Which proxy a request takes: ``proxy=``, else ``HTTPS_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``.

The SDK builds its own transport (for its TLS 1.3 context and its pool), and httpx reads the proxy
variables only when it builds the transport itself, so the SDK reads them here, as httpx's
``trust_env`` would, and routes each request:

- ``https://`` requests go through the proxy as a ``CONNECT`` tunnel. TLS 1.3 is negotiated with
  8x8 inside the tunnel, with the client's own context, so the proxy sees neither the API key nor
  any byte of the request; it only learns the host and port.
- ``http://`` requests never do. Base URLs may use plain HTTP only on loopback addresses (the
  sandbox), and a plain request through a proxy would hand it the ``Authorization`` header; so
  ``HTTP_PROXY`` has nothing to apply to.
- Loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``) and the hosts ``NO_PROXY`` names go
  direct, as curl and httpx do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.request
from collections.abc import Sequence
from typing import Union

import httpx

from ._errors import ValidationError

__all__ = ["ProxyRouter", "ProxyTypes", "bypasses_proxy", "resolve_proxy"]

ProxyTypes = Union[str, httpx.Proxy]  # noqa: UP007 (a runtime alias; 3.10 has no str | Proxy)

_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})
_PROXY_RULE = "an http://, https:// or socks5:// proxy URL with a host (e.g. http://proxy:3128)"


def _check_proxy(value: ProxyTypes, field: str) -> httpx.Proxy:
    # The proxy URL may hold credentials: no message, repr or chained error echoes it (the
    # ValidationError is raised outside the except block, so not even __context__ holds it).
    proxy: httpx.Proxy | None = value if isinstance(value, httpx.Proxy) else None
    if isinstance(value, str):
        with contextlib.suppress(TypeError, ValueError, httpx.InvalidURL):
            proxy = httpx.Proxy(value)
    if proxy is None or proxy.url.scheme not in _SCHEMES or not proxy.url.host:
        raise ValidationError(field, _PROXY_RULE)
    return proxy


def resolve_proxy(proxy: ProxyTypes | None) -> tuple[httpx.Proxy | None, tuple[str, ...]]:
    """The proxy for ``https://`` requests and the ``NO_PROXY`` entries.

    Args:
        proxy: The caller's ``proxy=``; when None, ``HTTPS_PROXY`` then ``ALL_PROXY`` (either
            case, lower case first, as urllib reads them).

    Returns:
        The proxy (None for none) and the hosts that bypass it. An explicit ``proxy=`` ignores
        ``NO_PROXY``, as httpx's ``proxy=`` does; loopback hosts bypass it all the same.

    Raises:
        ValidationError: When the proxy URL is not one httpx can use (``field="proxy"``; the
            URL itself is never echoed, it may hold a password).
    """
    if proxy is not None:
        return _check_proxy(proxy, "proxy"), ()
    environment = urllib.request.getproxies_environment()
    url = environment.get("https") or environment.get("all")
    if not url:
        return None, ()
    if "://" not in url:  # curl accepts "proxy:3128"
        url = f"http://{url}"
    no_proxy = tuple(
        entry.strip().lower() for entry in environment.get("no", "").split(",") if entry.strip()
    )
    return _check_proxy(url, "HTTPS_PROXY"), no_proxy


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _matches(host: str, port: int, entry: str) -> bool:
    if entry == "*":
        return True
    entry_host, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if entry_port:
        if not entry_port.isdigit() or int(entry_port) != port:
            return False
        entry = entry_host
    entry = entry.strip("[]")
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    else:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    entry = entry.lstrip("*").lstrip(".")
    return bool(entry) and (host == entry or host.endswith("." + entry))


def bypasses_proxy(url: httpx.URL, no_proxy: Sequence[str]) -> bool:
    """Whether a request to ``url`` goes direct rather than through the proxy."""
    if url.scheme != "https":
        return True
    host = url.host.lower()
    if _is_loopback(host):
        return True
    port = url.port or 443
    return any(_matches(host, port, entry) for entry in no_proxy)


class ProxyRouter(httpx.AsyncBaseTransport):
    """Sends each request through the proxy transport or the direct one (see the module doc).

    Args:
        proxied: The transport that tunnels through the proxy.
        direct: The transport for loopback, ``http://`` and ``NO_PROXY`` hosts.
        no_proxy: The ``NO_PROXY`` entries, lower case.
    """

    def __init__(
        self,
        proxied: httpx.AsyncBaseTransport,
        direct: httpx.AsyncBaseTransport,
        no_proxy: Sequence[str] = (),
    ) -> None:
        self.proxied = proxied
        self.direct = direct
        self._no_proxy = tuple(no_proxy)
        # One decision per origin: a client talks to one or two hosts, for its whole life.
        self._routes: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}

    def __repr__(self) -> str:
        return "<ProxyRouter>"  # the proxy URL may carry credentials

    def route(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        """The transport a request to ``url`` goes through."""
        key = (url.raw_scheme, url.raw_host, url.port)
        transport = self._routes.get(key)
        if transport is None:
            transport = self.direct if bypasses_proxy(url, self._no_proxy) else self.proxied
            if len(self._routes) < 64:
                self._routes[key] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the transport its origin is routed to."""
        return await self.route(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        """Close both transports."""
        try:
            await self.proxied.aclose()
        finally:
            await self.direct.aclose()
