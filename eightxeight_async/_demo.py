"""The ``eightxeight demo`` journey: one OTP through the sandbox, from send to feedback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from ._client import AsyncSmsClient
from ._errors import SendOutcomeUnknownError
from ._models import MessageState, mask_phone

__all__ = ["DemoReport", "DemoStep", "mask_e164", "run_demo"]

_FINAL = {"delivered", "undelivered", "failed", "rejected", "read", "error"}


def mask_e164(number: str | None) -> str | None:
    """Mask a number in its E.164 form, ``+65******67``, whether or not it came with its ``+``.

    8x8 answers a send with the destination's digits alone; the command shows every number the
    same way, as the README does.
    """
    if number is None:
        return None
    if number.isdigit():
        number = "+" + number
    return mask_phone(number)


@dataclass
class DemoStep:
    """One call of the demo: when, which call, what came back, and the ids it produced."""

    at_ms: int
    """Whole milliseconds since the demo started."""
    call: str
    result: str
    ids: dict[str, str] = field(default_factory=dict)
    """Ids the call produced (``umid``, ``client_message_id``), each to be copied whole."""


@dataclass
class DemoReport:
    """What the demo did and saw."""

    steps: list[DemoStep] = field(default_factory=list)
    umid: str | None = None
    """The UMID of the OTP that was followed."""
    final_state: str | None = None
    """Where the OTP ended: ``delivered``, ``undelivered``..., ``rejected`` in the send's answer."""
    unknown_outcome_client_message_id: str | None = None
    """The ``client_message_id`` of the send whose connection was dropped on purpose."""
    sandbox_requests: dict[str, int] = field(default_factory=dict)
    """Requests the sandbox received, per endpoint."""
    details_refused: int = 0
    """Details requests the sandbox refused with 429 (its 1 request/s rule)."""

    @property
    def ids(self) -> frozenset[str]:
        """The ids printed in the steps, which a reader may need to copy whole."""
        return frozenset(i for i in (self.umid, self.unknown_outcome_client_message_id) if i)

    @property
    def summary(self) -> str:
        """A closing sentence about what the sandbox saw."""
        total = sum(self.sandbox_requests.values())
        per_endpoint = ", ".join(f"{name} {count}" for name, count in self.sandbox_requests.items())
        return (
            f"The sandbox received {total} requests ({per_endpoint}); {self.details_refused} "
            "details request(s) had to be refused by its 1 request/s rule."
        )


async def run_demo(
    sandbox: ModuleType, destination: str, delivered_after: float = 2.0
) -> DemoReport:
    """Run the journey and report it.

    Args:
        sandbox: The ``eightxeight_async.sandbox`` module (an optional extra).
        destination: Where the OTP goes.
        delivered_after: Seconds until the sandbox reports delivery.

    Returns:
        The steps, with the ids and counts behind them.

    Raises:
        ValidationError: When ``destination`` is not a valid number (nothing is sent).
    """
    report = DemoReport()
    started = time.monotonic()

    def add(call: str, result: str, **ids: str) -> None:
        at = round((time.monotonic() - started) * 1000)
        report.steps.append(DemoStep(at, call, result, ids))

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
            encoding = getattr(sent.encoding, "value", sent.encoding)
            result = f"{sent.status.code} to {mask_e164(sent.destination)}, {encoding}"
            if sent.rejected:
                result += f"; rejected: {sent.status.description}"
            add("send_sms", result, umid=sent.umid)
            report.umid = sent.umid
            if sent.rejected:
                # A REJECTED send ends here: there is nothing to follow or give feedback on.
                report.final_state = "rejected"
            else:
                await _follow(client, sent.umid, report, add)

            sbx.faults.inject("429", 1)
            again = await client.send_sms(destination=destination, text="Code 482913 again")
            add("send_sms + 429", f"waited Retry-After 1 s, then {again.status.code}")
            sbx.faults.inject("drop", 1)
            try:
                await client.send_sms(destination=destination, text="Code 482913, third try")
            except SendOutcomeUnknownError as exc:
                add(
                    "send_sms + drop",
                    "SendOutcomeUnknownError, not replayed; look up its client_message_id",
                    client_message_id=exc.client_message_id or "",
                )
                report.unknown_outcome_client_message_id = exc.client_message_id
        report.sandbox_requests = dict(sbx.state.requests)
        report.details_refused = sum(sbx.state.rate_limited.values())
    return report


async def _follow(
    client: AsyncSmsClient, umid: str, report: DemoReport, add: Callable[[str, str], None]
) -> None:
    """Poll the message to a final state, then send feedback if it was delivered."""
    seen = None
    polls = 0
    while True:
        details = await client.get_message(umid)  # the limiter keeps this at 1/s
        polls += 1
        state = str(details.status.state)
        if state != seen:
            detail = details.status.detail
            add("get_message", f"{state}{f' / {detail}' if detail else ''} (poll {polls})")
            seen = state
        if state in _FINAL:
            break
    report.final_state = state
    if details.status.state is MessageState.DELIVERED:
        await client.send_feedback(umid, outcome="success")
        add("send_feedback", "success: HTTP 200, conversion recorded")
    else:
        # Feedback reports a conversion, which an undelivered message cannot have made.
        add("send_feedback", f"skipped: the message ended {state!r}, not delivered")
    price = details.price
    add(
        "summary",
        f"{details.sms_count} part(s), "
        f"{price.total if price else 0} {price.currency if price else ''}".strip(),
    )
