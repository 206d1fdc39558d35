"""Delivery receipts: what the sandbox posts, where, with which ``Authorization``, and retries.

A receipt goes to the message's ``dlrCallbackUrl``; a message without one goes to the webhook the
account configured (``POST /api/v1/accounts/{accountId}/webhooks``) for its subaccount, else to
the ``*`` webhook, as they stand when the receipt is due; a disabled webhook receives nothing.
A webhook with ``httpAuthorization`` sends that value as the ``Authorization`` header; one with
``oauth`` first gets a token from its token endpoint (client credentials, in the Basic header or
the form body as ``credentialsLocation`` says) and sends ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._records import StoredMessage, WebhookConfig
    from ._state import SandboxState

__all__ = ["receipt_due", "schedule_receipt"]


def schedule_receipt(state: SandboxState, message: StoredMessage) -> None:
    """Post the final delivery receipt of ``message`` when it is due (see the module)."""
    due = state.clock.mono()
    if message.final_state != "failed":
        due = message.created_mono + message.start_delay + state.delivered_after
    state.clock.call_at(due, lambda: receipt_due(state, message))


def receipt_due(state: SandboxState, message: StoredMessage) -> None:
    """The receipt of ``message`` is due: post it where it goes, if anywhere."""
    if message.cancelled:  # never sent: no receipt
        return
    if state.receipt_sink is not None:  # in-process (the testing mock): no HTTP at all
        state.receipt_sink(message, state.receipt(message))
        return
    if message.dlr_callback_url:
        state.spawn(_deliver(state, message, message.dlr_callback_url, None))
        return
    webhook = state.webhooks.get(message.subaccount_id) or state.webhooks.get("*")
    if webhook is not None and webhook.enabled:
        state.spawn(_deliver(state, message, webhook.url, webhook))


async def _authorization(
    client: httpx.AsyncClient, webhook: WebhookConfig | None
) -> dict[str, str] | None:
    """The headers a webhook's receipt carries; None when its OAuth token could not be had."""
    if webhook is None:
        return {}
    if webhook.oauth is None:
        if webhook.http_authorization is None:
            return {}
        return {"Authorization": webhook.http_authorization}
    oauth = webhook.oauth
    form = {"grant_type": "client_credentials"}
    if oauth.scope:
        form["scope"] = oauth.scope
    headers: dict[str, str] = {}
    if oauth.credentials_location == "body":
        form |= {"client_id": oauth.client_id, "client_secret": oauth.client_secret}
    else:
        pair = f"{oauth.client_id}:{oauth.client_secret}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
    try:
        answer = await client.post(oauth.url, data=form, headers=headers)
        token = answer.json().get("access_token") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(token, str) or not token:
        return None
    return {"Authorization": f"Bearer {token}"}


async def _deliver(
    state: SandboxState, message: StoredMessage, url: str, webhook: WebhookConfig | None
) -> None:
    content = json.dumps(state.receipt(message)).encode("ascii")
    client = state.webhook_client()
    # 8x8 tries once, then again after 1, 10, 30 and 90 seconds (scaled here).
    for delay in (0.0, *state.dlr_retry_delays):
        await state.clock.sleep(delay)
        async with state.receipt_gate():
            headers = await _authorization(client, webhook)
            if headers is None:  # no token: this attempt fails like a connection failure
                state.dlr_attempts.append((message.umid, url, None))
                continue
            try:
                # ASCII JSON: a lone surrogate a client sent (clientMessageId) stays an escape,
                # where httpx's own UTF-8 encoding would fail the whole receipt task.
                answer = await client.post(
                    url, content=content, headers={**headers, "Content-Type": "application/json"}
                )
            except httpx.HTTPError:
                state.dlr_attempts.append((message.umid, url, None))
                continue
        state.dlr_attempts.append((message.umid, url, answer.status_code))
        if answer.status_code < 400:
            return
