"""The sandbox's own behaviour held against 8x8's reference pages: lookups, receipts, numbers,
its fault-control endpoint, and how it starts, listens and stops."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient
from eightxeight_async.sandbox import Faults, Sandbox, SandboxState, StoredMessage
from eightxeight_async.sandbox._numbers import to_international

from .conftest import eventually, serve_http

pytestmark = pytest.mark.integration

PHONE = "+6591234567"


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare httpx client for the sandbox, with its key, and no details limit in the way."""
    sandbox.state.details_per_second = 1000.0
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    async with httpx.AsyncClient(
        verify=context,
        base_url=f"{sandbox.base_url}/api/v1/subaccounts/{sandbox.subaccount_id}",
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    ) as http:
        yield http


def receipt_sink(received: list[dict[str, Any]]) -> Any:
    """An ASGI app that keeps every JSON body posted to it and answers 204."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append(json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


# --- REJECTED sends ------------------------------------------------------------------------------


async def test_rejected_send_can_be_looked_up_as_failed(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """A REJECTED send has details: state failed, why, and nothing charged (README's promise)."""
    sandbox.state.details_per_second = 1000.0
    sent = await client.send_sms(destination="+15550100003", text="hello")
    assert sent.rejected
    details = await client.get_message(sent.umid)
    assert details.status.state is e.MessageState.FAILED
    assert details.status.detail is None
    assert details.status.error_message == sent.status.description
    assert details.price is not None
    assert details.price.total == 0


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param({"destination": "+15550100003", "text": "你好"}, "UCS2", id="test-number"),
        pytest.param({"destination": PHONE, "text": "你好", "source": "S" * 17}, "UCS2", id="src"),
        pytest.param(
            {"destination": "+15550100003", "text": "hello", "encoding": "UCS2"},
            "UCS2",
            id="forced",
        ),
        pytest.param({"destination": "+15550100003", "text": "hello"}, "GSM7", id="gsm"),
    ],
)
async def test_rejected_send_reports_the_detected_encoding(
    raw: httpx.AsyncClient, body: dict[str, Any], encoding: str
) -> None:
    """Under AUTO a REJECTED send reports the encoding its text needs, not always GSM7."""
    answer = (await raw.post("/messages", json=body)).json()
    assert answer["status"]["code"] == "REJECTED"
    assert answer["encoding"] == encoding
    details = (await raw.get(f"/messages/{answer['umid']}")).json()
    assert (details["status"]["state"], details["encoding"]) == ("failed", encoding)


# --- national numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "country", "international"),
    [
        pytest.param("91234567", "SG", "6591234567", id="sg-national"),
        pytest.param("91234567", "sg", "6591234567", id="country-any-case"),
        pytest.param("6591234567", "SG", "6591234567", id="sg-already-international"),
        pytest.param("+6591234567", "GB", "6591234567", id="plus-wins-over-country"),
        pytest.param("2025550123", "US", "12025550123", id="us-national"),
        pytest.param("12025550123", "US", "12025550123", id="us-trunk-1"),
        pytest.param("7911123456", "GB", "447911123456", id="gb-national"),
        pytest.param("9171234567", "PH", "639171234567", id="ph-national"),
        pytest.param("812345678", "ID", "62812345678", id="id-national"),
        pytest.param("91234567", "ZZ", "91234567", id="unknown-country-as-written"),
        pytest.param("91234567", None, "91234567", id="no-country-as-written"),
    ],
)
def test_to_international_converts_national_numbers(
    destination: str, country: str | None, international: str
) -> None:
    """A national number with its country becomes international, as 8x8 converts it."""
    assert to_international(destination, country) == international


async def test_national_number_is_sent_in_international_form(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Send answer, details and receipt all name the converted number (SG + 91234567)."""
    received: list[dict[str, Any]] = []
    async with serve_http(receipt_sink(received)) as url:
        answer = await raw.post(
            "/messages",
            json={"destination": "91234567", "country": "SG", "text": "x", "dlrCallbackUrl": url},
        )
        body = answer.json()
        assert body["destination"] == "6591234567"
        details = (await raw.get(f"/messages/{body['umid']}")).json()
        assert details["msisdn"] == "+659123xxxx"
        assert details["country"] == "SG"
        await eventually(lambda: bool(received))
    assert received[0]["payload"]["destination"] == "+6591234567"


async def test_national_test_number_ends_as_its_international_form(
    raw: httpx.AsyncClient,
) -> None:
    """5550100003 with country US is +15550100003: REJECTED, as the test-number table says."""
    answer = await raw.post(
        "/messages", json={"destination": "5550100003", "country": "US", "text": "x"}
    )
    assert answer.json()["status"]["code"] == "REJECTED"


# --- states, details and receipts (explicit clocks, no waiting) ----------------------------------


def stored(final: str = "delivered", **changes: Any) -> StoredMessage:
    """A stored message created at monotonic time 100."""
    outcome = {
        "delivered": ("delivered_to_recipient", None, None),
        "undelivered": ("rejected_by_operator", 15, "Invalid destination"),
        "failed": (None, None, "Invalid MSISDN format (not E.164 international number)"),
    }[final]
    values: dict[str, Any] = {
        "umid": "0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a",
        "subaccount_id": "sandbox_hq",
        "destination": "6591234567",
        "source": "8x8",
        "encoding": "GSM7",
        "sms_count": 2,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "created_mono": 100.0,
        "final_state": final,
        "detail": outcome[0],
        "error_code": outcome[1],
        "error_message": outcome[2],
        **changes,
    }
    return StoredMessage(**values)


@pytest.mark.parametrize(
    ("final", "age", "state", "detail"),
    [
        ("delivered", 0.5, "queued", None),
        ("delivered", 1.5, "sent", None),
        ("delivered", 2.5, "delivered", "delivered_to_recipient"),
        ("undelivered", 1.5, "sent", None),
        ("undelivered", 2.5, "undelivered", "rejected_by_operator"),
        ("failed", 0.0, "failed", None),
        ("failed", 9.0, "failed", None),
    ],
)
def test_status_uses_the_documented_state_detail_pairs(
    final: str, age: float, state: str, detail: str | None
) -> None:
    """queued and sent carry no detail; delivered_to_recipient goes with delivered, and
    rejected_by_operator with undelivered (8x8's message-status references)."""
    status = stored(final).status(100.0 + age, sent_after=1.0, delivered_after=2.0)
    assert status["state"] == state
    assert status.get("detail") == detail


def test_scheduled_message_stays_queued_until_its_time() -> None:
    """A message scheduled an hour ahead is still queued long after sent_after has passed."""
    message = stored(start_delay=3600.0)
    assert message.status(100.0 + 60, 1.0, 2.0)["state"] == "queued"
    assert message.status(100.0 + 3602.5, 1.0, 2.0)["state"] == "delivered"


@pytest.mark.parametrize(
    ("final", "state", "priced"),
    [
        ("delivered", "delivered", True),
        ("undelivered", "undelivered", False),
        ("failed", "rejected", False),
    ],
)
def test_receipt_omits_price_when_nothing_was_charged(final: str, state: str, priced: bool) -> None:
    """Receipts carry a price only when the message was charged; destination is E.164."""
    sandbox = SandboxState(api_key="k", subaccounts=frozenset({"sandbox_hq"}))
    payload = sandbox.receipt(stored(final))["payload"]
    assert payload["status"]["state"] == state
    assert ("price" in payload) is priced
    assert payload["destination"] == "+6591234567"
    if priced:
        assert math.isclose(payload["price"]["total"], payload["price"]["perSms"] * 2)


async def test_undelivered_receipt_has_no_price_over_http(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """End to end: the undelivered test number's receipt comes without a price."""
    received: list[dict[str, Any]] = []
    async with serve_http(receipt_sink(received)) as url:
        await client.send_sms(destination="15550100001", text="x", dlr_callback_url=f"{url}/dlr")
        await eventually(lambda: bool(received))
    payload = received[0]["payload"]
    assert payload["status"]["state"] == "undelivered"
    assert "price" not in payload
    assert payload["destination"] == "+15550100001"


# --- /_sandbox/faults ----------------------------------------------------------------------------


@pytest.fixture
async def admin(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the sandbox's control endpoints."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    async with httpx.AsyncClient(
        verify=context,
        base_url=f"{sandbox.base_url}/_sandbox",
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    ) as http:
        yield http


async def test_faults_clear_then_apply_in_one_request(
    sandbox: Sandbox, admin: httpx.AsyncClient
) -> None:
    """clear with new settings clears first, then applies them: nothing is dropped."""
    sandbox.faults.share_500 = 0.3
    sandbox.faults.inject("drop", 3)
    answer = await admin.post(
        "/faults", json={"clear": True, "share_429": 0.5, "inject": "500", "count": 1}
    )
    assert answer.status_code == 200
    faults = answer.json()["faults"]
    assert (faults["share_429"], faults["share_500"], faults["queued"]) == (0.5, 0.0, ["500"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"inject": "429", "count": -1}, id="count-negative"),
        pytest.param({"inject": "429", "count": 1.5}, id="count-float"),
        pytest.param({"inject": "429", "count": "2"}, id="count-string"),
        pytest.param({"inject": "429", "count": True}, id="count-bool"),
        pytest.param({"inject": "teapot"}, id="unknown-fault"),
        pytest.param({"inject": 429}, id="fault-int"),
        pytest.param({"inject": "429", "endpoint": "send_fax"}, id="unknown-endpoint"),
        pytest.param({"count": 2}, id="count-without-inject"),
        pytest.param({"share_429": 2}, id="share-above-1"),
        pytest.param({"share_drop": -0.1}, id="share-negative"),
        pytest.param({"share_500": "x"}, id="share-string"),
        pytest.param({"share_slow": float("nan")}, id="share-nan"),
        pytest.param({"slow_seconds": -1}, id="slow-negative"),
        pytest.param({"retry_after": -1}, id="retry-after-negative"),
        pytest.param({"clear": "yes"}, id="clear-string"),
        pytest.param({"share_4299": 0.1}, id="unknown-setting"),
        pytest.param([], id="not-an-object"),
        pytest.param("oops", id="a-string"),
    ],
)
async def test_faults_refuses_bad_settings_with_a_json_error(
    sandbox: Sandbox, admin: httpx.AsyncClient, body: object
) -> None:
    """A bad setting is a 400 / code 1000 JSON body naming it; nothing changes, never a 500."""
    sandbox.faults.share_429 = 0.25
    if isinstance(body, dict) and any(
        isinstance(v, float) and math.isnan(v) for v in body.values()
    ):
        answer = await admin.post(
            "/faults", content=b'{"share_slow": NaN}', headers={"Content-Type": "application/json"}
        )
    else:
        answer = await admin.post("/faults", json=body)
    assert answer.status_code == 400
    assert answer.json()["code"] == 1000
    assert answer.json()["message"].startswith("Invalid fault settings")
    assert sandbox.faults.share_429 == 0.25
    assert sandbox.faults.queued() == []


def test_faults_object_validates_its_settings() -> None:
    """Faults refuses shares outside 0..1, negative times and counts, unknown names."""
    with pytest.raises(e.ValidationError, match="share_429"):
        Faults(share_429=2)
    with pytest.raises(e.ValidationError, match="slow_seconds"):
        Faults(slow_seconds=-1)
    faults = Faults()
    with pytest.raises(e.ValidationError, match="share_drop"):
        faults.share_drop = 1.5
    with pytest.raises(e.ValidationError, match="count"):
        faults.inject("429", -1)
    with pytest.raises(e.ValidationError, match="endpoint"):
        faults.inject("429", endpoint="send_fax")
    with pytest.raises(e.ValidationError, match="fault"):
        faults.inject("teapot")
    assert faults.queued() == []


# --- constructing, listening, stopping -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"sent_after": -1}, "sent_after", id="sent-negative"),
        pytest.param({"delivered_after": -0.5}, "delivered_after", id="delivered-negative"),
        pytest.param({"delivered_after": float("nan")}, "delivered_after", id="delivered-nan"),
        pytest.param({"dlr_retry_scale": -1}, "dlr_retry_scale", id="scale-negative"),
        pytest.param({"dlr_retry_scale": float("inf")}, "dlr_retry_scale", id="scale-inf"),
        pytest.param({"port": 65536}, "port", id="port-too-high"),
        pytest.param({"port": -1}, "port", id="port-negative"),
        pytest.param({"port": "8443"}, "port", id="port-string"),
        pytest.param({"subaccounts": ()}, "subaccounts", id="no-subaccount"),
        pytest.param({"subaccounts": ("a/b",)}, "subaccounts", id="bad-subaccount"),
        pytest.param({"subaccounts": "sandbox_hq"}, "subaccounts", id="subaccounts-a-string"),
        pytest.param({"api_key": ""}, "api_key", id="empty-key"),
        pytest.param({"host": ""}, "host", id="empty-host"),
    ],
)
def test_sandbox_validates_its_arguments(kwargs: dict[str, Any], field: str) -> None:
    """Bad constructor arguments are a ValidationError naming the argument."""
    with pytest.raises(e.ValidationError) as info:
        Sandbox(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("host", "url_host"),
    [
        ("0.0.0.0", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_base_url_is_connectable_for_any_host(host: str, url_host: str) -> None:
    """A wildcard host gives a loopback URL; an IPv6 literal is bracketed."""
    sandbox = Sandbox(host=host)
    sandbox.port = 8443
    assert sandbox.base_url == f"https://{url_host}:8443"


async def test_sandbox_on_another_loopback_address_is_trusted(tmp_path: Path) -> None:
    """host=127.0.0.2: the certificate names it, so the client connects over TLS 1.3."""
    async with (
        Sandbox(host="127.0.0.2", cert_dir=tmp_path) as server,
        AsyncSmsClient(**server.client_kwargs()) as client,
    ):
        assert server.base_url.startswith("https://127.0.0.2:")
        sent = await client.send_sms(destination=PHONE, text="hi")
    assert not sent.rejected


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_sandbox_on_ipv6_loopback_is_reachable(tmp_path: Path) -> None:
    """host=::1 gives https://[::1]:PORT, which the client reaches and the certificate covers."""
    async with (
        Sandbox(host="::1", cert_dir=tmp_path) as server,
        AsyncSmsClient(**server.client_kwargs()) as client,
    ):
        sent = await client.send_sms(destination=PHONE, text="hi")
    assert not sent.rejected


async def test_failed_start_leaves_no_folder_behind() -> None:
    """A port in use: start() raises OSError and removes the temporary CA folder it made."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        sandbox = Sandbox(port=busy.getsockname()[1])
        with pytest.raises(OSError):
            await sandbox.start()
    assert sandbox.ca_path is not None
    assert not sandbox.ca_path.parent.exists()


SERVE_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from eightxeight_async.sandbox import Sandbox

    async def main():
        sandbox = Sandbox()
        stopped_by = await sandbox.serve_forever(
            on_ready=lambda: print(sandbox.ca_path, flush=True)
        )
        print("stopped by", stopped_by, flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_serve_forever_cleans_up_on_a_signal(number: signal.Signals) -> None:
    """A sandbox stopped by SIGTERM (or Ctrl-C) removes its temporary folder and exits 0."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ca_path = Path(process.stdout.readline().strip())
        assert ca_path.exists()
        os.kill(process.pid, number)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f"stopped by {int(number)}" in out
    assert not ca_path.parent.exists()


async def test_stop_after_stop_is_harmless(tmp_path: Path) -> None:
    """stop() twice, or on a sandbox that never started, does nothing more."""
    sandbox = Sandbox(cert_dir=tmp_path)
    await sandbox.stop()
    await sandbox.start()
    await sandbox.stop()
    await sandbox.stop()


# --- bodies 8x8 would read -----------------------------------------------------------------------


async def test_lone_surrogate_text_is_queued_not_a_500(raw: httpx.AsyncClient) -> None:
    """JSON may carry a lone surrogate (\\ud800); the sandbox counts it instead of failing."""
    answer = await raw.post(
        "/messages",
        content=b'{"destination": "+6591234567", "text": "\\ud800 hi"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.json()["encoding"] == "UCS2"


async def test_scheduled_in_the_future_is_accepted(raw: httpx.AsyncClient) -> None:
    """A schedule within 7 days, in any offset, is queued."""
    when = (datetime.now(timezone.utc) + timedelta(days=2)).astimezone(timezone(timedelta(hours=8)))
    answer = await raw.post(
        "/messages", json={"destination": PHONE, "text": "x", "scheduled": when.isoformat()}
    )
    assert answer.json()["status"]["code"] == "QUEUED"


def test_state_repr_hides_the_key_and_numbers() -> None:
    """The sandbox's state and messages show neither the API key nor a full phone number."""
    state = SandboxState(api_key="sandbox-secret-key", subaccounts=frozenset({"sandbox_hq"}))
    message = stored()
    state.messages[message.umid] = message
    shown = repr(state) + repr(message)
    assert "sandbox-secret-key" not in shown
    assert "6591234567" not in shown


@pytest.mark.parametrize(
    ("header", "status"),
    [
        pytest.param("Bearer {key}", 200, id="bearer"),
        pytest.param("bearer {key}", 200, id="scheme-any-case"),
        pytest.param("Basic {key}", 401, id="other-scheme"),
        pytest.param("Bearer {key}x", 401, id="longer-key"),
        pytest.param("Bearer", 401, id="no-token"),
        pytest.param("", 401, id="empty"),
    ],
)
async def test_authorization_scheme_is_case_insensitive(
    sandbox: Sandbox, raw: httpx.AsyncClient, header: str, status: int
) -> None:
    """The bearer scheme matches in any case (RFC 9110); anything else is 401 / 1200."""
    answer = await raw.post(
        "/messages",
        json={"destination": PHONE, "text": "x"},
        headers={"Authorization": header.format(key=sandbox.api_key)},
    )
    assert answer.status_code == status
