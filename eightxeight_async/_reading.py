"""Reading an answer under a cap: at most so many bytes read, and at most so many inflated.

httpx reads a whole answer into memory and its decoder inflates each chunk in one go, so a 50 MB
answer or a 1 MB gzip bomb costs its full size (or a thousand times it) in memory. The SDK
streams the answer instead, counts the bytes as they come, and inflates gzip and deflate itself,
a bounded piece at a time (``zlib``'s ``max_length``), stopping as soon as the cap is passed.
"""

from __future__ import annotations

import zlib

import httpx

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "BodyTooLarge",
    "Undecodable",
    "read_body",
    "set_body",
]

#: The most an answer may take, read or inflated. 8x8's largest legitimate answer, a batch
#: response listing 10,000 messages, is a few MB; anything beyond this is not 8x8 speaking.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

#: The most of an error answer that is kept (8x8's error bodies are a few hundred bytes).
MAX_ERROR_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The answer holds more than the cap, read or inflated."""


class Undecodable(Exception):
    """The answer's Content-Encoding is unknown, or its compressed bytes are corrupt."""


class _Inflater:
    """zlib inflation that never produces more than it is allowed to."""

    __slots__ = ("_decompressor", "_raw_fallback", "_started")

    def __init__(self, encoding: str) -> None:
        # gzip has a header zlib recognises with 16 + MAX_WBITS; "deflate" is meant to be zlib
        # (RFC 9110) but some servers send raw deflate: like httpx, fall back on the first error.
        gzip = encoding in ("gzip", "x-gzip")
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._raw_fallback = not gzip
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate ``data`` into at most ``room + 1`` bytes (more than ``room`` means too large)."""
        try:
            out = self._decompressor.decompress(data, room + 1)
        except zlib.error:
            if not self._raw_fallback or self._started:
                raise Undecodable("corrupt compressed data") from None
            self._raw_fallback = False
            self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data, room)
        self._started = True
        return out

    def finish(self) -> None:
        """Check that the compressed stream ended (all its output was returned by ``feed``)."""
        if not self._decompressor.eof:
            raise Undecodable("truncated compressed data")


def _inflater(headers: httpx.Headers) -> _Inflater | None:
    encoding = headers.get("content-encoding")
    if encoding is None:
        return None
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater(encoding)
    raise Undecodable("unsupported Content-Encoding")


async def read_body(response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
    """Read a streamed answer, decoding gzip/deflate, keeping at most ``limit`` bytes.

    Raises:
        BodyTooLarge: More than ``limit`` bytes, read or inflated, unless ``truncate``, which
            stops reading there and keeps the first ``limit`` bytes.
        Undecodable: An unknown encoding, or corrupt or truncated compressed bytes.
    """
    if response.is_stream_consumed:
        # A transport (a test double, most likely) handed over an answer httpx already read.
        if len(response.content) > limit and not truncate:
            raise BodyTooLarge
        return response.content[:limit]
    inflater = _inflater(response.headers)
    chunks: list[bytes] = []
    size = 0
    raw_size = 0
    async for raw in response.aiter_raw():
        # The bytes read count against the cap as well as the bytes inflated: after a gzip
        # stream's end, zlib keeps whatever follows.
        raw_size += len(raw)
        chunk = raw if inflater is None else inflater.feed(raw, limit - size)
        if size + len(chunk) > limit or raw_size > limit:
            if not truncate:
                raise BodyTooLarge
            chunks.append(chunk[: limit - size])
            return b"".join(chunks)
        size += len(chunk)
        chunks.append(chunk)
    if inflater is not None:
        inflater.finish()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def set_body(response: httpx.Response, body: bytes) -> None:
    """Make ``body`` the response's content, as if httpx had read it."""
    # The answer was streamed and decoded here, under our caps; httpx keeps a read body in
    # `_content`, which `.content`, `.text` and `.json()` serve from.
    # tests/test_transport_hardening.py checks that this still holds for the installed httpx.
    response._content = body
