"""The ``eightxeight demo`` journey: one OTP through the sandbox, from send to feedback."""

from __future__ import annotations

import time
from types import ModuleType

from ._client import AsyncSmsClient
from ._errors import SendOutcomeUnknownError
from ._models import MessageState, mask_phone

__all__ = ["run_demo"]

_FINAL = {"delivered", "undelivered", "failed", "rejected", "read", "error"}


async def run_demo(
    sandbox: ModuleType, destination: str, delivered_after: float = 2.0
) -> tuple[list[tuple[str, str, str]], str]:
    """Run the journey and return its table rows and a closing line.

    Args:
        sandbox: The ``eightxeight_async.sandbox`` module (an optional extra).
        destination: Where the OTP goes.
        delivered_after: Seconds until the sandbox reports delivery.

    Returns:
        Rows of (elapsed, call, result), and a one-line summary.
    """
    rows: list[tuple[str, str, str]] = []
    started = time.monotonic()

    def add(call: str, result: str) -> None:
        at = f"{(time.monotonic() - started) * 1000:5.0f} ms" if call else ""
        rows.append((at, call, result))

    async with sandbox.Sandbox(
        sent_after=delivered_after / 2, delivered_after=delivered_after
    ) as sbx:
        add("start sandbox", f"{sbx.base_url}, TLS 1.3 only")
        async with AsyncSmsClient(**sbx.client_kwargs()) as client:
            sent = await client.send_sms(
                destination=destination,
                text="Your Acme verification code is 482913",
                source="Acme",
                track="Outcome",
            )
            add(
                "send_sms", f"{sent.status.code} to {mask_phone(sent.destination)}, {sent.encoding}"
            )
            add("", f"umid {sent.umid}")
            seen = None
            polls = 0
            while True:
                details = await client.get_message(sent.umid)  # the limiter keeps this at 1/s
                polls += 1
                state = str(details.status.state)
                if state != seen:
                    detail = details.status.detail
                    add("get_message", f"{state}{f' / {detail}' if detail else ''} (poll {polls})")
                    seen = state
                if state in _FINAL:
                    break
            if details.status.state is MessageState.DELIVERED:
                await client.send_feedback(sent.umid, outcome="success")
                add("send_feedback", "success: HTTP 200, conversion recorded")
            price = details.price
            add(
                "summary",
                f"{details.sms_count} part(s), "
                f"{price.total if price else 0} {price.currency if price else ''}".strip(),
            )

            sbx.faults.inject("429", 1)
            again = await client.send_sms(destination=destination, text="Code 482913 again")
            add("send_sms, 429 injected", f"waited Retry-After 1 s, then {again.status.code}")
            sbx.faults.inject("drop", 1)
            try:
                await client.send_sms(destination=destination, text="Code 482913, third try")
            except SendOutcomeUnknownError as exc:
                add("send_sms, connection dropped", "SendOutcomeUnknownError: not replayed")
                add("", f"look up client_message_id {exc.client_message_id}")
        requests = dict(sbx.state.requests)
        limited = sum(sbx.state.rate_limited.values())
    summary = (
        f"The sandbox received {sum(requests.values())} requests {requests}; "
        f"{limited} details request(s) had to be refused by its 1 request/s rule."
    )
    return rows, summary
