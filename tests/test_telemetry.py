"""OpenTelemetry spans and measurements, checked with the SDK's in-memory exporter and reader."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._retry import CallKind, retry_call
from eightxeight_async._telemetry import GLOBAL, telemetry_for

from .conftest import API_KEY, PHONE, SUBACCOUNT, TEXT, reference_examples
from .telemetry_support import Otel, attrs_of, secrets_found
from .test_layering import imported, package_modules, parse
from .virtual_time import run_virtual

SEND_PATH = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
SMS_OK = reference_examples()["send-sms"][0]
DETAILS_OK = reference_examples()["get-message-details"][1]
UMID = "bda3d56d-1424-e711-813c-06ed3428fe67"
DETAILS_PATH = f"{SEND_PATH}/{UMID}"
ERROR_500 = {"code": 2000, "message": "Internal error", "errorId": "e-1", "timestamp": None}
REQUESTS = "eightxeight.client.requests"
RETRIES = "eightxeight.client.retries"
RATE_LIMITED = "eightxeight.client.rate_limited"
UNKNOWN = "eightxeight.client.send_outcome_unknown"
DURATION = "eightxeight.client.operation.duration"


@pytest.fixture
def otel() -> Otel:
    return Otel.create()


@pytest.fixture
async def client(otel: Otel) -> AsyncIterator[AsyncSmsClient]:
    """A client whose calls go to the in-memory SDK setup; no rate limits."""
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUBACCOUNT, rate_limits=RateLimits.unlimited()
    ) as sms:
        yield otel.instrument(sms)


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# --- spans -------------------------------------------------------------------------------------


async def test_a_send_makes_an_operation_span_and_an_attempt_span(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """send_sms: "8x8 send_sms" (INTERNAL) over one CLIENT attempt, both with the safe facts."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    sent = await client.send_sms(destination=PHONE, text=TEXT)
    operation = only(otel.operations())
    assert operation.name == "8x8 send_sms"
    assert operation.kind is SpanKind.INTERNAL
    assert operation.status.status_code is StatusCode.UNSET
    assert dict(attrs_of(operation)) == {
        "eightxeight.operation": "send_sms",
        "eightxeight.subaccount_id": SUBACCOUNT,
        "eightxeight.attempts": 1,
        "http.response.status_code": 200,
        "eightxeight.umid": sent.umid,
    }
    attempt = only(otel.attempts_of(operation))
    assert attempt.name == "POST /api/v1/subaccounts/{subaccount_id}/messages"
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.status.status_code is StatusCode.UNSET
    attributes = dict(attrs_of(attempt))
    assert attributes.pop("eightxeight.rate_limiter.wait") >= 0
    assert attributes == {
        "eightxeight.operation": "send_sms",
        "http.request.method": "POST",
        "server.address": "sms.8x8.com",
        "server.port": 443,
        "url.template": "/api/v1/subaccounts/{subaccount_id}/messages",
        "eightxeight.attempt": 1,
        "http.response.status_code": 200,
    }
    assert operation.parent is None  # no span was current: a new trace
    assert attempt.context.trace_id == operation.context.trace_id


async def test_a_429_then_success_records_the_pause_and_the_retry_wait(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """The 429's attempt fails with the bucket pause; the next one carries the wait before it."""
    api.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json={"code": 1002}),
            httpx.Response(200, json=SMS_OK),
        ]
    )
    await client.send_sms(destination=PHONE, text=TEXT)
    assert waits == [2.0]
    operation = only(otel.operations())
    assert operation.status.status_code is StatusCode.UNSET
    assert attrs_of(operation)["eightxeight.attempts"] == 2
    first, second = otel.attempts_of(operation)
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "RateLimitError: HTTP 429, code 1002"
    assert attrs_of(first)["http.response.status_code"] == 429
    assert attrs_of(first)["eightxeight.error.code"] == 1002
    assert attrs_of(first)["error.type"] == "RateLimitError"
    assert attrs_of(first)["eightxeight.rate_limit.pause"] == 2.0
    assert "eightxeight.retry.wait" not in attrs_of(first)
    assert second.status.status_code is StatusCode.UNSET
    assert attrs_of(second)["eightxeight.attempt"] == 2
    assert attrs_of(second)["http.request.resend_count"] == 1
    assert attrs_of(second)["eightxeight.retry.wait"] == 2.0
    assert "error.type" not in attrs_of(second)
    assert otel.total(RATE_LIMITED, eightxeight__operation="send_sms") == 1
    assert otel.total(RETRIES, error__type="RateLimitError") == 1
    assert otel.total(REQUESTS, http__response__status_code=429) == 1
    assert otel.total(REQUESTS, http__response__status_code=200) == 1


async def test_a_retry_after_beyond_the_cap_records_the_capped_pause(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """Retry-After 1000 pauses the bucket max_retry_after (60 s), and that is what is noted."""
    api.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1000"}),
            httpx.Response(200, json=SMS_OK),
        ]
    )
    await client.send_sms(destination=PHONE, text=TEXT)
    first, second = otel.attempts_of(only(otel.operations()))
    assert attrs_of(first)["eightxeight.rate_limit.pause"] == 60.0
    assert attrs_of(second)["eightxeight.retry.wait"] == 60.0 == waits[0]


async def test_500s_retried_until_the_last_attempt_fail_every_span(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """Four 500 / 2000 answers: four failed attempts with the waits slept before each retry."""
    api.post(SEND_PATH).respond(500, json=ERROR_500)
    with pytest.raises(e.InternalServerError):
        await client.send_sms(destination=PHONE, text=TEXT)
    operation = only(otel.operations())
    assert operation.status.status_code is StatusCode.ERROR
    assert operation.status.description == "InternalServerError: HTTP 500, code 2000"
    assert attrs_of(operation)["error.type"] == "InternalServerError"
    assert attrs_of(operation)["http.response.status_code"] == 500
    assert attrs_of(operation)["eightxeight.error.code"] == 2000
    assert attrs_of(operation)["eightxeight.attempts"] == 4
    attempts = otel.attempts_of(operation)
    assert [attrs_of(a)["eightxeight.attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(attrs_of(a)["eightxeight.error.code"] == 2000 for a in attempts)
    # The first retry's wait comes from outside tenacity, the others from its loop.
    assert [attrs_of(a).get("eightxeight.retry.wait") for a in attempts] == [None, *waits]
    assert len(waits) == 3
    assert otel.total(RETRIES, error__type="InternalServerError") == 3
    assert otel.total(REQUESTS, http__response__status_code=500) == 4
    assert otel.total(DURATION, error__type="InternalServerError") == 1


async def test_a_read_timeout_of_a_read_is_retried_and_recorded(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """get_message: a timed-out attempt (APITimeoutError) then an answer."""
    api.get(DETAILS_PATH).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=DETAILS_OK)]
    )
    await client.get_message(UMID)
    operation = only(otel.operations())
    assert operation.name == "8x8 get_message"
    assert attrs_of(operation)["eightxeight.umid"] == UMID
    first, second = otel.attempts_of(operation)
    assert attrs_of(first)["error.type"] == "APITimeoutError"
    assert "http.response.status_code" not in attrs_of(first)
    assert first.status.status_code is StatusCode.ERROR
    assert attrs_of(second)["http.response.status_code"] == 200
    assert otel.total(REQUESTS, error__type="APITimeoutError") == 1
    assert otel.total(RETRIES, error__type="APITimeoutError") == 1


async def test_the_operation_span_keeps_only_the_last_attempts_status(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """A 500 then timeouts to the end: the call failed unanswered, so it shows no HTTP status."""
    api.get(DETAILS_PATH).mock(
        side_effect=[httpx.Response(500, json=ERROR_500)] + [httpx.ReadTimeout("slow")] * 3
    )
    with pytest.raises(e.APITimeoutError):
        await client.get_message(UMID)
    operation = only(otel.operations())
    assert attrs_of(operation)["error.type"] == "APITimeoutError"
    assert "http.response.status_code" not in attrs_of(operation)
    assert "eightxeight.error.code" not in attrs_of(operation)
    assert attrs_of(otel.attempts_of(operation)[0])["http.response.status_code"] == 500


async def test_a_send_whose_outcome_is_unknown_is_counted(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """A read timeout on a send: SendOutcomeUnknownError, one attempt, one unknown outcome."""
    api.post(SEND_PATH).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(e.SendOutcomeUnknownError):
        await client.send_sms(destination=PHONE, text=TEXT, client_message_id=f"otp-{PHONE}")
    operation = only(otel.operations())
    assert attrs_of(operation)["error.type"] == "SendOutcomeUnknownError"
    assert operation.status.description == "SendOutcomeUnknownError"
    assert only(otel.attempts_of(operation)).attributes["error.type"] == "SendOutcomeUnknownError"
    assert otel.total(UNKNOWN, eightxeight__operation="send_sms") == 1
    assert otel.total(RETRIES) == 0
    assert not secrets_found(otel, [PHONE])  # the client_message_id held the number


async def test_a_validation_error_makes_no_span_and_no_measurement(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """Refused before any I/O: nothing was sent, so nothing is recorded (documented)."""
    with pytest.raises(e.ValidationError):
        await client.send_sms(destination="not a number", text=TEXT)
    with pytest.raises(e.ValidationError):
        await client.get_message("bad/umid")
    with pytest.raises(e.ValidationError):
        await client.send_sms(destination=PHONE, text=TEXT, timeout=-1)
    assert otel.spans() == ()
    assert otel.metrics() == {}
    assert not api.calls


async def test_a_parse_failure_fails_the_operation_span_not_the_attempt(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """8x8 answered 200 with a body that is not its own: the HTTP attempt went well."""
    api.post(SEND_PATH).respond(200, json={"umid": 5})
    with pytest.raises(e.ResponseValidationError):
        await client.send_sms(destination=PHONE, text=TEXT)
    operation = only(otel.operations())
    assert attrs_of(operation)["error.type"] == "ResponseValidationError"
    assert only(otel.attempts_of(operation)).status.status_code is StatusCode.UNSET


async def test_the_spans_nest_under_the_callers_span_and_are_current_inside(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """The caller's span is the operation's parent; the attempt is current while it is sent
    (so that httpx instrumentation nests under it); afterwards the caller's span is back."""
    seen: list[trace.Span] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(trace.get_current_span())
        return httpx.Response(200, json=SMS_OK)

    api.post(SEND_PATH).mock(side_effect=answer)
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as outer:
        await client.send_sms(destination=PHONE, text=TEXT)
        assert trace.get_current_span() is outer
    operation = only(otel.operations())
    attempt = only(otel.attempts_of(operation))
    assert operation.parent is not None
    assert operation.parent.span_id == outer.get_span_context().span_id
    assert seen[0].get_span_context().span_id == attempt.context.span_id


async def test_a_cancelled_call_ends_its_spans_and_restores_the_context(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """Cancelled mid-request: both spans end (error.type CancelledError), no context leaks."""
    started = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    api.post(SEND_PATH).mock(side_effect=answer)
    before = trace.get_current_span()
    task = asyncio.create_task(client.send_sms(destination=PHONE, text=TEXT))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    operation = only(otel.operations())
    assert attrs_of(operation)["error.type"] == "CancelledError"
    assert only(otel.attempts_of(operation)).attributes["error.type"] == "CancelledError"
    assert trace.get_current_span() is before


async def test_aclose_during_a_send_ends_its_spans(api: respx.MockRouter, otel: Otel) -> None:
    """aclose() stops a send in flight: both spans end, with the error the call raised."""
    started = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    api.post(SEND_PATH).mock(side_effect=answer)
    client = otel.instrument(AsyncSmsClient(api_key=API_KEY, subaccount_id=SUBACCOUNT))
    task = asyncio.create_task(client.send_sms(destination=PHONE, text=TEXT))
    await started.wait()
    await client.aclose()
    # Over respx, httpcore's trace never reports the headers going out: "nothing was sent".
    with pytest.raises(e.APIConnectionError) as info:
        await task
    operation = only(otel.operations())
    assert attrs_of(operation)["error.type"] == type(info.value).__name__
    attempt = only(otel.attempts_of(operation))
    assert attrs_of(attempt)["error.type"] == type(info.value).__name__
    assert operation.end_time is not None
    assert attempt.end_time is not None


def test_the_limiter_wait_is_recorded_per_attempt(otel: Otel) -> None:
    """get_message at 8x8's 1 request/s: the second call's attempt waited about a second."""

    async def main() -> None:
        with respx.mock(base_url="https://sms.8x8.com") as api:
            api.get(DETAILS_PATH).respond(200, json=DETAILS_OK)
            async with AsyncSmsClient(api_key=API_KEY, subaccount_id=SUBACCOUNT) as client:
                otel.instrument(client)
                await client.get_message(UMID)
                await client.get_message(UMID)

    run_virtual(main)
    first, second = (only(otel.attempts_of(op)) for op in otel.operations())
    assert attrs_of(first)["eightxeight.rate_limiter.wait"] == pytest.approx(0, abs=1e-3)
    assert attrs_of(second)["eightxeight.rate_limiter.wait"] == pytest.approx(1.0, abs=1e-2)


async def test_an_account_operation_names_its_account_not_a_subaccount(
    api: respx.MockRouter, otel: Otel
) -> None:
    """get_balance: the account id, the path template with {account_id}."""
    account = "0123456789abcdef0123456789abcdef"
    api.get(f"/api/v1/accounts/{account}/balance").respond(
        200, json={"balance": 1.5, "currency": "EUR"}
    )
    async with AsyncSmsClient(api_key=API_KEY, account_id=account) as client:
        await otel.instrument(client).get_balance()
    operation = only(otel.operations())
    assert attrs_of(operation)["eightxeight.account_id"] == account
    assert "eightxeight.subaccount_id" not in attrs_of(operation)
    attempt = only(otel.attempts_of(operation))
    assert attrs_of(attempt)["url.template"] == "/api/v1/accounts/{account_id}/balance"


async def test_derived_clients_share_the_telemetry(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel
) -> None:
    """with_options() shares the core, so its calls are recorded the same way."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    await client.with_options(timeout=3).send_sms(destination=PHONE, text=TEXT)
    assert only(otel.operations()).name == "8x8 send_sms"


# --- secrets -----------------------------------------------------------------------------------


async def test_no_secret_reaches_any_span_or_measurement(
    api: respx.MockRouter, client: AsyncSmsClient, otel: Otel, waits: list[float]
) -> None:
    """Key, text and number are absent from every name, attribute, event, status and point,
    even when 8x8's error message echoes them."""
    echo = {"code": 1002, "message": f"Invalid {PHONE} for '{TEXT}' with {API_KEY}"}
    api.post(SEND_PATH).mock(
        side_effect=[
            httpx.Response(200, json=SMS_OK),
            httpx.Response(429, headers={"Retry-After": "1"}, json=echo),
            httpx.Response(500, json={**echo, "code": 2000}),
            httpx.Response(200, json=SMS_OK),
            httpx.Response(400, json=echo),
            httpx.ReadTimeout(f"timed out {PHONE} {TEXT}"),
        ]
    )
    await client.send_sms(destination=PHONE, text=TEXT, client_message_id=f"m-{PHONE[1:]}")
    await client.send_sms(destination=PHONE, text=TEXT)
    with pytest.raises(e.BadRequestError):
        await client.send_sms(destination=PHONE, text=TEXT)
    with pytest.raises(e.SendOutcomeUnknownError):
        await client.send_sms(destination=PHONE, text=TEXT, client_message_id=f"m-{PHONE[1:]}")
    assert len(otel.operations()) == 4
    assert len(otel.spans()) == 10
    assert not secrets_found(otel, [API_KEY, TEXT, PHONE, "424242"])


# --- the retry loop's hook ---------------------------------------------------------------------


async def test_retry_call_tells_each_retry_and_its_wait(waits: list[float]) -> None:
    """on_retry hears (error, wait) before each wait, and only for attempts tried again."""
    heard: list[tuple[str, float]] = []
    errors = iter([e.APITimeoutError(), e.APITimeoutError(), e.APITimeoutError()])

    async def attempt() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "done"

    result = await retry_call(
        attempt,
        policy=RetryPolicy(max_attempts=4),
        kind=CallKind.READ,
        on_retry=lambda exc, wait: heard.append((type(exc).__name__, wait)),
    )
    assert result == "done"
    assert heard == [("APITimeoutError", w) for w in waits]
    assert len(heard) == 3


async def test_retry_call_tells_nothing_when_the_failure_is_final(waits: list[float]) -> None:
    """A failure that is not retried, or the last attempt's, makes no on_retry call."""
    heard: list[float] = []

    async def attempt() -> str:
        raise e.APITimeoutError(may_have_been_sent=True)

    with pytest.raises(e.APITimeoutError):
        await retry_call(
            attempt,
            policy=RetryPolicy(max_attempts=3),
            kind=CallKind.READ,
            on_retry=lambda exc, wait: heard.append(wait),
        )
    assert len(heard) == 2
    heard.clear()
    with pytest.raises(e.APITimeoutError):
        await retry_call(
            attempt,
            policy=RetryPolicy(max_attempts=3),
            kind=CallKind.OTHER,
            on_retry=lambda exc, wait: heard.append(wait),
        )
    assert heard == []


# --- without an SDK, or without OpenTelemetry --------------------------------------------------


def _run_isolated(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (its own sys.modules and global providers); it prints
    one JSON line last."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_ONE_CALL = """
import asyncio, json, sys
import respx
from eightxeight_async import AsyncSmsClient

async def call():
    with respx.mock(base_url="https://sms.8x8.com") as api:
        api.post("/api/v1/subaccounts/acme_hq/messages").respond(200, json={SMS!r})
        async with AsyncSmsClient(api_key="sk-test-0123456789abcdef", subaccount_id="acme_hq") as c:
            return (await c.send_sms(destination="+6591234567", text="hi")).umid
"""


def _script(body: str) -> str:
    return _ONE_CALL.replace("{SMS!r}", repr(SMS_OK)) + body


def test_without_opentelemetry_calls_work_and_import_nothing() -> None:
    """opentelemetry cannot be imported (as if not installed): calls work, nothing is tried."""
    result = _run_isolated(
        "import sys\n"
        "for name in ('opentelemetry', 'opentelemetry.trace', 'opentelemetry.metrics'):\n"
        "    sys.modules[name] = None  # import opentelemetry now raises ImportError\n"
        + _script(
            "umid = asyncio.run(call())\n"
            "loaded = [m for m, v in sys.modules.items() if m.startswith('opentelemetry') and v]\n"
            "print(json.dumps({'umid': umid, 'loaded': loaded}))\n"
        )
    )
    assert result == {"umid": SMS_OK["umid"], "loaded": []}


def test_installed_but_unused_opentelemetry_is_never_imported() -> None:
    """The API is installed but the app never imported it: the SDK does not import it either.

    redis is blocked: redis 8 imports OpenTelemetry itself when it is installed."""
    result = _run_isolated(
        "import sys\n"
        "sys.modules['redis'] = sys.modules['redis.asyncio'] = None\n"
        + _script(
            "asyncio.run(call())\n"
            "import eightxeight_async._telemetry as t\n"
            "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
            "print(json.dumps({'loaded': loaded, 'tracer': t.GLOBAL._tracer is not None}))\n"
        )
    )
    assert result == {"loaded": [], "tracer": False}


def test_the_api_without_an_sdk_records_nothing_and_leaves_the_context() -> None:
    """opentelemetry-api imported, no SDK: calls work, spans are non-recording, nothing leaks."""
    result = _run_isolated(
        "from opentelemetry import metrics, trace\n"
        + _script(
            "umid = asyncio.run(call())\n"
            "print(json.dumps({'umid': umid,\n"
            "    'current': trace.get_current_span().get_span_context().is_valid}))\n"
        )
    )
    assert result == {"umid": SMS_OK["umid"], "current": False}


def test_the_global_providers_work_even_when_set_after_the_first_call() -> None:
    """The documented setup: the app sets the global providers (here after a first call, which
    then recorded nothing); later calls record spans and measurements through them."""
    result = _run_isolated(
        "from opentelemetry import metrics, trace\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from opentelemetry.sdk.metrics.export import InMemoryMetricReader\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        + _script(
            "asyncio.run(call())\n"
            "exporter = InMemorySpanExporter()\n"
            "provider = TracerProvider()\n"
            "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
            "trace.set_tracer_provider(provider)\n"
            "reader = InMemoryMetricReader()\n"
            "metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))\n"
            "asyncio.run(call())\n"
            "spans = exporter.get_finished_spans()\n"
            "names = sorted(m.name for rm in reader.get_metrics_data().resource_metrics\n"
            "               for sm in rm.scope_metrics for m in sm.metrics)\n"
            "scope = spans[0].instrumentation_scope\n"
            "print(json.dumps({'spans': [s.name for s in spans], 'metrics': names,\n"
            "                  'scope': [scope.name, scope.version]}))\n"
        )
    )
    assert result == {
        "spans": ["POST /api/v1/subaccounts/{subaccount_id}/messages", "8x8 send_sms"],
        "metrics": ["eightxeight.client.operation.duration", "eightxeight.client.requests"],
        "scope": ["eightxeight_async", e.__version__],
    }


# --- the client's own providers, and the layering rule -----------------------------------------


def test_telemetry_for_takes_providers_or_the_global_ones(otel: Otel) -> None:
    """Neither given: the shared global instance; given: ones of its own; checked by duck type."""
    assert telemetry_for(None, None) is GLOBAL
    own = telemetry_for(otel.tracer_provider, None)
    assert own is not GLOBAL
    with pytest.raises(e.ValidationError) as info:
        telemetry_for("tracer", None)
    assert info.value.field == "tracer_provider"
    with pytest.raises(e.ValidationError) as info:
        telemetry_for(None, otel.tracer_provider)  # a tracer provider is no meter provider
    assert info.value.field == "meter_provider"


def test_only_the_telemetry_module_imports_opentelemetry() -> None:
    """The optional extra stays optional: one module may import it, and only inside functions
    or for type checking (never when the package is imported)."""
    offenders = []
    for path in package_modules():
        tree = parse(path)
        hits = [line for mod, line in imported(tree) if mod.split(".")[0] == "opentelemetry"]
        if path.name != "_telemetry.py":
            offenders += [f"{path.name}:{line}" for line in hits]
            continue
        top_level = {
            node.lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
        }
        offenders += [f"{path.name}:{line} (at import time)" for line in hits if line in top_level]
    assert not offenders


_CLIENT_OPTIONS = "tracer_provider" in inspect.signature(AsyncSmsClient.__init__).parameters


@pytest.mark.skipif(not _CLIENT_OPTIONS, reason="AsyncSmsClient has no tracer_provider= yet")
async def test_the_client_takes_providers_of_its_own(api: respx.MockRouter, otel: Otel) -> None:
    """tracer_provider= / meter_provider=: the client and its derived clients record there;
    anything else is refused before any I/O."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    options: dict[str, Any] = {
        "tracer_provider": otel.tracer_provider,
        "meter_provider": otel.meter_provider,
    }
    async with AsyncSmsClient(api_key=API_KEY, subaccount_id=SUBACCOUNT, **options) as client:
        await client.send_sms(destination=PHONE, text=TEXT)
        await client.with_options(timeout=3).send_sms(destination=PHONE, text=TEXT)
    assert len(otel.operations()) == 2
    assert otel.total(REQUESTS) == 2
    options["tracer_provider"] = "a string"
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key=API_KEY, subaccount_id=SUBACCOUNT, **options)
    assert info.value.field == "tracer_provider"
