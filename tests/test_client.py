"""AsyncSmsClient over respx: exact requests, typed results, errors, retries and lifecycle."""

from __future__ import annotations

import json
import logging
import ssl
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
import tenacity

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, Region, RetryPolicy

from .conftest import API_KEY, BASE_URL, PHONE, SUBACCOUNT, TEXT, reference_examples

SEND_PATH = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
UMID = "bda3d56d-1424-e711-813c-06ed3428fe67"
SMS_OK = reference_examples()["send-sms"][0]
DETAILS_OK = reference_examples()["get-message-details"][1]


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# --- the four endpoints -------------------------------------------------------------------------


async def test_send_sms_sends_exact_request(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """send_sms POSTs 8x8's JSON to the subaccount's messages URL with auth and User-Agent."""
    route = api.post(SEND_PATH).respond(200, json=SMS_OK)
    result = await client.send_sms(
        destination=PHONE,
        text=TEXT,
        source="Acme",
        track="Outcome",
        client_message_id="otp-1",
        country="SG",
        encoding=e.Encoding.GSM7,
        client_ip="203.0.113.9",
        dlr_callback_url="https://hooks.example.com/dlr",
    )
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}{SEND_PATH}"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith(f"eightxeight-async/{e.__version__} ")
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json(route) == {
        "destination": PHONE,
        "text": TEXT,
        "country": "SG",
        "source": "Acme",
        "clientMessageId": "otp-1",
        "encoding": "GSM7",
        "dlrCallbackUrl": "https://hooks.example.com/dlr",
        "clientIp": "203.0.113.9",
        "track": "Outcome",
    }
    assert isinstance(result, e.SmsResponse)
    assert result.umid == SMS_OK["umid"]
    assert result.status.code == "QUEUED"
    assert result.client_message_id == "1234"
    assert not result.rejected


async def test_send_sms_generates_client_message_id(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Without a client_message_id, a fresh one is generated and sent for every message."""
    route = api.post(SEND_PATH).respond(200, json=SMS_OK)
    await client.send_sms(destination=PHONE, text=TEXT)
    await client.send_sms(destination=PHONE, text=TEXT)
    first, second = sent_json(route, 0)["clientMessageId"], sent_json(route, 1)["clientMessageId"]
    assert first != second
    assert len(first) == 32


async def test_send_sms_scheduled_written_with_offset(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Aware datetimes go out as RFC 3339 instants in UTC (the same instant, written with Z)."""
    route = api.post(SEND_PATH).respond(200, json=SMS_OK)
    when = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) + timedelta(hours=3)
    await client.send_sms(destination=PHONE, text=TEXT, scheduled=when, expiry=when + timedelta(1))
    body = sent_json(route)
    utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    assert body["scheduled"] == utc.isoformat() + "Z"


async def test_send_sms_rejected_in_200(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """HTTP 200 with status REJECTED is a result, not an exception."""
    api.post(SEND_PATH).respond(
        200,
        json={
            "umid": UMID,
            "destination": "6591234567",
            "encoding": "GSM7",
            "status": {"code": "REJECTED", "description": "Invalid Source value. Reached max"},
        },
    )
    result = await client.send_sms(destination=PHONE, text=TEXT)
    assert result.rejected
    assert result.status.code is e.SmsStatusCode.REJECTED


async def test_send_survey_sends_exact_request(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """send_survey POSTs the template body and variables to the survey's URL, no text or track."""
    route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/surveys/nps-2026.q4~x/messages").respond(
        200, json=reference_examples()["send-survey"][0]
    )
    result = await client.send_survey(
        "nps-2026.q4~x",
        destination="+6587755388",
        country="SG",
        template_body="Hello {{firstName}}, take survey here {{url:firstName}}",
        template_variables={"firstName": "James", "age": 24},
        source="YourBrand",
        client_message_id="ABC1000",
        encoding="AUTO",
    )
    assert sent_json(route) == {
        "destination": "+6587755388",
        "country": "SG",
        "templateBody": "Hello {{firstName}}, take survey here {{url:firstName}}",
        "templateVariables": {"firstName": "James", "age": 24},
        "source": "YourBrand",
        "clientMessageId": "ABC1000",
        "encoding": "AUTO",
    }
    assert result.umid == "bda3d56d-1424-e711-813c-06ed3428fe67"


async def test_get_message(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """get_message GETs the message URL and returns typed details."""
    route = api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}").respond(
        200, json=DETAILS_OK
    )
    details = await client.get_message(UMID)
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.content == b""
    assert "Content-Type" not in request.headers
    assert details.status.state is e.MessageState.DELIVERED
    assert details.msisdn == "+63922110xxxx"
    assert details.sms_count == 2


async def test_send_feedback_empty_200(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """send_feedback POSTs outcome and timestamp and returns None on an empty 200."""
    route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}/feedback").respond(200)
    ts = datetime(2019, 2, 17, 15, 31, 55, 600000, tzinfo=timezone.utc)
    await client.send_feedback(UMID, outcome="success", timestamp=ts)
    assert sent_json(route) == {
        "outcome": "success",
        "timestamp": "2019-02-17T15:31:55.600000Z",
    }


async def test_subaccount_is_percent_encoded_and_overridable(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A subaccount with '&' is encoded in the path; a per-call subaccount wins."""
    route = api.post("/api/v1/subaccounts/sales%26ops/messages").respond(200, json=SMS_OK)
    await client.send_sms(destination=PHONE, text=TEXT, subaccount_id="sales&ops")
    assert route.calls.last.request.url.raw_path == b"/api/v1/subaccounts/sales%26ops/messages"


async def test_per_call_timeout_reaches_the_request(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """timeout= on a call replaces the client's timeout for that request."""
    route = api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}").respond(
        200, json=DETAILS_OK
    )
    await client.get_message(UMID, timeout=2.5)
    assert route.calls.last.request.extensions["timeout"]["read"] == 2.5


# --- configuration -----------------------------------------------------------------------------


def test_missing_api_key_is_a_validation_error() -> None:
    """No key in argument or environment: ValidationError(field='api_key') before any I/O."""
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient()
    assert info.value.field == "api_key"


async def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key, subaccount and base URL come from the environment when not given."""
    monkeypatch.setenv("EIGHTXEIGHT_API_KEY", "env-key")
    monkeypatch.setenv("EIGHTXEIGHT_SUBACCOUNT_ID", "env_sub")
    monkeypatch.setenv("EIGHTXEIGHT_BASE_URL", "https://proxy.example.com/")
    async with AsyncSmsClient(rate_limits=RateLimits.unlimited()) as client:
        assert client.base_url == "https://proxy.example.com"
        assert client.subaccount_id == "env_sub"
        with respx.mock(base_url="https://proxy.example.com") as router:
            route = router.post("/api/v1/subaccounts/env_sub/messages").respond(200, json=SMS_OK)
            await client.send_sms(destination=PHONE, text=TEXT)
        assert route.calls.last.request.headers["Authorization"] == "Bearer env-key"


async def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit arguments override the environment."""
    monkeypatch.setenv("EIGHTXEIGHT_BASE_URL", "https://proxy.example.com")
    monkeypatch.setenv("EIGHTXEIGHT_SUBACCOUNT_ID", "env_sub")
    async with AsyncSmsClient(api_key="k", subaccount_id="arg_sub", base_url=BASE_URL) as c:
        assert c.base_url == BASE_URL
        assert c.subaccount_id == "arg_sub"


@pytest.mark.parametrize(
    ("region", "host"),
    [
        (Region.APAC, "https://sms.8x8.com"),
        (Region.NA, "https://sms.us.8x8.com"),
        ("EU", "https://sms.8x8.uk"),
        (Region.ID, "https://sms.8x8.id"),
    ],
)
async def test_regions_pick_their_host(region: Region | str, host: str) -> None:
    """Each region maps to its documented host."""
    async with AsyncSmsClient(api_key="k", region=region) as client:
        assert client.base_url == host


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"region": "MARS"}, "region"),
        ({"base_url": "http://sms.8x8.com"}, "base_url"),
        ({"subaccount_id": "a b"}, "subaccount_id"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"verify": False}, "verify"),
        ({"verify": "/nonexistent/ca.pem"}, "verify"),
        ({"transport": "curl"}, "transport"),
        ({"api_key": "two words"}, "api_key"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_constructor_validates(kwargs: dict[str, Any], field: str) -> None:
    """Bad settings raise ValidationError naming the argument."""
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(**{"api_key": "k", **kwargs})
    assert info.value.field == field


async def test_missing_subaccount_fails_before_io(api: respx.MockRouter) -> None:
    """Without any subaccount, a call raises ValidationError(field='subaccount_id')."""
    route = api.route().respond(200)
    async with AsyncSmsClient(api_key="k") as client:
        with pytest.raises(e.ValidationError) as info:
            await client.get_message(UMID)
    assert info.value.field == "subaccount_id"
    assert not route.called


def test_verify_context_below_tls13_is_refused_and_untouched() -> None:
    """An SSLContext allowing TLS 1.2 is refused, and never modified."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key="k", verify=context)
    assert info.value.field == "verify"
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


async def test_verify_context_with_tls13_is_used_as_is() -> None:
    """A caller's TLS 1.3 context is used by the pool."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    async with AsyncSmsClient(api_key="k", verify=context) as client:
        pool = client._sender.client._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context is context


async def test_default_context_requires_tls13() -> None:
    """The client's own SSL context has TLS 1.3 as its minimum."""
    async with AsyncSmsClient(api_key="k") as client:
        pool = client._sender.client._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_repr_hides_the_key() -> None:
    """The API key never appears in the client's repr."""
    client = AsyncSmsClient(api_key=API_KEY, subaccount_id=SUBACCOUNT)
    assert API_KEY not in repr(client)
    assert "'***'" in repr(client)


# --- lifecycle ---------------------------------------------------------------------------------


async def test_aclose_is_idempotent_and_closes_own_pool() -> None:
    """aclose() closes the pool the client made; a second call does nothing."""
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    pool = client._sender.client
    await client.aclose()
    await client.aclose()
    assert pool.is_closed
    assert client.is_closed


async def test_use_after_close_raises_and_sends_nothing(api: respx.MockRouter) -> None:
    """A closed client raises RuntimeError with a sentence, and sends nothing."""
    route = api.route().respond(200, json=SMS_OK)
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed with aclose"):
        await client.send_sms(destination=PHONE, text=TEXT)
    assert not route.called


async def test_cannot_reopen_or_open_twice() -> None:
    """A closed client cannot be reopened, and an open one cannot be entered again."""
    client = AsyncSmsClient(api_key="k")
    async with client:
        with pytest.raises(RuntimeError, match="more than once"):
            await client.__aenter__()
    with pytest.raises(RuntimeError, match="Cannot reopen"):
        await client.__aenter__()


async def test_injected_http_client_is_used_and_never_closed(api: respx.MockRouter) -> None:
    """An injected httpx.AsyncClient carries the requests and stays open after aclose()."""
    route = api.post(SEND_PATH).respond(200, json=SMS_OK)
    async with httpx.AsyncClient() as http:
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, http_client=http) as c:
            assert c._sender.client is http
            await c.send_sms(destination=PHONE, text=TEXT)
        assert not http.is_closed
    assert route.call_count == 1


def test_injected_http_client_refuses_verify_and_transport() -> None:
    """TLS settings cannot be combined with an injected client (they would be ignored)."""
    http = httpx.AsyncClient()
    with pytest.raises(e.ValidationError, match="verify"):
        AsyncSmsClient(api_key="k", http_client=http, verify="/tmp/ca.pem")
    with pytest.raises(e.ValidationError, match="transport"):
        AsyncSmsClient(api_key="k", http_client=http, transport="aiohttp")


async def test_one_pool_reused_across_calls(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """Every call goes through the same httpx.AsyncClient."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    pool = client._sender.client
    for _ in range(3):
        await client.send_sms(destination=PHONE, text=TEXT)
    assert client._sender.client is pool


# --- status errors -----------------------------------------------------------------------------

ERROR_CASES = [
    (400, reference_examples()["send-sms"][3], e.BadRequestError),
    (400, reference_examples()["send-sms"][2], e.BadRequestError),
    (401, reference_examples()["send-sms"][5], e.AuthenticationError),
    (426, reference_examples()["send-sms"][7], e.UpgradeRequiredError),
    (500, reference_examples()["send-sms"][9], e.InternalServerError),
    (404, reference_examples()["get-message-details"][5], e.NotFoundError),
    (
        403,
        {
            "code": 1201,
            "message": "Account not in prepaid mode",
            "errorId": "x",
            "timestamp": "2020-06-18T06:31:58.11Z",
        },
        e.PermissionDeniedError,
    ),
]


@pytest.mark.parametrize(("status", "body", "cls"), ERROR_CASES)
async def test_status_errors_are_typed(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    waits: list[float],
    status: int,
    body: dict[str, Any],
    cls: type[e.APIStatusError],
) -> None:
    """Each documented error response raises its class with 8x8's code and errorId."""
    api.post(SEND_PATH).respond(status, json=body)
    with pytest.raises(cls) as info:
        await client.send_sms(destination=PHONE, text=TEXT)
    assert info.value.code == body["code"]
    assert info.value.error_id == body["errorId"]
    assert info.value.status_code == status
    assert isinstance(info.value.response, httpx.Response)


async def test_non_json_2xx_is_response_validation_error(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A 200 whose body is not JSON raises ResponseValidationError at $."""
    api.post(SEND_PATH).respond(200, text="<html>captive portal</html>")
    with pytest.raises(e.ResponseValidationError) as info:
        await client.send_sms(destination=PHONE, text=TEXT)
    assert info.value.path == "$"


async def test_malformed_2xx_names_the_path(api: respx.MockRouter, client: AsyncSmsClient) -> None:
    """A 200 missing a documented field names it by its wire path."""
    api.post(SEND_PATH).respond(200, json={**SMS_OK, "status": {"description": "x"}})
    with pytest.raises(e.ResponseValidationError) as info:
        await client.send_sms(destination=PHONE, text=TEXT)
    assert info.value.path == "$.status.code"


# --- retries -----------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """A 429 with Retry-After waits exactly that, then succeeds."""
    body = reference_examples()["get-message-details"][7]
    route = api.post(SEND_PATH)
    route.side_effect = [
        httpx.Response(429, json=body, headers={"Retry-After": "2"}),
        httpx.Response(200, json=SMS_OK),
    ]
    result = await client.send_sms(destination=PHONE, text=TEXT)
    assert result.umid == SMS_OK["umid"]
    assert route.call_count == 2
    assert waits == [2.0]
    assert sent_json(route, 0) == sent_json(route, 1)  # same clientMessageId on the retry


async def test_429_exhausts_to_rate_limit_error(api: respx.MockRouter, waits: list[float]) -> None:
    """After max_attempts 429s the user gets RateLimitError, never tenacity.RetryError."""
    route = api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}").respond(
        429,
        headers={"Retry-After": "1"},
        json={"code": 429, "errorId": "e", "timestamp": "2020-07-06T07:07:00.30Z"},
    )
    async with AsyncSmsClient(
        api_key="k",
        subaccount_id=SUBACCOUNT,
        retry=RetryPolicy(max_attempts=3),
        rate_limits=RateLimits.unlimited(),
    ) as client:
        with pytest.raises(e.RateLimitError) as info:
            await client.get_message(UMID)
    assert not isinstance(info.value, tenacity.RetryError)
    assert info.value.retry_after == 1.0
    assert route.call_count == 3
    assert waits == [1.0, 1.0]


async def test_500_is_retried_with_backoff(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """HTTP 500 / code 2000 is retried with jittered backoff, on a send too."""
    route = api.post(SEND_PATH)
    route.side_effect = [
        httpx.Response(500, json=reference_examples()["send-sms"][9]),
        httpx.Response(500, text="upstream exploded"),
        httpx.Response(200, json=SMS_OK),
    ]
    await client.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 3
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.5
    assert 0 <= waits[1] <= 1.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 426, 502])
async def test_other_errors_are_not_retried(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float], status: int
) -> None:
    """Other 4xx, 426 and non-500 5xx are raised after one attempt."""
    route = api.post(SEND_PATH).respond(
        status, json={"code": 1000, "errorId": "x", "timestamp": "2020-06-18T06:42:57.20Z"}
    )
    with pytest.raises(e.APIStatusError):
        await client.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 1
    assert waits == []


async def test_connect_error_before_send_is_retried(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """A connection that never opened is retried even for a send: nothing reached 8x8."""
    route = api.post(SEND_PATH)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=SMS_OK)]
    await client.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ReadTimeout("slow"), id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("Server disconnected"), id="disconnect"),
        pytest.param(httpx.ReadError("reset"), id="reset"),
        pytest.param(httpx.WriteTimeout("stuck"), id="write-timeout"),
    ],
)
async def test_ambiguous_send_raises_outcome_unknown(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float], failure: Exception
) -> None:
    """A send that failed after the body went out is not replayed: SendOutcomeUnknownError."""
    route = api.post(SEND_PATH)
    route.side_effect = failure
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 1
    assert info.value.client_message_id == sent_json(route)["clientMessageId"]
    assert info.value.__cause__ is not None
    assert isinstance(info.value.__cause__, httpx.TransportError)


async def test_ambiguous_survey_raises_outcome_unknown_with_callers_id(
    api: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Surveys are sends too; the caller's client_message_id is carried."""
    route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/surveys/nps/messages")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(e.SendOutcomeUnknownError) as info:
        await client.send_survey("nps", destination=PHONE, client_message_id="mine-1")
    assert info.value.client_message_id == "mine-1"


async def test_replay_opt_in_retries_ambiguous_sends(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """With replay_ambiguous_sends the send is retried with the same clientMessageId."""
    route = api.post(SEND_PATH)
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=SMS_OK)]
    async with AsyncSmsClient(
        api_key="k",
        subaccount_id=SUBACCOUNT,
        retry=RetryPolicy(replay_ambiguous_sends=True),
        rate_limits=RateLimits.unlimited(),
    ) as client:
        await client.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 2
    assert sent_json(route, 0)["clientMessageId"] == sent_json(route, 1)["clientMessageId"]


async def test_get_message_timeouts_are_retried(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """Reading is harmless: read timeouts on get_message are retried, then raised as timeouts."""
    route = api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(e.APITimeoutError):
        await client.get_message(UMID)
    assert route.call_count == RetryPolicy().max_attempts
    assert len(waits) == RetryPolicy().max_attempts - 1


async def test_feedback_timeout_is_not_replayed(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """A feedback whose outcome is unknown raises APITimeoutError after one attempt."""
    route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}/feedback")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(e.APITimeoutError):
        await client.send_feedback(UMID, outcome="failure")
    assert route.call_count == 1


def ssl_failure(error: ssl.SSLError) -> httpx.ConnectError:
    """An httpx.ConnectError chained to an ssl error, as httpcore raises it."""
    try:
        try:
            raise error
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as wrapped:
        return wrapped


def version_error() -> ssl.SSLError:
    err = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    err.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    return err


class FailingTransport(httpx.AsyncBaseTransport):
    """Raises a chained transport error the way httpcore does (respx re-chains causes)."""

    def __init__(self, make_error: Any) -> None:
        self.make_error = make_error
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise self.make_error()


async def test_tls_version_failure_is_never_retried(waits: list[float]) -> None:
    """A server without TLS 1.3 raises TLSVersionError after exactly one attempt."""
    transport = FailingTransport(lambda: ssl_failure(version_error()))
    async with httpx.AsyncClient(transport=transport) as http:
        client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, http_client=http)
        with pytest.raises(e.TLSVersionError) as info:
            await client.send_sms(destination=PHONE, text=TEXT)
    assert transport.calls == 1
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_certificate_failure_is_a_connection_error_not_retried(waits: list[float]) -> None:
    """A certificate that fails verification is an APIConnectionError, never retried."""
    transport = FailingTransport(
        lambda: ssl_failure(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    )
    async with httpx.AsyncClient(transport=transport) as http:
        client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, http_client=http)
        with pytest.raises(e.APIConnectionError) as info:
            await client.get_message(UMID)
    assert type(info.value) is e.APIConnectionError
    assert transport.calls == 1


async def test_max_attempts_one_never_retries(api: respx.MockRouter, waits: list[float]) -> None:
    """RetryPolicy(max_attempts=1) makes one attempt even on a 429."""
    route = api.post(SEND_PATH).respond(429, headers={"Retry-After": "1"})
    async with AsyncSmsClient(
        api_key="k", subaccount_id=SUBACCOUNT, retry=RetryPolicy.never()
    ) as c:
        with pytest.raises(e.RateLimitError):
            await c.send_sms(destination=PHONE, text=TEXT)
    assert route.call_count == 1


# --- secrets -----------------------------------------------------------------------------------


async def test_logs_one_debug_line_per_attempt_without_secrets(
    api: respx.MockRouter,
    client: AsyncSmsClient,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each attempt logs method, endpoint, status, attempt and elapsed; never key, text, number."""
    route = api.post(SEND_PATH)
    route.side_effect = [httpx.Response(500), httpx.Response(200, json=SMS_OK)]
    with caplog.at_level(logging.DEBUG, logger="eightxeight_async"):
        await client.send_sms(destination=PHONE, text=TEXT)
    lines = [r.getMessage() for r in caplog.records if r.name == "eightxeight_async"]
    assert len(lines) == 2
    assert lines[0].startswith("POST send_sms -> 500 (attempt 1, ")
    assert lines[1].startswith("POST send_sms -> 200 (attempt 2, ")
    for line in lines:
        assert API_KEY not in line
        assert TEXT not in line
        assert PHONE[1:] not in line


async def test_errors_never_carry_secrets(
    api: respx.MockRouter, client: AsyncSmsClient, waits: list[float]
) -> None:
    """Error messages and reprs hold neither the key, the text nor the phone number."""
    route = api.post(SEND_PATH)
    failures: list[BaseException] = []
    for side_effect in (
        httpx.Response(400, json=reference_examples()["send-sms"][3]),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    ):
        route.side_effect = [side_effect] * RetryPolicy().max_attempts
        with pytest.raises(e.APIError) as info:
            await client.send_sms(destination=PHONE, text=TEXT)
        failures.append(info.value)
    for failure in failures:
        for rendered in (str(failure), repr(failure)):
            assert API_KEY not in rendered
            assert TEXT not in rendered
            assert PHONE[1:] not in rendered


def test_unknown_region_chains_no_exception() -> None:
    """The refused value must not ride along on __context__ (it would show in tracebacks)."""
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key="k", region="MARS")
    assert info.value.field == "region"
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
