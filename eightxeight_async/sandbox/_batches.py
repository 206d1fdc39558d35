"""Batch sends (SMS and survey), cancelling scheduled messages, and PII deletion.

A batch is ``messages`` (1 to 10,000 personalised messages) or ``destinations`` (1 to 10,000
numbers sharing ``template.text``); ``messages`` wins when both are sent, as 8x8 documents. The
``template`` fills in what a message leaves out (a message's own field wins). Each message then
meets the single-send rules, with the single send's outcome: what a single send answers with a
REJECTED in a 200 (a missing text, a too long source, a past expiry, the REJECTED test number) is
a REJECTED result counted in ``rejectedCount``; what a single send refuses with a 400 (a number
that does not match 8x8's pattern, a field of the wrong type or form) refuses the whole batch with
the same code, its message naming the message (``messages[3]``), and nothing is sent. In
``destinations`` mode a message's ``clientMessageId`` is ``"{clientBatchId}/{destination}"``
(none without ``clientBatchId``).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._messages import accept, check_subaccount, find_message
from ._records import CANCELLED_MESSAGE, Batch
from ._rules import (
    UUID_RE,
    JSONResponse,
    Rejected,
    check_client_ip,
    check_sms,
    check_survey,
    error,
    path_id,
    read_json,
    refuse,
)
from ._state import SandboxState

__all__ = [
    "BATCH_LIMIT",
    "cancel_batch",
    "cancel_message",
    "delete_pii",
    "send_batch",
    "send_survey_batch",
]

BATCH_LIMIT = 10_000
_SMS_TEMPLATE_KEYS = ("source", "text", "encoding", "scheduled", "expiry", "dlrCallbackUrl")
_SURVEY_TEMPLATE_KEYS = (
    "templateBody",
    "source",
    "encoding",
    "scheduled",
    "expiry",
    "dlrCallbackUrl",
)
_SHORT_URL = "https://8x8.to/sbx1234"  # 8x8's shortened survey links are always 21 characters


def _batch_fields(body: dict[str, Any]) -> tuple[str | None, bool]:
    client_batch_id = body.get("clientBatchId")
    if "clientBatchId" in body:
        if not isinstance(client_batch_id, str):
            raise refuse(1000, "Invalid clientBatchId value.")
        if len(client_batch_id) > 20:
            raise refuse(3014, "Too long ClientBatchId.")
    include = body.get("includeMessagesInResponse", False)
    if not isinstance(include, bool):
        raise refuse(1000, "Invalid includeMessagesInResponse value.")
    return client_batch_id, include


def _items(body: dict[str, Any], key: str) -> list[Any] | None:
    if key not in body:
        return None
    items = body[key]
    if not isinstance(items, list):
        raise refuse(1000, f"Invalid {key} value: must be an array.")
    if not items:
        raise refuse(3012, "Missed messages.")
    if len(items) > BATCH_LIMIT:
        raise refuse(1100, f"Bulk limit reached: at most {BATCH_LIMIT} messages in a batch.")
    return items


def _template(body: dict[str, Any], keys: tuple[str, ...], *, survey: bool) -> dict[str, Any]:
    template = body.get("template", {})
    if not isinstance(template, dict):
        raise refuse(1007, "Invalid SMS Template.")
    if survey and "template" in body and not isinstance(template.get("templateBody"), str):
        raise refuse(1007, "Invalid SMS Template: templateBody is required.")
    return {key: template[key] for key in keys if key in template}


def _where(rejected: Rejected, where: str) -> Rejected:
    """The refusal of one message, its message naming the message (``messages[3]``)."""
    return refuse(rejected.code or 1000, f"{rejected.message} ({where})")


def _check_item(item: object, where: str, survey: bool) -> tuple[dict[str, Any], str | None]:
    """One merged message: its checked fields and text, or the refusal naming it."""
    if not isinstance(item, dict):
        raise refuse(1000, f"Invalid message: not a JSON object ({where})")
    try:
        if survey:
            return check_survey(item, _SHORT_URL)
        return check_sms(item)
    except Rejected as rejected:
        raise _where(rejected, where) from None


async def _send_batch(
    state: SandboxState, request: Request, params: list[str], *, survey: bool
) -> Response:
    subaccount = check_subaccount(params[0], state)
    if survey:
        path_id(params[1], "surveyId")
    raw = await request.body()
    body = read_json(raw or b"{}")
    client_batch_id, include = _batch_fields(body)
    keys = _SURVEY_TEMPLATE_KEYS if survey else _SMS_TEMPLATE_KEYS
    template = _template(body, keys, survey=survey)
    if "clientIp" in body and not survey:
        check_client_ip(body["clientIp"])
    messages = _items(body, "messages")
    items: list[Any]
    where = "messages"
    if messages is not None:
        items = messages
    elif survey:
        raise refuse(3012, "Missed messages.")
    else:
        destinations = _items(body, "destinations")
        if destinations is None:
            raise refuse(3012, "Missed messages: send messages or destinations.")
        where = "destinations"
        items = [
            {"destination": d}
            | ({"clientMessageId": f"{client_batch_id}/{d}"} if client_batch_id is not None else {})
            for d in destinations
        ]
    checked = [
        _check_item(
            item if not isinstance(item, dict) else {**template, **item},
            f"{where}[{index}]",
            survey,
        )
        for index, item in enumerate(items)
    ]
    # Every message was checked before any is stored: a refused batch leaves nothing behind.
    batch = Batch(str(uuid.uuid4()), subaccount, client_batch_id)
    state.batches[batch.batch_id] = batch
    results = [accept(state, subaccount, fields, text, batch=batch) for fields, text in checked]
    rejected = sum(1 for r in results if r["status"]["code"] == "REJECTED")
    answer: dict[str, Any] = {"batchId": batch.batch_id}
    if client_batch_id is not None:
        answer["clientBatchId"] = client_batch_id
    answer["acceptedCount"] = len(results) - rejected
    answer["rejectedCount"] = rejected
    if include:
        answer["messages"] = results
    return JSONResponse(answer)


async def send_batch(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages/batch."""
    return await _send_batch(state, request, params, survey=False)


async def send_survey_batch(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages/batch."""
    return await _send_batch(state, request, params, survey=True)


def _cancel(state: SandboxState, umids: list[str]) -> int:
    current = state.clock.mono()
    count = 0
    for umid in umids:
        message = state.messages[umid]
        if message.cancellable(current):
            message.cancelled = True
            message.error_message = CANCELLED_MESSAGE
            count += 1
    return count


async def cancel_message(state: SandboxState, request: Request, params: list[str]) -> Response:
    """DELETE /api/v1/subaccounts/{subAccountId}/messages/{umid}.

    Only a message still waiting for its ``scheduled`` time can be cancelled; one already sent
    (or never scheduled), REJECTED, or cancelled before is 404 / 1300, as an unknown one.
    """
    subaccount = check_subaccount(params[0], state)
    message = find_message(state, subaccount, params[1])
    if not _cancel(state, [message.umid]):
        raise Rejected(error(404, 1300, "Message not found."))
    return JSONResponse({"cancelledCount": 1})


async def cancel_batch(state: SandboxState, request: Request, params: list[str]) -> Response:
    """DELETE /api/v1/subaccounts/{subAccountId}/messages/batch/{batchId}.

    Cancels every message of the batch still waiting for its ``scheduled`` time; the count may
    be 0. An unknown batch is 404 / 1300.
    """
    subaccount = check_subaccount(params[0], state)
    batch_id = path_id(params[1], "batchId")
    if not UUID_RE.fullmatch(batch_id):
        raise refuse(1000, "Invalid batchId.")
    batch = state.batches.get(batch_id.lower())
    if batch is None or batch.subaccount_id != subaccount:
        raise Rejected(error(404, 1300, "Batch not found."))
    return JSONResponse({"cancelledCount": _cancel(state, batch.umids)})


async def delete_pii(state: SandboxState, request: Request, params: list[str]) -> Response:
    """DELETE /api/v1/subaccounts/{subAccountId}/messages/{umid}/pii: 202, no body.

    8x8 says the removal "will be executed shortly"; the sandbox does it at once: the number is
    gone from details (``msisdn`` ""), exports and receipts; the text was never kept.
    """
    subaccount = check_subaccount(params[0], state)
    message = find_message(state, subaccount, params[1])
    message.pii_deleted = True
    message.destination = ""
    return Response(status_code=202)
