"""``GET /_sandbox/arrivals``: when each request on a subaccount (or the account) arrived."""

from __future__ import annotations

import pytest

from eightxeight_async.sandbox import Sandbox, _state

from .sandbox_support import account_path, raw_client, sub_path

pytestmark = pytest.mark.integration

UMID = "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"


async def test_arrivals_in_order_with_their_endpoint(sandbox: Sandbox) -> None:
    """Every request of an owned subaccount is listed, 404s included; the filter works."""
    async with raw_client(sandbox) as http:
        await http.get(sub_path(sandbox, f"/{UMID}"))  # 404: it arrived all the same
        await http.post(sub_path(sandbox), json={"destination": "+6591234567", "text": "hi"})
        await http.get(account_path(sandbox, "/balance"))
        await http.get("/api/v1/subaccounts/not_mine/messages/x")  # not recorded: not owned
        every = (await http.get("/_sandbox/arrivals", params={"subaccount": "sandbox_hq"})).json()
        only = await http.get(
            "/_sandbox/arrivals", params={"subaccount": "sandbox_hq", "endpoint": "send_sms"}
        )
        account = await http.get("/_sandbox/arrivals", params={"subaccount": sandbox.account_id})
        unknown = await http.get("/_sandbox/arrivals", params={"subaccount": "not_mine"})
    assert every["subaccount"] == "sandbox_hq"
    assert [a["endpoint"] for a in every["arrivals"]] == ["get_message", "send_sms"]
    first, second = (a["at"] for a in every["arrivals"])
    assert first <= second
    assert [a["endpoint"] for a in only.json()["arrivals"]] == ["send_sms"]
    assert [a["endpoint"] for a in account.json()["arrivals"]] == ["get_balance"]
    assert unknown.json()["arrivals"] == []
    assert "not_mine" not in sandbox.state.arrivals


async def test_arrivals_needs_the_key_and_a_subaccount(sandbox: Sandbox) -> None:
    async with raw_client(sandbox, key="wrong") as http:
        assert (await http.get("/_sandbox/arrivals?subaccount=sandbox_hq")).status_code == 401
    async with raw_client(sandbox) as http:
        missing = await http.get("/_sandbox/arrivals")
        assert missing.status_code == 400
        assert "subaccount" in missing.json()["message"]
        assert (await http.post("/_sandbox/arrivals")).status_code == 405


async def test_arrivals_are_bounded(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the latest MAX_ARRIVALS are kept per subaccount."""
    monkeypatch.setattr(_state, "MAX_ARRIVALS", 3)
    async with raw_client(sandbox) as http:
        for _ in range(5):
            await http.get(sub_path(sandbox, f"/{UMID}"))
    assert len(sandbox.state.arrivals["sandbox_hq"]) == 3
