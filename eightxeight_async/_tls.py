"""TLS: the client's one SSL context (TLS 1.3 or nothing), and the probes that explain a failure.

The context is built once per client and reused by every connection. The probes run only after
an attempt failed in a way that a handshake can explain (a peer that hung up mid-handshake, a
plain-HTTP request that met a TLS port); they send no data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from typing import Union

import certifi
import httpx

from ._config import ENV_CA_BUNDLE
from ._errors import ValidationError

__all__ = [
    "VerifyTypes",
    "build_ssl_context",
    "probe_speaks_tls",
    "probe_tls_version",
    "ssl_context_for",
]

VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]

_TLS13_OK = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.MAXIMUM_SUPPORTED)


def build_ssl_context(verify: VerifyTypes) -> ssl.SSLContext:
    """Build the client's one SSL context, refusing anything below TLS 1.3.

    Args:
        verify: ``True`` (the certifi CA bundle), a path to a CA bundle, or a context of the
            caller's, which is used as is and must already refuse versions below TLS 1.3.

    Returns:
        The SSL context.

    Raises:
        ValidationError: When ``verify`` is ``False``, a path that cannot be loaded, or a context
            that allows TLS 1.2 or lower.
    """
    if isinstance(verify, ssl.SSLContext):
        if verify.minimum_version not in _TLS13_OK:
            raise ValidationError(
                "verify",
                "an SSLContext whose minimum_version is ssl.TLSVersion.TLSv1_3 (it is not "
                "modified for you)",
            )
        return verify
    if verify is False:
        raise ValidationError(
            "verify", "True, a CA bundle path or an SSLContext (certificate checks stay on)"
        )
    context: ssl.SSLContext | None = None
    if verify is True:
        context = ssl.create_default_context(cafile=certifi.where())
    elif isinstance(verify, (str, os.PathLike)):
        # The ValidationError is raised outside the except block: the OSError quotes the path,
        # and even `from None` would leave it reachable as __context__.
        with contextlib.suppress(OSError, ssl.SSLError):
            context = ssl.create_default_context(cafile=os.fspath(verify))
        if context is None:
            raise ValidationError("verify", "a readable PEM CA bundle")
    else:
        raise ValidationError("verify", "True, a CA bundle path or an SSLContext")
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def ssl_context_for(verify: VerifyTypes | None) -> ssl.SSLContext:
    """The context for the client's ``verify`` argument.

    When it is None: the CA bundle named by ``EIGHTXEIGHT_CA_BUNDLE`` if set, else certifi's.

    Raises:
        ValidationError: As :func:`build_ssl_context`, naming the variable when its file is bad.
    """
    if verify is not None:
        return build_ssl_context(verify)
    path = os.environ.get(ENV_CA_BUNDLE)
    if not path:
        return build_ssl_context(True)
    try:
        return build_ssl_context(path)
    except ValidationError:
        pass
    # Outside the except block, so that no OSError quoting the path is left as __context__.
    readable = os.path.isfile(path) and os.access(path, os.R_OK)
    problem = "holds no PEM certificate" if readable else "is missing or unreadable"
    raise ValidationError(
        "verify",
        f"a readable PEM CA bundle: {ENV_CA_BUNDLE}, used when verify is not given, names a "
        f"file that {problem}",
    )


async def _handshake(url: httpx.URL, timeout: float | None) -> str | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host),
            timeout or 5.0,
        )
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        return None
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else None
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return version if isinstance(version, str) else None


async def probe_tls_version(url: httpx.URL, timeout: float | None) -> str | None:
    """Learn which TLS version a server speaks, by a handshake that sends no data.

    Only called after a handshake failed, to tell "no TLS 1.3 there" from any other hang-up.
    Certificates are not checked: nothing is sent over this connection, and it closes at once.

    Returns:
        The negotiated version (e.g. ``"TLSv1.2"``), or None when even this handshake failed.
    """
    return await _handshake(url, timeout)


async def probe_speaks_tls(url: httpx.URL, timeout: float | None) -> bool:
    """Whether the server behind a plain ``http://`` URL completes a TLS handshake instead.

    Only called after a plain-HTTP attempt failed in a way that looked like a garbled answer or
    a hang-up; nothing is sent over the probe's connection.
    """
    return await _handshake(url, timeout) is not None
