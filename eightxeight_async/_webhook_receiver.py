"""The ASGI app that receives 8x8's webhooks: checks, a quick 200, the handler in the background.

Order of the checks, each answered before the body is parsed: method (405), source address (403),
``Authorization`` (401), size (413). Then the body is parsed (400 for garbage or a legacy body),
8x8 gets its 200 at once, and the handler runs in a task of its own after the answer went out.
``WebhookReceiver.respond`` is the same path for servers that are not ASGI (aiohttp.web): one
``_decide`` makes every answer, whichever entry the post came through.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import inspect
import ipaddress
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
)
from typing import Any, Protocol, runtime_checkable

import attrs

from ._errors import ValidationError
from ._validators_ops import MASKED_SECRET
from ._webhook_models import (
    DeliveryReceipt,
    InboundMessage,
    SurveyResponse,
    WebhookEvent,
    WebhookFormatError,
    parse_event,
)

__all__ = ["DedupeStore", "InMemoryDedupe", "WebhookAnswer", "WebhookReceiver", "dedupe_key"]

logger = logging.getLogger("eightxeight_async.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@runtime_checkable
class DedupeStore(Protocol):
    """Where the receiver remembers the events it has already handed to the handler.

    8x8 posts an event again when the first answer was late or lost, so a store shared by every
    receiver process (Redis, a database table with a unique key) drops duplicates fleet-wide.
    """

    async def first_seen(self, key: str) -> bool:
        """Record ``key``; return True when it was not recorded before (atomically)."""
        ...


class InMemoryDedupe:
    """A bounded, least-recently-used set of event keys, for one process.

    8x8's retries of one event span about two minutes (1, 10, 30, 90 s), so the bound only has
    to cover the events of that window; the oldest keys are forgotten first.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        """Create an empty store.

        Args:
            max_entries: How many keys to keep at most (at least 1).

        Raises:
            ValidationError: (a ``ValueError``) ``max_entries`` is not a whole number of 1 or more.
        """
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValidationError("max_entries", "a whole number of 1 or more")
        self.max_entries = max_entries
        self._keys: collections.OrderedDict[str, None] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def first_seen(self, key: str) -> bool:
        """Record ``key``; return True when it was not among the kept keys."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)
        return True


def dedupe_key(event: WebhookEvent) -> str | None:
    """The identity of an event across 8x8's retries, or None for one that has none.

    A receipt is (umid, state): a message's ``sent`` and ``delivered`` receipts are two events.
    An inbound SMS and a survey response are their umid. An unknown event is never deduplicated.
    """
    if isinstance(event, DeliveryReceipt):
        return f"receipt:{event.umid}:{event.state}"
    if isinstance(event, InboundMessage):
        return f"inbound:{event.umid}"
    if isinstance(event, SurveyResponse):
        return f"survey:{event.umid}"
    return None


_DEFAULT_DEDUPE: Any = object()


@attrs.frozen
class WebhookAnswer:
    """What the receiver answers one post (see :meth:`WebhookReceiver.respond`)."""

    status: int
    """The HTTP status: 200, or 400, 401, 403, 405, 413 (the table in ``webhooks``)."""
    text: str
    """A short plain-text body: ``OK``, or the sentence that says why not."""
    headers: tuple[tuple[str, str], ...]
    """``Content-Type``, and ``Allow: POST`` on a 405 (no ``Content-Length``: the server's)."""

    @property
    def body(self) -> bytes:
        """``text`` as UTF-8, the bytes to send."""
        return self.text.encode("utf-8")


class _Disconnected(Exception):
    """The client went away before its body was read whole."""


Handler = Callable[[WebhookEvent], object]
"""A callable taking an event: async (awaited), or sync (called; an awaitable result awaited)."""

_AUTHORIZATION_RULE = (
    "printable ASCII text, not empty or blank, without leading or trailing whitespace"
    " (authorization=None turns the check off)"
)
_BYTES = (bytes, bytearray, memoryview)


class WebhookReceiver:
    """An ASGI app that receives 8x8's webhooks and hands each event to ``handler``.

    Mount it in Starlette or FastAPI (``app.mount("/webhooks/8x8", receiver)``) or serve it
    bare (``uvicorn.run(receiver)``). 8x8 does not sign SMS webhooks: authenticity rests on the
    static ``Authorization`` value you configured with ``set_webhook(http_authorization=...)``,
    checked here in constant time, and on the source-address allow-list.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        authorization: str | None,
        allowed_ips: Iterable[str] | None = None,
        max_body_bytes: int = 64 * 1024,
        dedupe: DedupeStore | None = _DEFAULT_DEDUPE,
        trust_forwarded: bool = False,
    ) -> None:
        """Create the app.

        Args:
            handler: A callable run with each new event, after 8x8 got its 200: an async
                function (awaited in a task of its own), or a sync one (called in that task, on
                the event loop, so it must be quick; an awaitable it returns is awaited). Its
                exceptions are logged (``eightxeight_async.webhooks``), never raised, and the
                event is not posted again: 8x8 already has its 200. A handler that can fail
                should store the event first (a queue, a table) and work from there.
            authorization: The exact ``Authorization`` header value 8x8 sends (the
                ``http_authorization`` given to ``set_webhook``): printable ASCII, not empty or
                blank, no leading or trailing whitespace (an empty value would let a post with
                an empty header in, so ``""`` from an unset variable is refused). ``None``, and
                only ``None``, checks nothing (only behind something else that authenticates
                8x8, e.g. an OAuth gateway).
            allowed_ips: Addresses and CIDR networks allowed to post (e.g.
                ``WEBHOOK_SOURCE_IPS["EU"]``); ``None`` allows any.
            max_body_bytes: The largest body read; a larger one gets 413 (8x8's are < 2 KiB).
            dedupe: Where event keys are remembered to drop 8x8's retries; ``None`` hands every
                post to the handler. An ``InMemoryDedupe()`` by default.
            trust_forwarded: Take the client address from the last ``X-Forwarded-For`` entry
                (the one your own reverse proxy added) instead of the connection's. Only behind
                a proxy that sets it: anyone can send the header.

        Raises:
            ValidationError: (a ``ValueError``) ``handler`` is not callable, ``authorization``
                is empty, blank or not printable ASCII, an allowed address is not an IP address
                or network, ``max_body_bytes`` is below 1, or an option has the wrong type.
        """
        if not callable(handler):
            raise ValidationError("handler", "a callable taking an event, async or sync")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise ValidationError("max_body_bytes", "a whole number of bytes, at least 1")
        if max_body_bytes < 1:
            raise ValidationError("max_body_bytes", "a whole number of bytes, at least 1")
        if (
            dedupe is not None
            and dedupe is not _DEFAULT_DEDUPE
            and not isinstance(dedupe, DedupeStore)
        ):
            raise ValidationError("dedupe", "None or a store with `async first_seen(key)`")
        if not isinstance(trust_forwarded, bool):
            raise ValidationError("trust_forwarded", "True or False")
        self._handler = handler
        self._authorization = _checked_authorization(authorization)
        self._networks = None if allowed_ips is None else _checked_networks(allowed_ips)
        self.max_body_bytes = max_body_bytes
        self.dedupe: DedupeStore | None = InMemoryDedupe() if dedupe is _DEFAULT_DEDUPE else dedupe
        self.trust_forwarded = trust_forwarded
        self._tasks: set[asyncio.Task[None]] = set()
        self._answers: collections.Counter[int] = collections.Counter()

    @property
    def answers(self) -> collections.Counter[int]:
        """How many posts got each HTTP status so far, e.g. ``receiver.answers[401]``.

        A copy, read-only for the receiver: a status never answered reads 0. A 401 count that
        grows while no event arrives means 8x8 sends another ``Authorization`` value than the
        one given here (compare it with the webhook's ``http_authorization``); 403 means a
        source address outside ``allowed_ips``. Duplicates dropped from 8x8's retries count as
        200, and a post whose client left before its body was read counts nowhere.
        """
        return collections.Counter(self._answers)

    def __repr__(self) -> str:
        auth = "None" if self._authorization is None else "'***'"
        return f"WebhookReceiver(authorization={auth}, max_body_bytes={self.max_body_bytes})"

    async def drain(self) -> None:
        """Wait until every handler task started so far has finished (e.g. at shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (``http``; ``lifespan`` when served bare)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # a websocket is refused by returning without accepting it
        client = scope.get("client")
        try:
            answer, event = await self._decide(
                method=str(scope.get("method")),
                headers=list(scope.get("headers") or []),
                client_host=str(client[0]) if client else None,
                read_body=lambda: self._read_asgi_body(receive),
            )
        except _Disconnected:
            return  # 8x8 gave up on this attempt; it will post again
        content = answer.body
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        headers.append((b"content-length", str(len(content)).encode("ascii")))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        if event is not None:
            self._dispatch(event)

    async def respond(
        self,
        *,
        method: str,
        headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
        body: bytes | AsyncIterable[bytes],
        client_host: str | None,
    ) -> WebhookAnswer:
        """Check and handle one post for a server that is not ASGI (aiohttp.web, ...).

        The same checks, in the same order, and the same answers as the ASGI app; send the
        returned answer as it is. A new event's handler is started in a task of its own before
        this returns, and never delays the answer. With aiohttp.web::

            async def webhook(request: web.Request) -> web.Response:
                answer = await receiver.respond(
                    method=request.method,
                    headers=request.headers,
                    body=request.content.iter_chunked(16_384),
                    client_host=request.remote,
                )
                return web.Response(
                    status=answer.status, body=answer.body, headers=answer.headers
                )

        Args:
            method: The request's method (``"POST"``; anything else is 405).
            headers: Its headers, every one of them: a multi-valued mapping (aiohttp's
                ``request.headers``) or ``(name, value)`` pairs; names in any case.
            body: The body, whole, or as chunks read only once the post passed the address and
                ``Authorization`` checks, and only up to ``max_body_bytes``. An exception the
                chunks raise (the client went away) is not caught.
            client_host: The connection's address (aiohttp's ``request.remote``), which
                ``allowed_ips`` checks; ``None`` when unknown (then refused by an allow-list).

        Returns:
            The status, plain-text body and headers to answer with.

        Raises:
            ValidationError: An argument of the wrong type (e.g. ``body=None``), before
                anything is read or answered; or a chunk of ``body`` that is not bytes.
        """
        if not isinstance(method, str):
            raise ValidationError("method", "the request method as a str, e.g. 'POST'")
        if client_host is not None and not isinstance(client_host, str):
            raise ValidationError("client_host", "the client's address as a str, or None")
        if not isinstance(body, _BYTES) and not isinstance(body, AsyncIterable):
            raise ValidationError("body", "bytes, or an async iterable of bytes chunks")
        raw_headers = _raw_headers(headers)

        async def read_body() -> bytes | None:
            if isinstance(body, _BYTES):
                whole = bytes(body)
                return None if len(whole) > self.max_body_bytes else whole
            return await self._read_chunks(body)

        answer, event = await self._decide(
            method=method,
            headers=raw_headers,
            client_host=client_host,
            read_body=read_body,
        )
        if event is not None:
            self._dispatch(event)
        return answer

    async def _decide(
        self,
        *,
        method: str,
        headers: list[tuple[bytes, bytes]],
        client_host: str | None,
        read_body: Callable[[], Awaitable[bytes | None]],
    ) -> tuple[WebhookAnswer, WebhookEvent | None]:
        """The answer to one post, and the event to hand on (None: refused or a duplicate).

        Every entry (ASGI, :meth:`respond`) goes through here, so that both answer alike, and
        every answer is counted in :attr:`answers`.
        """
        answer, event = await self._checked(
            method=method, headers=headers, client_host=client_host, read_body=read_body
        )
        self._answers[answer.status] += 1
        return answer, event

    async def _checked(
        self,
        *,
        method: str,
        headers: list[tuple[bytes, bytes]],
        client_host: str | None,
        read_body: Callable[[], Awaitable[bytes | None]],
    ) -> tuple[WebhookAnswer, WebhookEvent | None]:
        if method != "POST":
            return _answer(405, "Only POST is accepted.", allow=True), None
        if not self._address_allowed(client_host, headers):
            return _answer(403, "The source address is not allowed."), None
        if not self._authorized(headers):
            return _answer(401, "Missing or wrong Authorization header."), None
        body = None if self._declared_too_large(headers) else await read_body()
        if body is None:
            return _answer(413, f"The body is larger than {self.max_body_bytes} bytes."), None
        try:
            event = parse_event(body)
        except WebhookFormatError as exc:
            # 8x8 retries a 4xx too, but the same bytes come back each time and fail the same
            # way; 400 tells the truth (and shows in 8x8's delivery logs), where a 200 would
            # hide a legacy format or a broken proxy from whoever reads them.
            return _answer(400, str(exc)), None
        key = dedupe_key(event)
        fresh = True
        if key is not None and self.dedupe is not None:
            try:
                fresh = await self.dedupe.first_seen(key)
            except Exception:
                # Fail open: a duplicate the handler must tolerate anyway (it is keyed on umid
                # and state) is better than an event lost after 8x8's last retry.
                logger.exception("The webhook dedupe store failed; handing the event on.")
        return _OK, (event if fresh else None)

    def _dispatch(self, event: WebhookEvent) -> None:
        task = asyncio.get_running_loop().create_task(self._run(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, event: WebhookEvent) -> None:
        try:
            result = self._handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the app must outlive any handler bug
            logger.exception("The webhook handler failed on a %s.", type(event).__name__)

    def _address_allowed(self, client_host: str | None, headers: list[tuple[bytes, bytes]]) -> bool:
        if self._networks is None:
            return True
        host = client_host
        if self.trust_forwarded:
            forwarded = [v for k, v in headers if k.lower() == b"x-forwarded-for"]
            if forwarded:
                host = forwarded[-1].decode("latin-1").split(",")[-1].strip()
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if self._authorization is None:
            return True
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if len(values) != 1:
            return False
        return hmac.compare_digest(values[0], self._authorization)

    def _declared_too_large(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether a ``Content-Length`` announces more than the limit (then nothing is read)."""
        for name, value in headers:
            if name.lower() == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return True
                except ValueError:
                    pass
        return False

    async def _read_asgi_body(self, receive: Receive) -> bytes | None:
        """The body, or None once it passes the limit (the rest is never read)."""

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        return await self._read_chunks(chunks())

    async def _read_chunks(self, chunks: AsyncIterable[bytes]) -> bytes | None:
        """Join ``chunks``; None as soon as they pass the limit (the rest is never read)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            if not isinstance(chunk, _BYTES):
                raise ValidationError("body", "an async iterable of bytes chunks (not text)")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            parts.append(bytes(chunk))
        return b"".join(parts)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _checked_authorization(authorization: str | None) -> bytes | None:
    """The header value to expect, as bytes; None checks nothing.

    An empty value would match an empty ``Authorization:`` header, a blank one whatever the server
    strips to nothing, and one with leading or trailing whitespace nothing at all (servers strip
    it): each is refused, so that ``os.environ.get("X", "")`` cannot silently let anyone in.
    """
    if authorization is None:
        return None
    if (
        not isinstance(authorization, str)
        or not authorization.strip()
        or authorization != authorization.strip()
        or not authorization.isascii()
        or not authorization.isprintable()
    ):
        raise ValidationError("authorization", _AUTHORIZATION_RULE)
    if authorization == MASKED_SECRET:  # copied from get_webhooks: 8x8 sends the real value
        raise ValidationError(
            "authorization", "the secret itself, not the masked '***' 8x8 returns on GET"
        )
    return authorization.encode("ascii")


def _checked_networks(allowed_ips: Iterable[str]) -> tuple[IPNetwork, ...]:
    rule = "a list of IP addresses or CIDR networks (not one string)"
    # A str is iterable too: each of its characters was taken for an address ("1" is 0.0.0.1).
    if isinstance(allowed_ips, (str, bytes)):
        raise ValidationError("allowed_ips", rule)
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in allowed_ips)
    except (TypeError, ValueError, AttributeError):
        raise ValidationError("allowed_ips", rule) from None


def _raw_headers(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
) -> list[tuple[bytes, bytes]]:
    """``respond``'s headers as lower-cased byte pairs; ValidationError for another shape."""
    rule = "a mapping or (name, value) pairs of str or bytes"
    if isinstance(headers, Mapping):
        pairs: Iterable[Any] = headers.items()
    elif isinstance(headers, Iterable) and not isinstance(headers, (str, bytes)):
        pairs = headers
    else:
        raise ValidationError("headers", rule)
    result: list[tuple[bytes, bytes]] = []
    try:
        for name, value in pairs:
            if not isinstance(name, (str, bytes)) or not isinstance(value, (str, bytes)):
                raise ValidationError("headers", rule)
            result.append((_raw(name).lower(), _raw(value)))
    except (TypeError, ValueError):
        raise ValidationError("headers", rule) from None
    return result


def _raw(value: str | bytes) -> bytes:
    """A header name or value as the bytes on the wire.

    aiohttp (like most servers) decodes header bytes as UTF-8 with ``surrogateescape``, which this
    undoes exactly; any other text still maps ASCII to the same bytes and everything else to
    non-ASCII bytes, so that no decoding can make a value match an ASCII ``Authorization``.
    """
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _answer(status: int, text: str, *, allow: bool = False) -> WebhookAnswer:
    headers = [("content-type", "text/plain; charset=utf-8")]
    if allow:
        headers.append(("allow", "POST"))
    return WebhookAnswer(status=status, text=text, headers=tuple(headers))


_OK = _answer(200, "OK")
