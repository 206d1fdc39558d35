"""A minimal fast fake of 8x8's batch send, for benchmarks/bulk.py: HTTP/1.1 over TLS 1.3.

Usage: python benchmarks/bulk_fake.py CERT_PEM KEY_PEM

Listens on a free 127.0.0.1 port and prints ``{"port": N}`` on one line once it accepts
connections. Every ``POST .../messages/batch`` is answered 200 with a ``BatchSmsResponse`` whose
``messages`` echo the request's, in order, each QUEUED with a fresh umid (a counter written as a
lower-case UUID), so that the client matches every row as it would against 8x8. Anything else is
404. It keeps nothing (no message store, no scheduler): the point is a server much cheaper per
message than the sandbox, so that the client is what gets measured. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import ssl
import sys
from typing import Any

_QUEUED = {"code": "QUEUED", "description": "SMS is accepted and queued for processing"}
_counter = itertools.count(1)


def _umid() -> str:
    digits = f"{next(_counter):032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def batch_answer(body: bytes) -> bytes:
    """The answer to one batch request's body: every message QUEUED, in the request's order."""
    request: dict[str, Any] = json.loads(body)
    template = request.get("template") or {}
    items: list[dict[str, Any]] = request.get("messages") or [
        {"destination": d} for d in request.get("destinations", [])
    ]
    results = []
    for item in items:
        result: dict[str, Any] = {
            "umid": _umid(),
            "destination": str(item.get("destination", "")).removeprefix("+"),
            "encoding": item.get("encoding") or template.get("encoding") or "GSM7",
            "status": _QUEUED,
        }
        if "clientMessageId" in item:
            result["clientMessageId"] = item["clientMessageId"]
        results.append(result)
    answer: dict[str, Any] = {"batchId": _umid()}
    if "clientBatchId" in request:
        answer["clientBatchId"] = request["clientBatchId"]
    answer["acceptedCount"] = len(results)
    answer["rejectedCount"] = 0
    if request.get("includeMessagesInResponse"):
        answer["messages"] = results
    return json.dumps(answer, separators=(",", ":")).encode()


def _response(status: bytes, payload: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            length = 0
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    parts.append(await reader.readexactly(size + 2))
                    if size == 0:
                        break
                body = b"".join(p[:-2] for p in parts)
            else:
                body = await reader.readexactly(length) if length else b""
            if method == b"POST" and target.endswith(b"/messages/batch"):
                writer.write(_response(b"200 OK", batch_answer(body)))
            else:
                writer.write(_response(b"404 Not Found", b'{"code":1300,"message":"Not found."}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def main(cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(
        _serve_connection, "127.0.0.1", 0, ssl=context, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"port": port}), flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
