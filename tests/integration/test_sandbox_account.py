"""The sandbox's account routes over real TLS sockets: balance, prices, webhooks, and receipts
sent to the configured webhook with its ``Authorization``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from eightxeight_async import ValidationError
from eightxeight_async.sandbox import Sandbox, SandboxState, StoredMessage

from .conftest import eventually, serve_http
from .sandbox_support import (
    PHONE,
    UK_PHONE,
    Sink,
    account_path,
    ahead,
    checked,
    raw_client,
    sub_path,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare client for the sandbox."""
    sandbox.state.details_per_second = 1e6
    async with raw_client(sandbox) as http:
        yield http


async def balance(raw: httpx.AsyncClient, sandbox: Sandbox) -> float:
    answer = checked(await raw.get(account_path(sandbox, "/balance")), 200)
    assert answer["currency"] == "EUR"
    value: float = answer["balance"]
    return value


def grown(items: list[Any], size: int) -> Callable[[], bool]:
    """A check that ``items`` has more than ``size`` entries."""
    return lambda: len(items) > size


# --- balance -------------------------------------------------------------------------------------


async def test_balance_goes_down_with_each_part_sent(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Each part sent costs its operator's price (SG SingTel 0.0075, GB EE 0.031); a REJECTED,
    an undelivered, a cancelled or a not yet sent message costs nothing."""
    assert await balance(raw, sandbox) == 100.0
    sends: list[dict[str, Any]] = [
        {"destination": PHONE, "text": "x" * 200},  # 2 parts, SG
        {"destination": UK_PHONE, "text": "hi"},  # 1 part, GB
        {"destination": "+15550100001", "text": "hi"},  # undelivered
        {"destination": "+15550100003", "text": "hi"},  # REJECTED
        {"destination": PHONE, "text": "later", "scheduled": ahead(sandbox, hours=1)},
    ]
    for body in sends:
        checked(await raw.post(sub_path(sandbox), json=body), 200)
    sandbox.advance(1)
    assert math.isclose(await balance(raw, sandbox), 100 - 2 * 0.0075 - 0.031)
    sandbox.advance(3600)
    assert math.isclose(await balance(raw, sandbox), 100 - 3 * 0.0075 - 0.031)


async def test_postpaid_account_has_no_balance(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """A post-paid account answers 403 / 1201 "Account not in prepaid mode"; the admin route
    switches modes and sets the balance."""
    switched = await raw.post("/_sandbox/account", json={"postpaid": True})
    assert switched.json()["postpaid"] is True
    payload = checked(await raw.get(account_path(sandbox, "/balance")), 403, 1201)
    assert payload["message"] == "Account not in prepaid mode"
    await raw.post("/_sandbox/account", json={"postpaid": False, "balance": 12.5})
    assert await balance(raw, sandbox) == 12.5
    for bad in ({"postpaid": "yes"}, {"balance": "many"}, {"credit": 1}, {"export_failure": "x"}):
        answer = await raw.post("/_sandbox/account", json=bad)
        assert (answer.status_code, answer.json()["code"]) == (400, 1000)
    shown = (await raw.get("/_sandbox/account")).json()
    assert shown == {
        "accountId": sandbox.account_id,
        "postpaid": False,
        "balance": 12.5,
        "currency": "EUR",
        "prices_as_arrays": False,
        "export_failure": None,
    }


async def test_start_balance_and_postpaid_are_sandbox_arguments(tmp_path: Any) -> None:
    """Sandbox(start_balance=..., postpaid=..., account_id=...) set the account up."""
    account = "0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a"
    async with Sandbox(start_balance="5.25", account_id=account, cert_dir=tmp_path) as sandbox:
        assert sandbox.account_id == account
        async with raw_client(sandbox) as raw:
            assert await balance(raw, sandbox) == 5.25
    async with Sandbox(postpaid=True) as sandbox, raw_client(sandbox) as raw:
        checked(await raw.get(account_path(sandbox, "/balance")), 403, 1201)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"account_id": "not-a-guid"}, "account_id", id="account"),
        pytest.param({"start_balance": "lots"}, "start_balance", id="balance-text"),
        pytest.param({"start_balance": float("nan")}, "start_balance", id="balance-nan"),
        pytest.param({"postpaid": "yes"}, "postpaid", id="postpaid"),
    ],
)
def test_account_arguments_are_checked(kwargs: dict[str, Any], field: str) -> None:
    """Bad account arguments are a ValidationError naming the argument."""
    with pytest.raises(ValidationError) as info:
        Sandbox(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("account", "status", "code"),
    [
        pytest.param("SAME_NO_DASHES", 200, None, id="dashes-optional"),
        pytest.param("SAME_UPPER", 200, None, id="any-case"),
        pytest.param("0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a", 403, 1200, id="another-account"),
        pytest.param("acme", 400, 1000, id="not-a-guid"),
        pytest.param("0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a0", 400, 1000, id="too-long"),
    ],
)
async def test_account_id_follows_the_guid_rule(
    sandbox: Sandbox, raw: httpx.AsyncClient, account: str, status: int, code: int | None
) -> None:
    """accountId: the file's GUID rule (else 400 / 1000), and the sandbox's account only."""
    account = {
        "SAME_NO_DASHES": sandbox.account_id.replace("-", ""),
        "SAME_UPPER": sandbox.account_id.upper(),
    }.get(account, account)
    for tail in ("/balance", "/prices", "/webhooks"):
        checked(await raw.get(f"/api/v1/accounts/{account}{tail}"), status, code)


# --- prices --------------------------------------------------------------------------------------


async def test_price_list_has_the_files_shape_and_filters(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """The list (checked against the file), and its country, mcc/mnc and direction filters."""
    full = checked(await raw.get(account_path(sandbox, "/prices")), 200)
    (entry,) = full["subAccounts"]
    assert entry["subAccountId"] == sandbox.subaccount_id
    countries = {c["alpha2Code"] for c in entry["outbound"]["countries"]}
    assert {"SG", "US", "GB"} <= countries
    sg = checked(await raw.get(account_path(sandbox, "/prices"), params={"country": "sg"}), 200)
    (country,) = sg["subAccounts"][0]["outbound"]["countries"]
    assert country["operators"][0]["price"] == {"amount": 0.0075, "currency": "EUR"}
    hni = checked(
        await raw.get(account_path(sandbox, "/prices"), params={"mcc": 525, "mnc": 5}), 200
    )
    (operator,) = hni["subAccounts"][0]["outbound"]["countries"][0]["operators"]
    assert operator["operatorName"] == "StarHub"
    inbound = checked(
        await raw.get(account_path(sandbox, "/prices"), params={"direction": "inbound"}), 200
    )
    assert "outbound" not in inbound["subAccounts"][0]
    types = inbound["subAccounts"][0]["inbound"]["countries"][0]["numberTypes"]
    assert {t["type"] for t in types} <= {"longcode", "tollfree"}


async def test_price_list_in_the_schemas_array_shape(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """prices_as_arrays: outbound [{"countries": [...]}], inbound [...]: the schema's shape."""
    await raw.post("/_sandbox/account", json={"prices_as_arrays": True})
    entry = checked(await raw.get(account_path(sandbox, "/prices")), 200)["subAccounts"][0]
    assert isinstance(entry["outbound"], list)
    assert isinstance(entry["outbound"][0]["countries"], list)
    assert isinstance(entry["inbound"], list)


async def test_price_list_subaccount_filter(tmp_path: Any) -> None:
    """subAccountId keeps one subaccount; one the key does not own is 400 / 1001."""
    async with (
        Sandbox(subaccounts=("one_hq", "two_hq"), cert_dir=tmp_path) as sandbox,
        raw_client(sandbox) as raw,
    ):
        both = checked(await raw.get(account_path(sandbox, "/prices")), 200)
        assert [s["subAccountId"] for s in both["subAccounts"]] == ["one_hq", "two_hq"]
        one = checked(
            await raw.get(account_path(sandbox, "/prices"), params={"subAccountId": "two_hq"}),
            200,
        )
        assert [s["subAccountId"] for s in one["subAccounts"]] == ["two_hq"]
        checked(
            await raw.get(account_path(sandbox, "/prices"), params={"subAccountId": "x_hq"}),
            400,
            1001,
        )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"country": "SGP"}, 1009, id="country-3"),
        pytest.param({"mcc": 525}, 1000, id="mcc-alone"),
        pytest.param({"mnc": 1}, 1000, id="mnc-alone"),
        pytest.param({"mcc": "x", "mnc": 1}, 1000, id="mcc-not-int"),
        pytest.param({"direction": "both"}, 1000, id="direction"),
    ],
)
async def test_price_list_refusals(
    sandbox: Sandbox, raw: httpx.AsyncClient, params: dict[str, Any], code: int
) -> None:
    """Bad filters are 400 with 8x8's code."""
    checked(await raw.get(account_path(sandbox, "/prices"), params=params), 400, code)


# --- webhooks ------------------------------------------------------------------------------------


async def test_webhooks_are_created_replaced_masked_and_deleted(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """POST creates or replaces per subAccountId; GET masks secrets; DELETE removes a scope
    ("*" names the account-wide webhook only)."""
    path = account_path(sandbox, "/webhooks")
    sub = sandbox.subaccount_id
    first = [
        {
            "subAccountId": sub,
            "url": "https://example.com/a",
            "httpAuthorization": "Basic c2VjcmV0",
        },
        {
            "subAccountId": "*",
            "url": "https://example.com/all",
            "enabled": False,
            "oauth": {
                "url": "https://auth.example.com/token",
                "clientId": "id-1",
                "clientSecret": "very-secret",
                "credentialsLocation": "body",
                "scope": "dlr",
            },
        },
    ]
    created = await raw.post(path, json=first)
    assert (created.status_code, created.content) == (200, b"")
    checked(created, 200)
    shown = checked(await raw.get(path), 200)
    assert shown[0] == {
        "subAccountId": sub,
        "url": "https://example.com/a",
        "enabled": True,
        "httpAuthorization": "***",
    }
    assert shown[1]["oauth"]["clientSecret"] == "***"
    assert shown[1]["oauth"]["clientId"] == "id-1"
    assert "secret" not in repr(sandbox.state.webhooks)
    checked(await raw.post(path, json=[{"subAccountId": sub, "url": "https://example.com/b"}]), 200)
    assert [w["url"] for w in checked(await raw.get(path), 200)] == [
        "https://example.com/b",
        "https://example.com/all",
    ]
    checked(await raw.request("DELETE", path, json=[{"subAccountId": "*"}]), 200)
    assert [w["subAccountId"] for w in checked(await raw.get(path), 200)] == [sub]
    checked(await raw.request("DELETE", path, json=[{"subAccountId": sub}]), 200)
    assert checked(await raw.get(path), 200) == []


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        pytest.param("POST", {"subAccountId": "*", "url": "https://x.example"}, 1000, id="object"),
        pytest.param("POST", [], 1000, id="empty"),
        pytest.param("POST", [{"subAccountId": "*"}], 1000, id="no-url"),
        pytest.param("POST", [{"subAccountId": "*", "url": "ftp://x"}], 1000, id="ftp"),
        pytest.param("POST", [{"url": "https://x.example"}], 1000, id="no-scope"),
        pytest.param(
            "POST", [{"subAccountId": "other_hq", "url": "https://x.example"}], 1001, id="foreign"
        ),
        pytest.param(
            "POST",
            [{"subAccountId": "*", "url": "https://x.example", "enabled": 1}],
            1000,
            id="enabled",
        ),
        pytest.param(
            "POST",
            [
                {
                    "subAccountId": "*",
                    "url": "https://x.example",
                    "oauth": {
                        "url": "https://a.example",
                        "clientId": "i",
                        "clientSecret": "s",
                        "credentialsLocation": "query",
                    },
                }
            ],
            1000,
            id="oauth-location",
        ),
        pytest.param(
            "POST",
            [
                {
                    "subAccountId": "*",
                    "url": "https://x.example",
                    "oauth": {
                        "url": "https://a.example",
                        "clientId": "i",
                        "credentialsLocation": "header",
                    },
                }
            ],
            1000,
            id="oauth-no-secret",
        ),
        pytest.param("DELETE", [{"subAccountId": 5}], 1000, id="delete-scope"),
        pytest.param("DELETE", {}, 1000, id="delete-object"),
    ],
)
async def test_webhook_refusals_store_nothing(
    sandbox: Sandbox, raw: httpx.AsyncClient, method: str, body: Any, code: int
) -> None:
    """A body the rules forbid is 400 with 8x8's code and changes nothing."""
    path = account_path(sandbox, "/webhooks")
    ok = {"subAccountId": sandbox.subaccount_id, "url": "https://example.com/keep"}
    checked(await raw.post(path, json=[ok]), 200)
    items = [ok, *body] if method == "POST" and isinstance(body, list) and body else body
    checked(await raw.request(method, path, json=items), 400, code)
    assert [w.url for w in sandbox.state.webhooks.values()] == ["https://example.com/keep"]


async def test_receipt_goes_to_the_configured_webhook_with_its_authorization(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Without dlrCallbackUrl, the receipt goes to the subaccount's webhook (over "*") with its
    httpAuthorization header; a dlrCallbackUrl still wins; a disabled webhook gets nothing."""
    mine, everyone, own_url = Sink(), Sink(), Sink()
    async with serve_http(mine) as a, serve_http(everyone) as b, serve_http(own_url) as c:
        hooks: list[dict[str, Any]] = [
            {
                "subAccountId": sandbox.subaccount_id,
                "url": f"{a}/dlr",
                "httpAuthorization": "Basic dTpw",
            },
            {"subAccountId": "*", "url": f"{b}/dlr"},
        ]
        checked(await raw.post(account_path(sandbox, "/webhooks"), json=hooks), 200)
        sent = checked(
            await raw.post(sub_path(sandbox), json={"destination": PHONE, "text": "x"}), 200
        )
        await raw.post(
            sub_path(sandbox), json={"destination": PHONE, "text": "y", "dlrCallbackUrl": f"{c}/x"}
        )
        sandbox.advance(1)
        await eventually(lambda: bool(mine.bodies) and bool(own_url.bodies))
        assert mine.bodies[0]["payload"]["umid"] == sent["umid"]
        assert mine.authorizations == ["Basic dTpw"]
        assert own_url.authorizations == [None]
        assert everyone.bodies == []
        # Disabled: the next receipt has nowhere to go.
        hooks[0]["enabled"] = False
        checked(await raw.post(account_path(sandbox, "/webhooks"), json=hooks[:1]), 200)
        await raw.post(sub_path(sandbox), json={"destination": PHONE, "text": "z"})
        before = len(sandbox.state.dlr_attempts)
        sandbox.advance(1)
    assert len(sandbox.state.dlr_attempts) == before
    assert len(mine.bodies) == 1


async def test_receipt_to_an_oauth_webhook_carries_its_token(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """An oauth webhook: the sandbox gets a client-credentials token (Basic header or form body)
    from the token endpoint and sends ``Authorization: Bearer <token>``."""
    sink = Sink()
    async with serve_http(sink) as url:
        for location in ("header", "body"):
            hook = {
                "subAccountId": "*",
                "url": f"{url}/dlr",
                "oauth": {
                    "url": f"{url}/token",
                    "clientId": "cid",
                    "clientSecret": "csecret",
                    "credentialsLocation": location,
                    "scope": "dlr",
                },
            }
            checked(await raw.post(account_path(sandbox, "/webhooks"), json=[hook]), 200)
            checked(
                await raw.post(sub_path(sandbox), json={"destination": PHONE, "text": "x"}), 200
            )
            sandbox.advance(1)
            await eventually(grown(sink.bodies, len(sink.bodies)))
    assert sink.authorizations == ["Bearer tok-123", "Bearer tok-123"]
    header, body = sink.tokens_asked
    assert header["authorization"] == "Basic Y2lkOmNzZWNyZXQ="
    assert (header["grant_type"], header["scope"]) == ("client_credentials", "dlr")
    assert (body["client_id"], body["client_secret"], body["authorization"]) == (
        "cid",
        "csecret",
        "",
    )


def test_balance_arithmetic_is_decimal() -> None:
    """The balance is kept in Decimal: 10,000 parts at 0.0075 leave exactly 25."""
    state = SandboxState(api_key="k", subaccounts=frozenset({"s_hq"}))
    for index in range(100):
        state.messages[str(index)] = StoredMessage(
            umid=str(index),
            subaccount_id="s_hq",
            destination="6591234567",
            source="8x8",
            encoding="GSM7",
            sms_count=100,
            created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
            created_mono=-1e9,
            final_state="delivered",
        )
    assert state.balance() == Decimal("25.0000")
