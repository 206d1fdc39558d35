"""Every endpoint end to end over real TLS 1.3 sockets, and the sandbox's own 8x8 behaviour."""

from __future__ import annotations

import ssl
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient
from eightxeight_async._http import TransportTypes
from eightxeight_async.sandbox import Sandbox

from .conftest import eventually, serve_http

pytestmark = pytest.mark.integration

PHONE = "+6591234567"


async def wait_final(client: AsyncSmsClient, umid: str) -> e.MessageDetails:
    while True:
        details = await client.get_message(umid)
        if details.status.state not in (e.MessageState.QUEUED, e.MessageState.SENT):
            return details


async def test_send_status_feedback_journey(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """An OTP is queued, then delivered, and its feedback is accepted."""
    sent = await client.send_sms(destination=PHONE, text="Your code is 424242", track="Outcome")
    assert sent.status.code is e.SmsStatusCode.QUEUED
    assert sent.encoding is e.Encoding.GSM7
    details = await wait_final(client, sent.umid)
    assert details.status.state is e.MessageState.DELIVERED
    assert details.status.detail is e.StatusDetail.DELIVERED_TO_RECIPIENT
    assert details.msisdn == "+659123xxxx"
    assert details.body == "**MASKED**"
    assert details.client_message_id == sent.client_message_id
    assert details.price is not None
    await client.send_feedback(sent.umid, outcome="success", timestamp=datetime.now(timezone.utc))
    assert sandbox.state.messages[sent.umid].feedback[0]["outcome"] == "success"


async def test_survey_send(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """A survey is queued with its template filled in and the link shortened."""
    sent = await client.send_survey(
        "nps-survey",
        destination=PHONE,
        country="SG",
        template_body="Hi {{name}}, rate us: {{url:name}}",
        template_variables={"name": "Ana"},
    )
    assert not sent.rejected
    assert sandbox.state.messages[sent.umid].sms_count == 1


async def test_unicode_text_is_ucs2_with_parts(sandbox: Sandbox, client: AsyncSmsClient) -> None:
    """The sandbox detects UCS2 and counts 67-character parts."""
    sent = await client.send_sms(destination=PHONE, text="你好" * 40)
    assert sent.encoding is e.Encoding.UCS2
    assert sandbox.state.messages[sent.umid].sms_count == 2


@pytest.mark.parametrize(
    ("number", "state", "code"),
    [("+15550100001", "undelivered", 15), ("+15550100002", "undelivered", 1)],
)
async def test_test_numbers_end_undelivered(
    client: AsyncSmsClient, number: str, state: str, code: int
) -> None:
    """The documented test numbers end undelivered with their error codes."""
    sent = await client.send_sms(destination=number, text="hello")
    details = await wait_final(client, sent.umid)
    assert details.status.state == state
    assert details.status.error_code == code


async def test_rejected_test_number_is_rejected_in_200(client: AsyncSmsClient) -> None:
    """+15550100003 comes back REJECTED in an HTTP 200: a result, not an exception."""
    sent = await client.send_sms(destination="+15550100003", text="hello")
    assert sent.rejected
    assert "MSISDN" in (sent.status.description or "")


async def test_wrong_key_is_authentication_error(
    sandbox: Sandbox, transport: TransportTypes
) -> None:
    """A wrong key gets 401 / code 1200."""
    kwargs = sandbox.client_kwargs()
    kwargs["api_key"] = "wrong"
    async with AsyncSmsClient(**kwargs, transport=transport) as client:
        with pytest.raises(e.AuthenticationError) as info:
            await client.send_sms(destination=PHONE, text="hi")
    assert info.value.code == 1200


async def test_foreign_subaccount_is_code_1001(client: AsyncSmsClient) -> None:
    """A subaccount the key does not own gets code 1001."""
    with pytest.raises(e.BadRequestError) as info:
        await client.send_sms(destination=PHONE, text="hi", subaccount_id="someone_else")
    assert info.value.code == 1001


async def test_unknown_umid_is_not_found(client: AsyncSmsClient) -> None:
    """A valid but unknown umid gets 404 / code 1300; a malformed one 400 / 1000."""
    with pytest.raises(e.NotFoundError) as info:
        await client.get_message("dec02e44-c76f-4a0a-b69f-6ac2a4386eb9")
    assert info.value.code == 1300
    with pytest.raises(e.BadRequestError) as bad:
        await client.send_feedback("not-a-uuid", outcome="failure")
    assert bad.value.code == 1000


@pytest.mark.parametrize(
    ("body", "status", "code", "rejected"),
    [
        pytest.param({"destination": "12", "text": "x"}, 400, 1002, None, id="msisdn"),
        pytest.param(
            {"destination": PHONE, "text": "x", "encoding": "X"}, 400, 1003, None, id="enc"
        ),
        pytest.param(
            {"destination": PHONE, "text": "x", "country": "SGP"}, 400, 1009, None, id="cc"
        ),
        pytest.param(
            {"destination": PHONE, "text": "x", "clientIp": "x"}, 400, 1012, None, id="ip"
        ),
        pytest.param(
            {"destination": PHONE, "text": "x", "scheduled": "2099-01-01T00:00:00Z"},
            400,
            1011,
            None,
            id="schedule",
        ),
        pytest.param({"destination": PHONE}, 200, None, "Text value is missing", id="no-text"),
        pytest.param(
            {"destination": PHONE, "text": "x", "source": "S" * 17},
            200,
            None,
            "Invalid Source value. Reached max allowed limit",
            id="source",
        ),
        pytest.param(
            {"destination": PHONE, "text": "x", "expiry": "2020-01-01T00:00:00Z"},
            200,
            None,
            "Expiry time already reached",
            id="expired",
        ),
    ],
)
async def test_sandbox_rules_for_raw_requests(
    sandbox: Sandbox,
    body: dict[str, Any],
    status: int,
    code: int | None,
    rejected: str | None,
) -> None:
    """Bodies the SDK would refuse locally get 8x8's answers from the sandbox (raw httpx)."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    async with httpx.AsyncClient(verify=context) as http:
        answer = await http.post(
            f"{sandbox.base_url}/api/v1/subaccounts/{sandbox.subaccount_id}/messages",
            json=body,
            headers={"Authorization": f"Bearer {sandbox.api_key}"},
        )
    assert answer.status_code == status
    payload = answer.json()
    if code is not None:
        assert payload["code"] == code
        assert set(payload) == {"code", "message", "errorId", "timestamp"}
    else:
        assert payload["status"] == {"code": "REJECTED", "description": rejected}


async def test_delivery_receipt_is_posted_and_retried(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """The DLR reaches dlrCallbackUrl in 8x8's envelope, retried after a failure."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=503 if len(received) == 1 else 200)

    app = Starlette(routes=[Route("/dlr", hook, methods=["POST"])])
    async with serve_http(app) as url:
        sent = await client.send_sms(
            destination="+15550100001",
            text="hello",
            dlr_callback_url=f"{url}/dlr",
            client_message_id="dlr-test-1",
        )
        await eventually(lambda: len(received) >= 2)
    first, second = received[:2]
    assert first == second
    assert first["namespace"] == "SMS"
    assert first["eventType"] == "outbound_message_status_changed"
    payload = first["payload"]
    assert payload["umid"] == sent.umid
    assert payload["clientMessageId"] == "dlr-test-1"
    assert payload["status"]["state"] == "undelivered"
    assert payload["status"]["errorCode"] == 15
    assert [status for _, _, status in sandbox.state.dlr_attempts] == [503, 200]


async def test_faults_can_be_set_at_run_time_over_http(sandbox: Sandbox) -> None:
    """POST /_sandbox/faults queues faults from another process; GET /_sandbox/stats reports."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    auth = {"Authorization": f"Bearer {sandbox.api_key}"}
    async with httpx.AsyncClient(verify=context, base_url=sandbox.base_url) as http:
        denied = await http.post("/_sandbox/faults", json={"inject": "429"})
        assert denied.status_code == 401
        bad = await http.post("/_sandbox/faults", json={"inject": "teapot"}, headers=auth)
        assert bad.status_code == 400
        answer = await http.post(
            "/_sandbox/faults",
            json={"inject": "500", "count": 2, "endpoint": "send_sms", "share_slow": 0.0},
            headers=auth,
        )
        assert answer.json()["faults"]["queued"] == ["500@send_sms", "500@send_sms"]
        stats = (await http.get("/_sandbox/stats", headers=auth)).json()
    assert stats["requests"] == {}
    assert sandbox.faults.draw("send_sms") is not None
