"""The account routes: price list, balance and webhook configuration.

``{accountId}`` must match the file's GUID rule (else 400 / 1000) and name the sandbox's account,
``Sandbox.account_id`` (dashes optional, any case); another account is 403 / 1200. The balance is
the start balance less every part sent (at the sender's per-part price); a post-paid account
answers 403 / 1201 "Account not in prepaid mode", as 8x8 does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from ._pricing import CURRENCY, price_list
from ._records import WebhookConfig, WebhookOAuth
from ._rules import (
    SUBACCOUNT_RE,
    JSONResponse,
    Rejected,
    error,
    read_any_json,
    refuse,
    web_url,
)
from ._state import SandboxState

__all__ = [
    "ACCOUNT_RE",
    "delete_webhooks",
    "get_balance",
    "get_prices",
    "list_webhooks",
    "same_account",
    "set_webhooks",
]

ACCOUNT_RE = re.compile(r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}")


def same_account(one: str, other: str) -> bool:
    """Whether two GUIDs name the same account (dashes optional, any case)."""
    return one.replace("-", "").lower() == other.replace("-", "").lower()


def _check_account(raw: str, state: SandboxState) -> None:
    account = unquote(raw)
    if not ACCOUNT_RE.fullmatch(account):
        raise refuse(1000, "Invalid accountId.")
    if not same_account(account, state.account_id):
        raise Rejected(error(403, 1200, "Provided accountId doesn't belong to your account"))


def _query_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,4}", value):
        raise refuse(1000, f"Invalid {name} value.")
    return int(value)


async def get_prices(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/accounts/{accountId}/prices?country=&mcc=&mnc=&direction=&subAccountId=."""
    _check_account(params[0], state)
    query = request.query_params
    country = query.get("country")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise refuse(1009, "Invalid Country Code.")
    mcc, mnc = _query_int(request, "mcc"), _query_int(request, "mnc")
    if (mcc is None) != (mnc is None):
        raise refuse(1000, "MCC should always come in pair with MNC.")
    direction = query.get("direction")
    if direction is not None and direction not in ("outbound", "inbound"):
        raise refuse(1000, "Invalid direction value: outbound or inbound.")
    subaccounts = sorted(state.subaccounts)
    only = query.get("subAccountId")
    if only is not None:
        if only not in state.subaccounts:
            raise refuse(1001, "Provided subAccountId doesn't belongs to your account")
        subaccounts = [only]
    body = price_list(
        subaccounts,
        country=country.upper() if country is not None else None,
        hni=(mcc, mnc) if mcc is not None and mnc is not None else None,
        direction=direction,
        as_arrays=state.prices_as_arrays,
    )
    return JSONResponse(body)


async def get_balance(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/accounts/{accountId}/balance: prepaid accounts only."""
    _check_account(params[0], state)
    if state.postpaid:
        raise Rejected(error(403, 1201, "Account not in prepaid mode"))
    return JSONResponse({"balance": float(state.balance()), "currency": CURRENCY})


async def list_webhooks(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/accounts/{accountId}/webhooks: secrets shown as ``***``."""
    _check_account(params[0], state)
    return JSONResponse([webhook.masked() for webhook in state.webhooks.values()])


def _array(raw: bytes) -> list[dict[str, Any]]:
    items = read_any_json(raw)
    if not isinstance(items, list) or not items:
        raise refuse(1000, "Invalid request body: a non-empty JSON array is required.")
    if not all(isinstance(item, dict) for item in items):
        raise refuse(1000, "Invalid request body: every item must be a JSON object.")
    return items


def _scope(state: SandboxState, value: object) -> str:
    if value == "*":
        return "*"
    if not isinstance(value, str) or not SUBACCOUNT_RE.fullmatch(value):
        raise refuse(1000, "Invalid subAccountId.")
    if value not in state.subaccounts:
        raise refuse(1001, "Provided subAccountId doesn't belongs to your account")
    return value


def _url(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise refuse(1000, f"Invalid {name} value.")
    if web_url(value) is None:
        raise refuse(1000, f"Invalid {name} value: an http or https URL is required.")
    return value


def _text(item: dict[str, Any], key: str) -> str | None:
    if key not in item:
        return None
    value = item[key]
    if not isinstance(value, str) or not value:
        raise refuse(1000, f"Invalid {key} value.")
    return value


def _required(item: dict[str, Any], key: str) -> str:
    value = _text(item, key)
    if value is None:
        raise refuse(1000, f"Invalid {key} value: it is required.")
    return value


def _oauth(value: object) -> WebhookOAuth:
    if not isinstance(value, dict):
        raise refuse(1000, "Invalid oauth value.")
    location = value.get("credentialsLocation")
    if location not in ("header", "body"):
        raise refuse(1000, "Invalid credentialsLocation value: header or body.")
    return WebhookOAuth(
        url=_url(value.get("url"), "oauth.url"),
        client_id=_required(value, "clientId"),
        client_secret=_required(value, "clientSecret"),
        credentials_location=location,
        scope=_text(value, "scope"),
    )


def _webhook(state: SandboxState, item: dict[str, Any]) -> WebhookConfig:
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise refuse(1000, "Invalid enabled value.")
    return WebhookConfig(
        subaccount_id=_scope(state, item.get("subAccountId")),
        url=_url(item.get("url"), "url"),
        enabled=enabled,
        http_authorization=_text(item, "httpAuthorization"),
        oauth=_oauth(item["oauth"]) if "oauth" in item else None,
    )


async def set_webhooks(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/accounts/{accountId}/webhooks: create or replace, per ``subAccountId``.

    Every item is checked before any is stored; 200 with no body.
    """
    _check_account(params[0], state)
    webhooks = [_webhook(state, item) for item in _array(await request.body())]
    for webhook in webhooks:
        state.webhooks[webhook.subaccount_id] = webhook
    return Response(status_code=200)


async def delete_webhooks(state: SandboxState, request: Request, params: list[str]) -> Response:
    """DELETE /api/v1/accounts/{accountId}/webhooks, body ``[{"subAccountId": ...}]``.

    ``*`` names the account-wide webhook, not every webhook; a scope with no webhook is
    ignored. 200 with no body.
    """
    _check_account(params[0], state)
    scopes = [_scope(state, item.get("subAccountId")) for item in _array(await request.body())]
    for scope in scopes:
        state.webhooks.pop(scope, None)
    return Response(status_code=200)
