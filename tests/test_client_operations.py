"""The 13 operations beyond the core four, over respx: exact requests, typed answers, errors.

Every test asserts on the request actually sent (method, raw path with its percent-encoded
segments, query, JSON body), parses every example answer of 8x8's OpenAPI file for the operation,
and maps every error status the file documents for it. Bad input fails before any I/O: those tests
assert that respx saw no request at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import respx

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy

from .conftest import API_KEY, DATA, PHONE

# A subaccount id holding "&" (8x8 allows it): every path must carry it percent-encoded.
SUB = "acme&co_hq"
SUB_WIRE = "acme%26co_hq"
ACCOUNT = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
OTHER_ACCOUNT = (
    "0123456789abcdef0123456789ABCDEF"  # 32 hex digits, no dashes: the GUID rule allows it
)
UMID = "bda3d56d-1424-e711-813c-06ed3428fe67"
BATCH_ID = "f1ea5276-a824-e711-8146-022a22cc1c71"
JOB_ID = "F1T6z9C5tW2QV1pdMzO9xpMXrYEmfnvqORGqpePJGpgzjTJ80TSaZEE7aX2wrgix"
SUBS = f"/api/v1/subaccounts/{SUB_WIRE}"
ACCOUNTS = f"/api/v1/accounts/{ACCOUNT}"

SPEC: dict[str, Any] = json.loads((DATA / "sms_api.json").read_text())


# --- 8x8's OpenAPI file ------------------------------------------------------------------------


def node_ref_parts(ref: str) -> list[str]:
    return [unquote(p).replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def responses(path: str, method: str) -> dict[int, Any]:
    """The documented responses of one operation, by status."""
    op = SPEC["paths"][path][method.lower()]
    return {int(status): deref(answer) for status, answer in op["responses"].items()}


def examples(answer: Any) -> list[Any]:
    """Every example body of one documented response (strings holding JSON are decoded)."""
    found: list[Any] = []
    for media in (answer.get("content") or {}).values():
        candidates = []
        if "example" in media:
            candidates.append(media["example"])
        for example in (media.get("examples") or {}).values():
            candidates.append(example.get("value"))
        schema = deref(media.get("schema") or {})
        if isinstance(schema, dict) and "example" in schema and not found and not candidates:
            candidates.append(schema["example"])
        for body in candidates:
            found.append(json.loads(body) if isinstance(body, str) else body)
    return found


def example_of(path: str, method: str, status: int) -> Any:
    bodies = examples(responses(path, method)[status])
    assert bodies, f"8x8's file has no example for {method} {path} {status}"
    return bodies[0]


P_BATCH = "/api/v1/subaccounts/{subAccountId}/messages/batch"
P_SURVEY_BATCH = "/api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages/batch"
P_CANCEL_BATCH = "/api/v1/subaccounts/{subAccountId}/messages/batch/{batchId}"
P_MESSAGE = "/api/v1/subaccounts/{subAccountId}/messages/{umid}"
P_PII = "/api/v1/subaccounts/{subAccountId}/messages/{umid}/pii"
P_EXPORTS = "/api/v1/subaccounts/{subAccountId}/messages/exports"
P_EXPORT = "/api/v1/subaccounts/{subAccountId}/messages/exports/{jobId}"
P_PRICES = "/api/v1/accounts/{accountId}/prices"
P_BALANCE = "/api/v1/accounts/{accountId}/balance"
P_WEBHOOKS = "/api/v1/accounts/{accountId}/webhooks"

BATCH_OK = example_of(P_BATCH, "POST", 200)
SURVEY_BATCH_OK = example_of(P_SURVEY_BATCH, "POST", 200)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[AsyncSmsClient]:
    """A client whose subaccount needs encoding, with an account id, one attempt per call."""
    async with AsyncSmsClient(
        api_key=API_KEY,
        subaccount_id=SUB,
        account_id=ACCOUNT,
        rate_limits=RateLimits.unlimited(),
        retry=RetryPolicy(max_attempts=1),
    ) as sms:
        yield sms


OpCall = Callable[[AsyncSmsClient], Awaitable[Any]]


def catch_all(api: respx.MockRouter, status: int = 200, **kwargs: Any) -> respx.Route:
    """One route for every request, so that the test asserts the method and path itself."""
    return api.route().respond(status, **kwargs)


def sent(route: respx.Route, index: int = -1) -> httpx.Request:
    request: httpx.Request = route.calls[index].request
    return request


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(sent(route, index).content)


def where(request: httpx.Request) -> tuple[str, str]:
    """The method and the raw (still percent-encoded) path and query of a request."""
    return request.method, request.url.raw_path.decode("ascii")


# --- send_batch --------------------------------------------------------------------------------


async def test_send_batch_messages_exact_request(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Personal messages (objects and mappings) and a template go out as BatchSmsRequest."""
    route = catch_all(api, json=BATCH_OK)
    result = await client.send_batch(
        messages=[
            e.BatchMessage(destination="+6598760001", text="Hi Ana", client_message_id="m-1"),
            {"destination": "+6598760002", "client_message_id": "m-2", "country": "SG"},
        ],
        template={"source": "Acme", "text": "Hello from Acme", "encoding": "GSM7"},
        client_batch_id="Demo#1001",
        include_messages_in_response=True,
        client_ip="203.0.113.9",
    )
    assert where(sent(route)) == ("POST", f"{SUBS}/messages/batch")
    assert sent(route).headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent(route).headers["Content-Type"] == "application/json"
    assert sent_json(route) == {
        "messages": [
            {"destination": "+6598760001", "text": "Hi Ana", "clientMessageId": "m-1"},
            {"destination": "+6598760002", "clientMessageId": "m-2", "country": "SG"},
        ],
        "template": {"source": "Acme", "text": "Hello from Acme", "encoding": "GSM7"},
        "clientBatchId": "Demo#1001",
        "includeMessagesInResponse": True,
        "clientIp": "203.0.113.9",
    }
    assert isinstance(result, e.BatchResponse)
    assert result.batch_id == BATCH_OK["batchId"]


async def test_send_batch_parses_the_oas_example_with_rejections_as_results(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """8x8's example batch answer parses; its REJECTED message is a result, not an exception."""
    catch_all(api, json=BATCH_OK)
    result = await client.send_batch(destinations=[PHONE], template={"text": "Hi"})
    assert (result.batch_id, result.client_batch_id) == (BATCH_OK["batchId"], "Demo#1001")
    assert (result.accepted_count, result.rejected_count) == (3, 1)
    assert len(result.messages) == 4
    assert all(isinstance(m, e.SmsResponse) for m in result.messages)
    assert [m.client_message_id for m in result.rejected_messages] == ["id_100003"]
    assert result.rejected_messages[0].rejected
    assert result.messages[2].encoding is e.Encoding.UCS2


async def test_send_batch_without_messages_in_answer(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Without includeMessagesInResponse 8x8 sends counts only: messages is an empty tuple."""
    catch_all(api, json={"batchId": BATCH_ID, "acceptedCount": 2, "rejectedCount": 0})
    result = await client.send_batch(destinations=[PHONE, "+6598760002"], template={"text": "x"})
    assert result.messages == ()
    assert result.rejected_messages == ()
    assert result.client_batch_id is None


async def test_send_batch_destinations_and_generated_ids(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Shared-content mode sends destinations + template; the batch id is 20 fresh hex chars."""
    route = catch_all(api, json=BATCH_OK)
    await client.send_batch(destinations=[PHONE, "+6598760002"], template={"text": "Sale today"})
    await client.send_batch(destinations=[PHONE], template=e.BatchTemplate(text="Sale today"))
    first, second = sent_json(route, 0), sent_json(route, 1)
    assert first["destinations"] == [PHONE, "+6598760002"]
    assert first["template"] == {"text": "Sale today"}
    assert "messages" not in first
    assert first.get("includeMessagesInResponse", False) is False
    ids = [first["clientBatchId"], second["clientBatchId"]]
    assert ids[0] != ids[1]
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)


async def test_send_batch_generates_client_message_ids_per_message(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Messages without an id get a fresh hex one each (reconciliation needs them)."""
    route = catch_all(api, json=BATCH_OK)
    await client.send_batch(
        messages=[{"destination": PHONE, "text": "a"}, {"destination": PHONE, "text": "b"}]
    )
    ids = [m["clientMessageId"] for m in sent_json(route)["messages"]]
    assert len(set(ids)) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_send_batch_subaccount_override_is_encoded(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """subaccount_id= overrides the client's and is percent-encoded whole."""
    route = catch_all(api, json=BATCH_OK)
    await client.send_batch(destinations=[PHONE], template={"text": "x"}, subaccount_id="a&b.c-1")
    assert where(sent(route)) == ("POST", "/api/v1/subaccounts/a%26b.c-1/messages/batch")


async def test_send_batch_scheduled_template_written_in_utc(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A scheduled template is written as an RFC 3339 instant in UTC, as single sends are."""
    route = catch_all(api, json=BATCH_OK)
    when = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) + timedelta(hours=2)
    await client.send_batch(
        destinations=[PHONE], template=e.BatchTemplate(text="x", scheduled=when)
    )
    utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    assert sent_json(route)["template"]["scheduled"] == utc.isoformat() + "Z"


BATCH_REFUSED = [
    pytest.param(
        {"messages": [{"destination": PHONE, "text": "a"}], "destinations": [PHONE]},
        "messages",
        id="both-modes",
    ),
    pytest.param({}, "messages", id="neither-mode"),
    pytest.param({"messages": []}, "messages", id="no-messages"),
    pytest.param({"destinations": [], "template": {"text": "x"}}, "destinations", id="no-dest"),
    pytest.param(
        {"destinations": [PHONE] * 10_001, "template": {"text": "x"}},
        "destinations",
        id="too-many-destinations",
    ),
    pytest.param(
        {"messages": [{"destination": PHONE, "text": "x"}] * 10_001},
        "messages",
        id="too-many-messages",
    ),
    pytest.param({"destinations": [PHONE]}, "template.text", id="destinations-no-template"),
    pytest.param(
        {"destinations": [PHONE], "template": {"source": "Acme"}},
        "template.text",
        id="destinations-template-without-text",
    ),
    pytest.param(
        {"messages": [{"destination": PHONE, "text": "a"}, {"destination": PHONE}]},
        "messages[1].text",
        id="message-without-text-or-template",
    ),
    pytest.param(
        {
            "messages": [{"destination": PHONE, "text": "a"}] * 3
            + [{"destination": "12", "text": "b"}]
        },
        "messages[3].destination",
        id="bad-message-destination",
    ),
    pytest.param(
        {"destinations": [PHONE] * 7 + ["+0123"], "template": {"text": "x"}},
        "destinations[7]",
        id="bad-destination",
    ),
    pytest.param(
        {"destinations": [PHONE], "template": {"text": "x"}, "client_batch_id": "b" * 21},
        "client_batch_id",
        id="batch-id-too-long",
    ),
    pytest.param(
        {"destinations": [PHONE], "template": {"text": "x", "source": "S" * 17}},
        "template.source",
        id="template-source-too-long",
    ),
    pytest.param(
        {"messages": [{"destination": PHONE, "text": "a", "client_message_id": "x" * 351}]},
        "messages[0].client_message_id",
        id="message-id-too-long",
    ),
    pytest.param(
        {"messages": [{"destination": PHONE, "text": "a", "colour": "red"}]},
        "messages[0]",
        id="unknown-message-key",
    ),
    pytest.param(
        {"destinations": [PHONE], "template": {"text": "x"}, "client_ip": "not-an-ip"},
        "client_ip",
        id="bad-client-ip",
    ),
    pytest.param(
        {"destinations": [PHONE], "template": {"text": "x"}, "subaccount_id": "a/b"},
        "subaccount_id",
        id="bad-subaccount",
    ),
    pytest.param(
        {"destinations": [PHONE], "template": {"text": "x"}, "timeout": 0},
        "timeout",
        id="bad-timeout",
    ),
]


@pytest.mark.parametrize(("kwargs", "field"), BATCH_REFUSED)
async def test_send_batch_refuses_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """Each batch rule raises ValidationError naming the item, and nothing is sent."""
    route = catch_all(api, json=BATCH_OK)
    with pytest.raises(e.ValidationError) as info:
        await client.send_batch(**kwargs)
    assert info.value.field.startswith(field)
    assert route.call_count == 0
    assert PHONE not in str(info.value)


async def test_send_batch_both_modes_message_says_so(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Giving messages and destinations is refused (8x8 would drop destinations silently)."""
    catch_all(api, json=BATCH_OK)
    with pytest.raises(e.ValidationError) as info:
        await client.send_batch(
            messages=[{"destination": PHONE, "text": "a"}], destinations=[PHONE]
        )
    assert "not both" in str(info.value)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ReadTimeout("slow"), id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("Server disconnected"), id="disconnect"),
    ],
)
async def test_send_batch_ambiguous_outcome_is_not_replayed(
    api: respx.MockRouter, waits: list[float], failure: Exception
) -> None:
    """A batch that failed after going out raises SendOutcomeUnknownError naming the batch."""
    route = api.route()
    route.side_effect = failure
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUB, rate_limits=RateLimits.unlimited()
    ) as sms:
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await sms.send_batch(
                destinations=[PHONE], template={"text": "x"}, client_batch_id="b-7"
            )
    assert route.call_count == 1
    assert info.value.client_batch_id == "b-7"
    assert info.value.client_message_id is None
    assert "b-7" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.TransportError)


async def test_send_batch_retries_500_and_connect_failures(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """A 500 or a refused connection is retried for a batch, with the same clientBatchId."""
    route = api.route()
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(500, json={"code": 2000, "errorId": "x", "timestamp": "2020-01-01T00:00Z"}),
        httpx.Response(200, json=BATCH_OK),
    ]
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUB, rate_limits=RateLimits.unlimited()
    ) as sms:
        await sms.send_batch(destinations=[PHONE], template={"text": "x"})
    assert route.call_count == 3
    assert len({sent_json(route, i)["clientBatchId"] for i in range(3)}) == 1


# --- send_survey_batch -------------------------------------------------------------------------


async def test_send_survey_batch_exact_request(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Survey batches go to the survey's batch URL (survey id encoded) as BatchSurveyRequest."""
    route = catch_all(api, json=SURVEY_BATCH_OK)
    result = await client.send_survey_batch(
        "nps-2026.q4~x",
        messages=[
            e.SurveyBatchMessage(
                destination="+6587755377",
                template_variables={"firstName": "Igor", "age": 24},
                client_message_id="MyMessageId001",
            ),
            {"destination": "+6587755388", "client_message_id": "MyMessageId002"},
        ],
        template=e.SurveyTemplate(
            template_body="Hello {{firstName}}, take survey here {{url:firstName}}",
            source="YourBrand",
        ),
        client_batch_id="MyBatch00001",
        include_messages_in_response=True,
    )
    assert where(sent(route)) == ("POST", f"{SUBS}/surveys/nps-2026.q4~x/messages/batch")
    assert sent_json(route) == {
        "messages": [
            {
                "destination": "+6587755377",
                "templateVariables": {"firstName": "Igor", "age": 24},
                "clientMessageId": "MyMessageId001",
            },
            {"destination": "+6587755388", "clientMessageId": "MyMessageId002"},
        ],
        "template": {
            "templateBody": "Hello {{firstName}}, take survey here {{url:firstName}}",
            "source": "YourBrand",
        },
        "clientBatchId": "MyBatch00001",
        "includeMessagesInResponse": True,
    }
    assert (result.accepted_count, result.rejected_count) == (3, 1)
    assert len(result.rejected_messages) == 1


SURVEY_REFUSED = [
    pytest.param(("",), {"messages": [{"destination": PHONE}]}, "survey_id", id="empty-survey"),
    pytest.param(("..",), {"messages": [{"destination": PHONE}]}, "survey_id", id="dot-survey"),
    pytest.param(("nps",), {"messages": []}, "messages", id="no-messages"),
    pytest.param(
        ("nps",), {"messages": [{"destination": "1"}]}, "messages[0].destination", id="dest"
    ),
    pytest.param(
        ("nps",),
        {"messages": [{"destination": PHONE}], "template": {"source": "x"}},
        "template",
        id="template-without-body",
    ),
    pytest.param(
        ("nps",),
        {"messages": [{"destination": PHONE}], "client_batch_id": "z" * 21},
        "client_batch_id",
        id="batch-id",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "field"), SURVEY_REFUSED)
async def test_send_survey_batch_refuses_before_io(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    args: tuple[str],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    """Survey batch rules raise ValidationError before any request."""
    route = catch_all(api, json=SURVEY_BATCH_OK)
    with pytest.raises(e.ValidationError) as info:
        await client.send_survey_batch(*args, **kwargs)
    assert info.value.field.startswith(field)
    assert route.call_count == 0


async def test_send_survey_batch_ambiguous_names_the_batch(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """Survey batches are sends: an unknown outcome is not replayed and names the batch."""
    route = api.route()
    route.side_effect = httpx.ReadTimeout("slow")
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUB, rate_limits=RateLimits.unlimited()
    ) as sms:
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await sms.send_survey_batch("nps", messages=[{"destination": PHONE}])
    assert route.call_count == 1
    assert info.value.client_batch_id == sent_json(route)["clientBatchId"]


# --- cancels and PII ---------------------------------------------------------------------------


async def test_cancel_message_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """cancel_message DELETEs the message URL (umid encoded) and returns the cancelled count."""
    route = catch_all(api, json=example_of(P_MESSAGE, "DELETE", 200))
    result = await client.cancel_message("a-b_c.~1")
    assert where(sent(route)) == ("DELETE", f"{SUBS}/messages/a-b_c.~1")
    assert sent(route).content == b""
    assert isinstance(result, e.CancelResponse)
    assert result.cancelled_count == 1


async def test_cancel_batch_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """cancel_batch DELETEs the batch URL and returns 8x8's cancelledCount."""
    route = catch_all(api, json=example_of(P_CANCEL_BATCH, "DELETE", 200))
    result = await client.cancel_batch(BATCH_ID, subaccount_id="other_hq")
    assert where(sent(route)) == (
        "DELETE",
        f"/api/v1/subaccounts/other_hq/messages/batch/{BATCH_ID}",
    )
    assert result.cancelled_count == 10


async def test_delete_pii_202_empty(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """delete_pii DELETEs .../pii; 8x8's 202 with no body returns None."""
    route = catch_all(api, status=202)
    await client.delete_pii(UMID)
    assert where(sent(route)) == ("DELETE", f"{SUBS}/messages/{UMID}/pii")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda c: c.cancel_message(""), "umid", id="cancel-empty"),
        pytest.param(lambda c: c.cancel_message(".."), "umid", id="cancel-dotdot"),
        pytest.param(lambda c: c.cancel_batch(" x"), "batch_id", id="batch-space"),
        pytest.param(lambda c: c.delete_pii("."), "umid", id="pii-dot"),
        pytest.param(lambda c: c.delete_pii(UMID, subaccount_id="no"), "subaccount_id", id="sub"),
        pytest.param(lambda c: c.cancel_message(UMID, timeout=-1), "timeout", id="timeout"),
    ],
)
async def test_cancels_refuse_before_io(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    call: Callable[[AsyncSmsClient], Awaitable[Any]],
    field: str,
) -> None:
    """Bad path ids and options are refused before any request."""
    route = catch_all(api, status=202)
    with pytest.raises(e.ValidationError) as info:
        await call(client)
    assert info.value.field == field
    assert route.call_count == 0


async def test_delete_pii_timeout_is_retried(api: respx.MockRouter, waits: list[float]) -> None:
    """DELETE is idempotent: a timed-out PII deletion is tried again."""
    route = api.route()
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(202)]
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUB, rate_limits=RateLimits.unlimited()
    ) as sms:
        await sms.delete_pii(UMID)
    assert route.call_count == 2


# --- log export --------------------------------------------------------------------------------


async def test_start_log_export_exact_request(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Filters go out under 8x8's keys: a date as yyyy-MM-dd, an aware datetime in UTC."""
    route = catch_all(api, status=202, json=example_of(P_EXPORTS, "POST", 202))
    started = await client.start_log_export(
        start=date(2026, 11, 1),
        end=datetime(2026, 11, 20, 17, 30, tzinfo=timezone(timedelta(hours=8))),
        phone_number=PHONE,
        countries=["SG", "MY"],
        limit=100,
    )
    assert where(sent(route)) == ("POST", f"{SUBS}/messages/exports")
    assert sent_json(route) == {
        "from": "2026-11-01",
        "to": "2026-11-20T09:30:00Z",
        "phoneNumber": PHONE,
        "countries": ["SG", "MY"],
        "limit": 100,
    }
    assert isinstance(started, e.LogExportStarted)
    assert started.job_id == JOB_ID


async def test_start_log_export_without_filters_sends_empty_object(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """No filters: an empty JSON object (8x8's defaults: the last 7 days)."""
    route = catch_all(api, status=202, json={"jobId": "j1"})
    assert (await client.start_log_export()).job_id == "j1"
    assert sent_json(route) == {}


async def test_start_log_export_zero_limit_means_unlimited(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """limit=0 is sent (8x8 reads it as unlimited), not dropped as falsy."""
    route = catch_all(api, status=202, json={"jobId": "j1"})
    await client.start_log_export(limit=0)
    assert sent_json(route) == {"limit": 0}


EXPORT_REFUSED = [
    pytest.param({"start": datetime(2026, 1, 1)}, "start", id="naive-start"),
    pytest.param({"end": datetime(2026, 1, 1)}, "end", id="naive-end"),
    pytest.param({"start": date(2026, 2, 1), "end": date(2026, 1, 1)}, "start", id="reversed"),
    pytest.param({"phone_number": "6591234567x"}, "phone_number", id="phone"),
    pytest.param({"countries": ["SGP"]}, "countries", id="country"),
    pytest.param({"countries": "SG"}, "countries", id="countries-str"),
    pytest.param({"limit": -1}, "limit", id="negative-limit"),
    pytest.param({"limit": True}, "limit", id="bool-limit"),
    pytest.param({"start": "2026-01-01"}, "start", id="string-start"),
]


@pytest.mark.parametrize(("kwargs", "field"), EXPORT_REFUSED)
async def test_start_log_export_refuses_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """Each export filter rule raises ValidationError before any request."""
    route = catch_all(api, status=202, json={"jobId": "j"})
    with pytest.raises(e.ValidationError) as info:
        await client.start_log_export(**kwargs)
    assert info.value.field.split("[")[0] in (field, "end" if field == "start" else field)
    assert route.call_count == 0


async def test_get_log_export_parses_the_oas_example(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """The job's status, links and expiry parse; job_id is the one asked for."""
    body = example_of(P_EXPORT, "GET", 200)
    route = catch_all(api, json=body)
    status = await client.get_log_export("job-1")
    assert where(sent(route)) == ("GET", f"{SUBS}/messages/exports/job-1")
    assert isinstance(status, e.LogExportStatus)
    assert status.job_id == "job-1"
    assert status.status is e.LogExportState.SUCCEEDED
    assert status.succeeded
    assert status.is_final
    assert status.links == tuple(body["data"])
    assert status.expires == datetime(2020, 10, 25, 6, 58, 41, 740000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("state", "final"),
    [
        ("queued", False),
        ("running", False),
        ("succeeded", True),
        ("failed", True),
        ("cancelled", True),
        ("empty", True),
        ("error", True),
        ("paused-by-8x8", False),  # an unknown state is kept, and is not taken as final
    ],
)
async def test_get_log_export_states(
    api: respx.MockRouter, client: AsyncSmsClient, state: str, final: bool
) -> None:
    """Every documented state parses (open enum); only the final ones say so."""
    catch_all(api, json={"status": state})
    status = await client.get_log_export(JOB_ID)
    assert status.status == state
    assert status.is_final is final
    assert status.links == ()
    assert status.expires is None


async def test_cancel_log_export_204(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """cancel_log_export DELETEs the job; 8x8's 204 returns None."""
    route = catch_all(api, status=204)
    await client.cancel_log_export(JOB_ID)
    assert where(sent(route)) == ("DELETE", f"{SUBS}/messages/exports/{JOB_ID}")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_log_export(""), id="get"),
        pytest.param(lambda c: c.cancel_log_export(".."), id="cancel"),
    ],
)
async def test_job_id_refused_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, call: Callable[[AsyncSmsClient], Awaitable[Any]]
) -> None:
    """An unusable job id is refused before any request."""
    route = catch_all(api, status=204)
    with pytest.raises(e.ValidationError) as info:
        await call(client)
    assert info.value.field == "job_id"
    assert route.call_count == 0


# --- prices and balance ------------------------------------------------------------------------


async def test_get_prices_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """Filters become 8x8's query parameters, the subaccount filter encoded ("&" kept whole)."""
    route = catch_all(api, json={"subAccounts": []})
    result = await client.get_prices(
        country="SG", mcc=525, mnc=1, direction="outbound", subaccount_id="a&b_hq"
    )
    request = sent(route)
    assert request.method == "GET"
    assert request.url.path == f"{ACCOUNTS}/prices"
    assert dict(request.url.params) == {
        "country": "SG",
        "mcc": "525",
        "mnc": "1",
        "direction": "outbound",
        "subAccountId": "a&b_hq",
    }
    assert b"subAccountId=a%26b_hq" in request.url.query
    assert result.subaccounts == ()


async def test_get_prices_without_filters_has_no_query(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """No filter, no query string: the client's own subaccount is NOT a filter here."""
    route = catch_all(api, json={"subAccounts": []})
    await client.get_prices(direction=e.PriceDirection.INBOUND)
    await client.get_prices()
    assert where(sent(route, 0)) == ("GET", f"{ACCOUNTS}/prices?direction=inbound")
    assert where(sent(route, 1)) == ("GET", f"{ACCOUNTS}/prices")


PRICE_EXAMPLES = examples(responses(P_PRICES, "GET")[200])


@pytest.mark.parametrize("body", PRICE_EXAMPLES, ids=["single", "multiple", "inbound-only"])
async def test_get_prices_parses_every_oas_example(
    api: respx.MockRouter, client: AsyncSmsClient, body: dict[str, Any]
) -> None:
    """Each example price list parses (outbound as 8x8's {"countries": [...]} object)."""
    catch_all(api, json=body)
    prices = await client.get_prices()
    assert isinstance(prices, e.PriceList)
    assert [s.subaccount_id for s in prices.subaccounts] == [
        s["subAccountId"] for s in body["subAccounts"]
    ]
    first = prices.subaccounts[0]
    wire = body["subAccounts"][0]
    if "outbound" in wire:
        country = first.outbound[0]
        assert (country.alpha2_code, country.dialing_prefix) == ("SG", "+65")
        operator = country.operators[0]
        assert (operator.operator_name, operator.operator_id) == ("SingTel", 525001)
        assert [(h.mcc, h.mnc) for h in operator.hni] == [
            ("525", "01"),
            ("525", "02"),
            ("525", "07"),
        ]
        amount = wire["outbound"]["countries"][0]["operators"][0]["price"]["amount"]
        assert operator.price is not None
        assert operator.price.amount == Decimal(str(amount))
        assert operator.price.currency == "SGD"
    else:
        assert first.outbound == ()
    with_inbound = [i for i, w in enumerate(body["subAccounts"]) if "inbound" in w]
    assert [i for i, s in enumerate(prices.subaccounts) if s.inbound] == with_inbound
    inbound = prices.subaccounts[with_inbound[0]].inbound[0]
    assert inbound.alpha2_code == "SG"
    number = inbound.number_types[0]
    assert number.type in ("tollfree", "tollFree")  # the enum's spelling, or 8x8's example's
    assert number.default_price is not None
    assert number.default_price.amount == Decimal("0.01")


async def test_get_prices_outbound_as_schema_array(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """The schema's shape (outbound as an array of countries) parses too."""
    country = {
        "alpha2Code": "SG",
        "countryName": "Singapore",
        "dialingPrefix": "+65",
        "operators": [
            {
                "operatorName": "SingTel",
                "operatorId": 525001,
                "hni": [{"mcc": "525", "mnc": "01"}],
                "price": {"amount": 0.0099171, "currency": "SGD"},
            }
        ],
    }
    catch_all(api, json={"subAccounts": [{"subAccountId": "x", "outbound": [country]}]})
    prices = await client.get_prices()
    price = prices.subaccounts[0].outbound[0].operators[0].price
    assert price is not None
    assert price.amount == Decimal("0.0099171")


PRICE_REFUSED = [
    pytest.param({"country": "SGP"}, "country", id="country"),
    pytest.param({"mcc": 525}, "mnc", id="mcc-without-mnc"),
    pytest.param({"mnc": 1}, "mcc", id="mnc-without-mcc"),
    pytest.param({"mcc": -1, "mnc": 1}, "mcc", id="negative-mcc"),
    pytest.param({"mcc": "525", "mnc": 1}, "mcc", id="string-mcc"),
    pytest.param({"direction": "sideways"}, "direction", id="direction"),
    pytest.param({"subaccount_id": "a/b"}, "subaccount_id", id="subaccount"),
    pytest.param({"account_id": "not-a-guid"}, "account_id", id="account"),
]


@pytest.mark.parametrize(("kwargs", "field"), PRICE_REFUSED)
async def test_get_prices_refuses_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """Price filters are checked before any request (mcc and mnc come in pairs)."""
    route = catch_all(api, json={"subAccounts": []})
    with pytest.raises(e.ValidationError) as info:
        await client.get_prices(**kwargs)
    assert info.value.field in (field, "mcc" if field == "mnc" else field)
    assert route.call_count == 0


async def test_get_balance_parses_the_oas_example_exactly(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """The balance is a Decimal with every digit 8x8 sent."""
    route = catch_all(api, json=example_of(P_BALANCE, "GET", 200))
    balance = await client.get_balance()
    assert where(sent(route)) == ("GET", f"{ACCOUNTS}/balance")
    assert isinstance(balance, e.Balance)
    assert balance.balance == Decimal("149309.7985931")
    assert balance.currency == "USD"


async def test_get_balance_not_prepaid_is_typed(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """403 with code 1201 raises NotPrepaidError, a PermissionDeniedError."""
    body = example_of(P_BALANCE, "GET", 403)
    catch_all(api, status=403, json=body)
    with pytest.raises(e.NotPrepaidError) as info:
        await client.get_balance()
    assert isinstance(info.value, e.PermissionDeniedError)
    assert info.value.code == 1201


async def test_get_balance_other_403_is_not_not_prepaid(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A 403 with another code stays a plain PermissionDeniedError."""
    catch_all(
        api, status=403, json={"code": 1200, "errorId": "x", "timestamp": "2020-01-01T00:00Z"}
    )
    with pytest.raises(e.PermissionDeniedError) as info:
        await client.get_balance()
    assert not isinstance(info.value, e.NotPrepaidError)


async def test_get_balance_timeouts_are_retried(api: respx.MockRouter, waits: list[float]) -> None:
    """Reading the balance is harmless: a timeout is retried."""
    route = api.route()
    route.side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"balance": 1, "currency": "EUR"}),
    ]
    async with AsyncSmsClient(
        api_key=API_KEY, account_id=ACCOUNT, rate_limits=RateLimits.unlimited()
    ) as sms:
        assert (await sms.get_balance()).balance == Decimal(1)
    assert route.call_count == 2


# --- account id --------------------------------------------------------------------------------


async def test_account_id_missing_is_refused_before_io(api: respx.MockRouter) -> None:
    """Account operations need an account id (argument, client or environment)."""
    route = catch_all(api, json={"balance": 1, "currency": "EUR"})
    async with AsyncSmsClient(api_key=API_KEY, rate_limits=RateLimits.unlimited()) as sms:
        for call in (
            sms.get_balance,
            sms.get_prices,
            sms.list_webhooks,
            lambda: sms.set_webhook(url="https://hooks.example.com/x", subaccount_id="*"),
            lambda: sms.delete_webhooks(subaccount_ids=["*"]),
        ):
            with pytest.raises(e.ValidationError) as info:
                await call()
            assert info.value.field == "account_id"
            assert "EIGHTXEIGHT_ACCOUNT_ID" in str(info.value)
    assert route.call_count == 0


async def test_account_id_from_environment_and_override(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIGHTXEIGHT_ACCOUNT_ID is the default; account_id= on a call wins."""
    monkeypatch.setenv("EIGHTXEIGHT_ACCOUNT_ID", ACCOUNT)
    route = catch_all(api, json={"balance": 1, "currency": "EUR"})
    async with AsyncSmsClient(api_key=API_KEY, rate_limits=RateLimits.unlimited()) as sms:
        await sms.get_balance()
        await sms.get_balance(account_id=OTHER_ACCOUNT)
    assert where(sent(route, 0)) == ("GET", f"{ACCOUNTS}/balance")
    assert where(sent(route, 1)) == ("GET", f"/api/v1/accounts/{OTHER_ACCOUNT}/balance")


@pytest.mark.parametrize(
    "bad",
    ["3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5", "3f1b2c4d/5e6f-4a7b-8c9d-0e1f2a3b4c5d", "g" * 32, 42],
)
def test_account_id_rule_in_constructor(bad: object) -> None:
    """The client refuses an account id that breaks 8x8's GUID rule."""
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key=API_KEY, account_id=bad)  # type: ignore[arg-type]
    assert info.value.field == "account_id"


# --- webhooks ----------------------------------------------------------------------------------

SECRET_AUTH = "Basic dXNlcjpzM2NyZXQ="
SECRET_OAUTH = "oauth-client-s3cret"


async def test_list_webhooks_parses_the_oas_example(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """GET webhooks returns typed webhooks; masked secrets parse, and stay out of reprs."""
    body = example_of(P_WEBHOOKS, "GET", 200)
    route = catch_all(api, json=body)
    hooks = await client.list_webhooks()
    assert where(sent(route)) == ("GET", f"{ACCOUNTS}/webhooks")
    assert isinstance(hooks, tuple)
    assert [(h.subaccount_id, h.url, h.enabled) for h in hooks] == [
        (w["subAccountId"], w["url"], w["enabled"]) for w in body
    ]
    assert all(isinstance(h, e.Webhook) for h in hooks)
    oauth = hooks[0].oauth
    assert oauth is not None
    assert (oauth.url, oauth.client_id, oauth.scope) == (
        "https://auth.example.com/oauth/token",
        "my-client-id",
        "read write",
    )
    assert oauth.credentials_location == "header"
    assert hooks[1].http_authorization == "***"
    assert hooks[2].http_authorization is None
    assert hooks[2].oauth is None


async def test_set_webhook_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """set_webhook POSTs a JSON array of one webhook, scoped to the client's subaccount."""
    route = catch_all(api)
    await client.set_webhook(url="https://hooks.example.com/8x8", http_authorization=SECRET_AUTH)
    assert where(sent(route)) == ("POST", f"{ACCOUNTS}/webhooks")
    assert sent_json(route) == [
        {
            "subAccountId": SUB,
            "url": "https://hooks.example.com/8x8",
            "enabled": True,
            "httpAuthorization": SECRET_AUTH,
        }
    ]


async def test_set_webhook_oauth_all_subaccounts_disabled(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """An OAuth webhook for every subaccount ("*"), disabled, goes out with 8x8's keys."""
    route = catch_all(api)
    await client.set_webhook(
        url="https://hooks.example.com/all",
        subaccount_id="*",
        enabled=False,
        oauth=e.WebhookOAuth(
            url="https://auth.example.com/token",
            client_id="cid",
            client_secret=SECRET_OAUTH,
            credentials_location="body",
            scope="sms.events",
        ),
        account_id=OTHER_ACCOUNT,
    )
    assert where(sent(route)) == ("POST", f"/api/v1/accounts/{OTHER_ACCOUNT}/webhooks")
    assert sent_json(route) == [
        {
            "subAccountId": "*",
            "url": "https://hooks.example.com/all",
            "enabled": False,
            "oauth": {
                "url": "https://auth.example.com/token",
                "clientId": "cid",
                "clientSecret": SECRET_OAUTH,
                "credentialsLocation": "body",
                "scope": "sms.events",
            },
        }
    ]


async def test_webhook_secrets_never_in_logs_reprs_or_errors(
    api: respx.MockRouter, client: AsyncSmsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The webhook's Authorization value and OAuth secret stay out of logs, reprs and errors."""
    catch_all(
        api, status=400, json={"code": 1000, "errorId": "x", "timestamp": "2020-01-01T00:00Z"}
    )
    oauth = e.WebhookOAuth(
        url="https://auth.example.com/token",
        client_id="cid",
        client_secret=SECRET_OAUTH,
        credentials_location="header",
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(e.BadRequestError) as info:
        await client.set_webhook(url="https://hooks.example.com/8x8", oauth=oauth)
    with pytest.raises(e.BadRequestError) as info2:
        await client.set_webhook(
            url="https://hooks.example.com/8x8", http_authorization=SECRET_AUTH
        )
    hook = e.Webhook(
        subaccount_id="x", url="https://h.example.com", http_authorization=SECRET_AUTH, oauth=oauth
    )
    seen = caplog.text + repr(oauth) + repr(hook) + str(info.value) + str(info2.value)
    seen += repr(info.value.request) + repr(info.value.__dict__) + repr(info2.value.__dict__)
    assert SECRET_OAUTH not in seen
    assert SECRET_AUTH not in seen
    assert "dXNlcjpzM2NyZXQ" not in seen


WEBHOOK_REFUSED = [
    pytest.param({"url": "ftp://hooks.example.com"}, "url", id="scheme"),
    pytest.param({"url": ""}, "url", id="empty-url"),
    pytest.param(
        {"url": "https://h.example.com", "subaccount_id": "a/b"}, "subaccount_id", id="sub"
    ),
    pytest.param({"url": "https://h.example.com", "enabled": "yes"}, "enabled", id="enabled"),
    pytest.param(
        {"url": "https://h.example.com", "http_authorization": "Basic x\r\nX-Evil: 1"},
        "http_authorization",
        id="header-injection",
    ),
    pytest.param({"url": "https://h.example.com", "account_id": "nope"}, "account_id", id="acct"),
]


@pytest.mark.parametrize(("kwargs", "field"), WEBHOOK_REFUSED)
async def test_set_webhook_refuses_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """Webhook rules raise ValidationError before any request, never echoing a secret."""
    route = catch_all(api)
    with pytest.raises(e.ValidationError) as info:
        await client.set_webhook(**kwargs)
    assert info.value.field == field
    assert route.call_count == 0
    assert "Basic x" not in str(info.value)


async def test_set_webhook_without_any_subaccount_is_refused(api: respx.MockRouter) -> None:
    """With no subaccount on the call or the client, the webhook's scope must be given."""
    route = catch_all(api)
    async with AsyncSmsClient(api_key=API_KEY, account_id=ACCOUNT) as sms:
        with pytest.raises(e.ValidationError) as info:
            await sms.set_webhook(url="https://hooks.example.com/x")
    assert info.value.field == "subaccount_id"
    assert route.call_count == 0


async def test_delete_webhooks_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """delete_webhooks DELETEs with a JSON array body; the default is the client's subaccount."""
    route = catch_all(api)
    await client.delete_webhooks()
    await client.delete_webhooks(subaccount_ids=["*", "a&b_hq"])
    assert where(sent(route, 0)) == ("DELETE", f"{ACCOUNTS}/webhooks")
    assert sent(route, 0).headers["Content-Type"] == "application/json"
    assert sent_json(route, 0) == [{"subAccountId": SUB}]
    assert sent_json(route, 1) == [{"subAccountId": "*"}, {"subAccountId": "a&b_hq"}]


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        pytest.param([], "subaccount_ids", id="empty"),
        pytest.param("acme_hq", "subaccount_ids", id="a-string"),
        pytest.param(["ok_hq", "a/b"], "subaccount_ids[1]", id="bad-item"),
    ],
)
async def test_delete_webhooks_refuses_before_io(
    api: respx.MockRouter, client: AsyncSmsClient, ids: Any, field: str
) -> None:
    """The subaccount list is checked whole before any request."""
    route = catch_all(api)
    with pytest.raises(e.ValidationError) as info:
        await client.delete_webhooks(subaccount_ids=ids)
    assert info.value.field == field
    assert route.call_count == 0


ODD_ID = "a/b?c#d%e&f g"
ODD_WIRE = "a%2Fb%3Fc%23d%25e%26f%20g"


@pytest.mark.parametrize(
    ("call", "method", "path", "success"),
    [
        pytest.param(
            lambda c: c.send_survey_batch(ODD_ID, messages=[{"destination": PHONE}]),
            "POST",
            f"{SUBS}/surveys/{ODD_WIRE}/messages/batch",
            200,
            id="send_survey_batch",
        ),
        pytest.param(
            lambda c: c.cancel_message(ODD_ID),
            "DELETE",
            f"{SUBS}/messages/{ODD_WIRE}",
            200,
            id="cancel_message",
        ),
        pytest.param(
            lambda c: c.cancel_batch(ODD_ID),
            "DELETE",
            f"{SUBS}/messages/batch/{ODD_WIRE}",
            200,
            id="cancel_batch",
        ),
        pytest.param(
            lambda c: c.delete_pii(ODD_ID),
            "DELETE",
            f"{SUBS}/messages/{ODD_WIRE}/pii",
            202,
            id="delete_pii",
        ),
        pytest.param(
            lambda c: c.get_log_export(ODD_ID),
            "GET",
            f"{SUBS}/messages/exports/{ODD_WIRE}",
            200,
            id="get_log_export",
        ),
        pytest.param(
            lambda c: c.cancel_log_export(ODD_ID),
            "DELETE",
            f"{SUBS}/messages/exports/{ODD_WIRE}",
            204,
            id="cancel_log_export",
        ),
    ],
)
async def test_path_ids_stay_inside_their_segment(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    call: OpCall,
    method: str,
    path: str,
    success: int,
) -> None:
    """A path id holding "/", "?", "#", "%", "&" or a space is refused before any request.

    (It used to be percent-encoded and sent; 8x8's ids are unreserved characters only.)
    """
    route = catch_all(api, status=success)
    with pytest.raises(e.ValidationError) as info:
        await call(client)
    assert info.value.field in ("umid", "survey_id", "batch_id", "job_id")
    assert not route.called


# --- every documented error status of every operation -----------------------------------------

OPERATIONS: list[tuple[str, str, str, OpCall]] = [
    (
        "send_batch",
        P_BATCH,
        "POST",
        lambda c: c.send_batch(destinations=[PHONE], template={"text": "x"}),
    ),
    (
        "send_survey_batch",
        P_SURVEY_BATCH,
        "POST",
        lambda c: c.send_survey_batch("nps", messages=[{"destination": PHONE}]),
    ),
    ("cancel_message", P_MESSAGE, "DELETE", lambda c: c.cancel_message(UMID)),
    ("cancel_batch", P_CANCEL_BATCH, "DELETE", lambda c: c.cancel_batch(BATCH_ID)),
    ("delete_pii", P_PII, "DELETE", lambda c: c.delete_pii(UMID)),
    ("start_log_export", P_EXPORTS, "POST", lambda c: c.start_log_export()),
    ("get_log_export", P_EXPORT, "GET", lambda c: c.get_log_export(JOB_ID)),
    ("cancel_log_export", P_EXPORT, "DELETE", lambda c: c.cancel_log_export(JOB_ID)),
    ("get_prices", P_PRICES, "GET", lambda c: c.get_prices(country="SG")),
    ("get_balance", P_BALANCE, "GET", lambda c: c.get_balance()),
    ("list_webhooks", P_WEBHOOKS, "GET", lambda c: c.list_webhooks()),
    (
        "set_webhook",
        P_WEBHOOKS,
        "POST",
        lambda c: c.set_webhook(url="https://hooks.example.com/x"),
    ),
    ("delete_webhooks", P_WEBHOOKS, "DELETE", lambda c: c.delete_webhooks()),
]

STATUS_CLASSES: dict[int, type[e.APIStatusError]] = {
    400: e.BadRequestError,
    401: e.AuthenticationError,
    403: e.PermissionDeniedError,
    404: e.NotFoundError,
    426: e.UpgradeRequiredError,
    429: e.RateLimitError,
    500: e.InternalServerError,
}


def error_cases() -> list[Any]:
    cases = []
    for name, path, method, call in OPERATIONS:
        for status, answer in sorted(responses(path, method).items()):
            if status < 400:
                continue
            bodies = examples(answer) or [
                {"code": status, "errorId": "generated", "timestamp": "2020-01-01T00:00:00Z"}
            ]
            for index, body in enumerate(bodies):
                suffix = f"-{index}" if len(bodies) > 1 else ""
                cases.append(pytest.param(call, status, body, id=f"{name}-{status}{suffix}"))
    return cases


ERROR_CASES = error_cases()


def test_every_new_operation_has_documented_errors() -> None:
    """The table covers the 13 operations, and 8x8's file documents errors for them."""
    assert len(OPERATIONS) == 13
    assert len({name for name, *_ in OPERATIONS}) == 13
    # start-log-export documents no error; every other operation documents at least one.
    assert len({str(case.id).split("-")[0] for case in ERROR_CASES}) == 12


@pytest.mark.parametrize(("call", "status", "body"), ERROR_CASES)
async def test_documented_error_statuses_are_mapped(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    waits: list[float],
    call: OpCall,
    status: int,
    body: dict[str, Any],
) -> None:
    """Every error status the OAS documents for an operation raises its class, 8x8's code kept."""
    catch_all(api, status=status, json=body, headers={"Retry-After": "1"})
    with pytest.raises(STATUS_CLASSES[status]) as info:
        await call(client)
    assert info.value.status_code == status
    assert info.value.code == body.get("code")
    if status == 403 and body.get("code") == 1201:
        assert isinstance(info.value, e.NotPrepaidError)


@pytest.mark.parametrize(
    ("name", "path", "method", "call"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
async def test_each_operation_uses_its_documented_method_and_path(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    name: str,
    path: str,
    method: str,
    call: OpCall,
) -> None:
    """Each of the 13 methods sends its OAS method to its OAS path, parameters filled in."""
    success = min(s for s in responses(path, method) if s < 300)
    body: Any = None
    if success == 200:
        answers = examples(responses(path, method)[200])
        body = answers[0] if answers else None
    if name in ("set_webhook", "delete_webhooks"):
        body = None
    if name == "get_log_export":
        body = {"status": "running"}
    route = (
        catch_all(api, status=success, json=body)
        if body is not None
        else catch_all(api, status=success)
    )
    if name == "start_log_export":
        route = catch_all(api, status=202, json={"jobId": "j"})
    await call(client)
    filled = (
        path.replace("{subAccountId}", SUB_WIRE)
        .replace("{accountId}", ACCOUNT)
        .replace("{surveyId}", "nps")
        .replace("{batchId}", BATCH_ID)
        .replace("{umid}", UMID)
        .replace("{jobId}", JOB_ID)
    )
    request = sent(route)
    assert request.method == method
    assert request.url.raw_path.decode().split("?")[0] == filled


async def test_raw_response_of_a_new_operation(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """with_raw_response works for the new operations: parsed value, status, request id."""
    catch_all(api, json={"balance": 12.5, "currency": "SGD"}, headers={"X-Request-Id": "r-1"})
    raw = await client.with_raw_response.get_balance()
    assert raw.parsed.balance == Decimal("12.5")
    assert raw.status_code == 200


async def test_with_options_account_id(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """with_options(account_id=...) points account operations at another account."""
    route = catch_all(api, json={"balance": 1, "currency": "SGD"})
    await client.with_options(account_id=OTHER_ACCOUNT).get_balance()
    assert where(sent(route)) == ("GET", f"/api/v1/accounts/{OTHER_ACCOUNT}/balance")
