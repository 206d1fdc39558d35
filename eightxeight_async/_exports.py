"""Log exports: waiting for a job to finish, and reading its CSV files row by row.

Two pieces, each behind a small interface so that the client wires them in a few lines:

- :func:`wait_for_export` polls a job (through any ``get_status`` coroutine) with capped
  exponential backoff and jitter until its status is final, on the SDK's clock.
- :class:`CsvDownloader` streams the CSV files a finished job links to, one row at a time, in
  bounded memory. The API key goes only to the client's own origin; a link elsewhere is fetched
  without it, and a plain-http link to a host that is not loopback is refused.
"""

# No "from __future__ import annotations": the errors here are public, and typing.get_type_hints
# resolves their annotations in the package namespace they are re-exported from.
import asyncio
import codecs
import ipaddress
import math
import random
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import attrs
import httpx

from . import _clock
from ._errors import (
    APIStatusError,
    EightXEightError,
    ResponseValidationError,
    ValidationError,
    clean_server_text,
)
from ._models_exports import LogExportState, LogExportStatus
from ._redact import redact_link

__all__ = [
    "MAX_CSV_RECORD",
    "MAX_POLL_INTERVAL",
    "CsvDownloader",
    "LogExportError",
    "LogExportTimeoutError",
    "check_download_link",
    "check_polling",
    "poll_delays",
    "wait_for_export",
]

#: The longest pause between two polls of an export job, in seconds (unless ``poll_interval`` is
#: longer still): jobs take minutes, and a finished one should not wait much longer than this.
MAX_POLL_INTERVAL = 30.0
#: The most characters one CSV record may hold. 8x8's rows are a few hundred characters (the body
#: is redacted); a "row" beyond this is not 8x8 speaking, and must not grow memory without end.
MAX_CSV_RECORD = 1024 * 1024
#: Redirects followed per download link, each checked like the link itself.
MAX_REDIRECTS = 5
#: Bytes inflated per step from a compressed download.
_INFLATE_STEP = 64 * 1024
#: Bytes of an error answer kept for the error (8x8's error bodies are a few hundred bytes).
_ERROR_BODY = 64 * 1024

_OK_STATES = frozenset({LogExportState.SUCCEEDED, LogExportState.EMPTY})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class LogExportError(EightXEightError):
    """A log export job ended without a file: 8x8 reported ``failed``, ``error`` or ``cancelled``.

    Attributes:
        job_id: The job's id, to quote to 8x8 support or to look it up with ``get_log_export``.
        status: The job's last status, as 8x8 reported it (``None`` if never read).
    """

    job_id: str
    status: LogExportStatus | None

    def __init__(self, message: str, *, job_id: str, status: LogExportStatus | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status


class LogExportTimeoutError(LogExportError):
    """``export_logs`` gave up waiting: the job was not final after ``max_wait`` seconds.

    The job is left running on 8x8's side: poll it with ``get_log_export(job_id)`` later, or stop
    it with ``cancel_log_export(job_id)``.
    """


# --- polling -----------------------------------------------------------------------------------


def _seconds(value: object, field: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(field, "a finite number of seconds greater than 0")
    return float(value)


def check_polling(poll_interval: object, max_wait: object) -> tuple[float, float]:
    """Check ``export_logs``'s polling settings and return them as floats.

    Raises:
        ValidationError: When either is not a finite number of seconds above 0.
    """
    return _seconds(poll_interval, "poll_interval"), _seconds(max_wait, "max_wait")


def poll_delays(poll_interval: float, rng: random.Random | None = None) -> Callable[[], float]:
    """The pauses between polls: capped exponential backoff with "equal jitter".

    The n-th pause (from 0) is drawn uniformly from ``[c/2, c]`` where
    ``c = min(poll_interval * 2**n, max(poll_interval, MAX_POLL_INTERVAL))``: it doubles from
    ``poll_interval`` up to the cap, and never falls below half of it, so that many clients
    waiting for jobs started together spread out without any of them polling in a tight loop.

    Returns:
        A function giving the next pause each time it is called.
    """
    draw = (rng or random.SystemRandom()).uniform
    cap = max(poll_interval, MAX_POLL_INTERVAL)
    ceiling = poll_interval

    def next_delay() -> float:
        nonlocal ceiling
        current = min(ceiling, cap)
        ceiling = current * 2  # stops growing at the cap: no overflow however long the wait
        return draw(current / 2, current)

    return next_delay


async def wait_for_export(
    job_id: str,
    get_status: Callable[[], Awaitable[LogExportStatus]],
    *,
    poll_interval: float,
    max_wait: float,
) -> LogExportStatus:
    """Poll a log export job until its status is final, and return that status.

    Waits first (a job is never done the instant it starts), then polls, pausing as
    :func:`poll_delays` says. The pauses use the SDK's clock (``_clock.sleep``): instant in
    ``retry_without_waiting()``, virtual in tests that run on a virtual-time loop. ``max_wait``
    bounds the loop's clock and, separately, the sum of the pauses, so that even with pauses
    skipped the loop ends.

    Args:
        job_id: The job's id (for the errors).
        get_status: Reads the job's status once (``get_log_export``); its errors propagate.
        poll_interval: The first pause, in seconds.
        max_wait: How long to wait in all, in seconds.

    Returns:
        The final status, ``succeeded`` or ``empty``.

    Raises:
        LogExportError: 8x8 reported the job ``failed``, ``error`` or ``cancelled``.
        LogExportTimeoutError: Not final after ``max_wait`` seconds; the job is left running.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    next_delay = poll_delays(poll_interval)
    waited = 0.0
    last: LogExportStatus | None = None
    while True:
        remaining = min(deadline - loop.time(), max_wait - waited)
        if remaining <= 0:
            raise _timed_out(job_id, last, max_wait)
        pause = min(next_delay(), remaining)
        await _clock.sleep(pause, record=False)
        waited += pause
        last = await get_status()
        if last.is_final:
            if last.status in _OK_STATES:
                return last
            msg = (
                f"The log export job {_quoted(job_id, redact=False)} ended with status "
                f"{_quoted(last.status)}, without a file."
            )
            raise LogExportError(msg, job_id=job_id, status=last)


def _quoted(text: str, *, redact: bool = True) -> str:
    # Ids and states come from the server: escaped and cut like any server text in a message.
    return repr(clean_server_text(str(text), 100, redact=redact))


def _timed_out(job_id: str, last: LogExportStatus | None, max_wait: float) -> LogExportTimeoutError:
    seen = "none read" if last is None else _quoted(last.status)
    job = _quoted(job_id, redact=False)  # the id to quote back: escaped, kept whole
    msg = (
        f"The log export job {job} was not finished after max_wait={max_wait:g} s (last status: "
        f"{seen}). The job was left running: read it later with get_log_export({job}), or stop "
        f"it with cancel_log_export({job})."
    )
    return LogExportTimeoutError(msg, job_id=job_id, status=last)


# --- links -------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


def _parsed(link: str) -> httpx.URL | None:
    try:
        return httpx.URL(link)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None


def check_download_link(link: object, field: str = "source") -> httpx.URL:
    """Check one CSV download link and return it parsed.

    Raises:
        ValidationError: Not an absolute ``https`` URL (plain ``http`` only to a loopback
            host), or one holding a user name or password, whitespace or control characters.
            The message never holds the link: its path carries a download token.
    """
    if not isinstance(link, str) or not link:
        raise ValidationError(field, "a download link given as a string")
    if not link.isprintable() or " " in link or len(link) > 8192:
        raise ValidationError(field, "a URL of at most 8192 characters without whitespace")
    url = _parsed(link)
    if url is None or url.scheme.lower() not in _DEFAULT_PORTS or not url.host:
        raise ValidationError(field, "an absolute https:// download link")
    if url.userinfo:
        raise ValidationError(field, "a download link without a user name or password")
    if url.scheme.lower() == "http" and not _is_loopback(url.host):
        raise ValidationError(
            field, "an https download link (plain http only for localhost or 127.0.0.0/8)"
        )
    return url


# --- CSV streaming -----------------------------------------------------------------------------


class _Inflate:
    """gzip/deflate inflation in bounded steps (no single chunk may expand without limit)."""

    def __init__(self, encoding: str) -> None:
        gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._raw_fallback = not gzip
        self._started = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        try:
            piece = self._zlib.decompress(data, _INFLATE_STEP)
            while True:
                self._started = True
                if piece:
                    out.append(piece)
                if not self._zlib.unconsumed_tail:
                    return out
                piece = self._zlib.decompress(self._zlib.unconsumed_tail, _INFLATE_STEP)
        except zlib.error:
            if not self._raw_fallback or self._started:
                raise
            # "deflate" should be zlib (RFC 9110); some servers send it raw, as httpx allows.
            self._raw_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data)


def _inflater(headers: httpx.Headers) -> _Inflate | None:
    encoding = (headers.get("content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflate(encoding)
    msg = "The CSV download came with an unsupported Content-Encoding."
    raise ResponseValidationError(msg, path="$")


class _Records:
    """Cuts decoded CSV text into whole records: a newline inside quotes does not end one."""

    def __init__(self) -> None:
        self._buffer = ""
        self._scanned = 0  # where the search for the next newline resumes
        self._quoted = False  # whether buffer[:scanned] leaves a quoted field open

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        records: list[str] = []
        start = 0
        buffer = self._buffer
        while True:
            newline = buffer.find("\n", self._scanned)
            if newline < 0:
                break
            # Quotes inside a quoted field are doubled, so the parity of the quotes tells
            # whether this newline is inside one.
            if buffer.count('"', self._scanned, newline) % 2:
                self._quoted = not self._quoted
            self._scanned = newline + 1
            if not self._quoted:
                records.append(buffer[start : newline + 1])
                start = newline + 1
        self._buffer = buffer[start:]
        self._scanned -= start
        if len(self._buffer) > MAX_CSV_RECORD:
            msg = f"A row of the CSV download is longer than {MAX_CSV_RECORD} characters."
            raise ResponseValidationError(msg, path="$")
        return records

    def finish(self) -> list[str]:
        tail = self._buffer
        quoted = self._quoted ^ bool(tail.count('"', self._scanned) % 2)
        if quoted:
            msg = "The CSV download ended inside a quoted field (the file is cut short)."
            raise ResponseValidationError(msg, path="$")
        self._buffer = ""
        return [tail] if tail.strip() else []


@attrs.define
class CsvDownloader:
    """Streams one CSV file of a log export as whole records (``_models_exports`` parses them).

    Args:
        http: The client's connection pool.
        base_url: The client's base URL: links on its origin get the API key.
        authorization: The ``Authorization`` header value for the client's own origin.
        timeout: The timeout of each read.
        transport_error: Turns a transport failure into the SDK's error (raised ``from`` it),
            probing the server where only a handshake can tell (``http://`` to a TLS port).
        status_error: Builds the SDK's error for an HTTP error answer whose body was read.
        guard: Wraps each wait on the network, so that the client's ``aclose()`` can stop it
            (``CallCore.tracked``). Only the waits: between two rows the caller's own code runs,
            and a cancellation meant for the download must not land there.
        user_agent: The ``User-Agent`` header, the SDK's own.
    """

    http: httpx.AsyncClient
    base_url: str
    authorization: str = attrs.field(repr=False)
    timeout: httpx.Timeout
    transport_error: Callable[[BaseException, httpx.Request], Awaitable[EightXEightError]]
    status_error: Callable[[httpx.Response], APIStatusError]
    guard: Callable[[], AbstractAsyncContextManager[None]]
    user_agent: str | None = None

    def _headers(self, url: httpx.URL, trusted: bool) -> dict[str, str]:
        headers = {"Accept": "text/csv, */*"}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        if trusted and _origin(url) == _origin(httpx.URL(self.base_url)):
            headers["Authorization"] = self.authorization
        return headers

    def _request(self, url: httpx.URL, trusted: bool) -> httpx.Request:
        headers = self._headers(url, trusted)
        request = self.http.build_request("GET", url, headers=headers, timeout=self.timeout)
        if "Authorization" not in headers:
            # An injected pool may carry default headers: none of them reaches another origin.
            request.headers.pop("Authorization", None)
            request.headers.pop("Cookie", None)
        return request

    async def _open(self, url: httpx.URL) -> httpx.Response:
        """Send the GET, following redirects (each one checked), and return the 2xx answer.

        The API key goes with a request only when the link the caller gave is on the client's
        origin and every redirect so far stayed there: a link elsewhere must not be able to
        steer an authenticated GET to a path of its choosing through a redirect.
        """
        own = _origin(httpx.URL(self.base_url))
        trusted = _origin(url) == own
        for _ in range(MAX_REDIRECTS + 1):
            trusted = trusted and _origin(url) == own
            request = self._request(url, trusted)
            async with self.guard():
                try:
                    response = await self.http.send(request, stream=True)
                except Exception as exc:
                    raise await self.transport_error(exc, _shown(request)) from exc
            if response.status_code in _REDIRECTS and "location" in response.headers:
                location = response.headers["location"]
                await response.aclose()
                target = _parsed(location)
                if target is None:
                    break
                url = _redirect_target(url.join(target))
                continue
            if response.status_code >= 400:
                try:
                    async with self.guard():
                        try:
                            body = await _bounded_read(response)
                        except Exception as exc:
                            raise await self.transport_error(exc, _shown(request)) from exc
                finally:
                    await response.aclose()
                response._content = body  # read here, under a cap (as _reading.set_body does)
                response.request = _shown(request)  # the error keeps no download token
                raise self.status_error(response)
            if 300 <= response.status_code < 400:
                await response.aclose()
                break
            return response
        msg = f"The CSV download did not settle within {MAX_REDIRECTS} redirects."
        raise ResponseValidationError(msg, path="$")

    async def records(self, url: httpx.URL) -> AsyncGenerator[str, None]:
        """Yield the CSV records of one file, its header first.

        Each record is whole (a quoted line break stays inside it) and at most
        :data:`MAX_CSV_RECORD` characters long.
        """
        response = await self._open(url)
        try:
            inflater = _inflater(response.headers)
            decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
            records = _Records()
            raw = response.aiter_raw()
            while True:
                async with self.guard():
                    try:
                        chunk = await raw.__anext__()
                    except StopAsyncIteration:
                        break
                    except Exception as exc:
                        raise await self.transport_error(exc, _shown(response.request)) from exc
                try:
                    pieces = [chunk] if inflater is None else inflater.feed(chunk)
                except zlib.error:
                    msg = "The CSV download's compressed bytes are corrupt."
                    raise ResponseValidationError(msg, path="$") from None
                for piece in pieces:
                    for record in records.feed(decoder.decode(piece)):
                        yield record
            for record in records.feed(decoder.decode(b"", final=True)) + records.finish():
                yield record
        finally:
            await response.aclose()


def _shown(request: httpx.Request) -> httpx.Request:
    # The request an error keeps: its URL with the download token hidden (see redact_link).
    return httpx.Request(request.method, redact_link(str(request.url)), headers=request.headers)


def _redirect_target(target: httpx.URL) -> httpx.URL:
    if target.scheme.lower() not in _DEFAULT_PORTS:
        msg = "The CSV download redirected to a scheme other than https (or http to loopback)."
        raise ResponseValidationError(msg, path="$")
    try:
        return check_download_link(str(target))
    except ValidationError:
        pass
    # Raised outside the except block: the ValidationError must not ride along as __context__.
    msg = (
        "The CSV download redirected to a link this client refuses (plain http to a host that "
        "is not loopback, or credentials in the URL)."
    )
    raise ResponseValidationError(msg, path="$")


async def _bounded_read(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: _ERROR_BODY - size])
        size += len(chunk)
        if size >= _ERROR_BODY:
            break
    return b"".join(chunks)
