"""Spans and measurements over real sockets: the sandbox over TLS 1.3, both transports."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RetryPolicy
from eightxeight_async.sandbox import Fault, Sandbox
from eightxeight_async.testing import retry_without_waiting

from ..telemetry_support import Otel, attrs_of, secrets_found

pytestmark = pytest.mark.integration

PHONE = "+6591234567"
TEXT = "Your code is 731904"


@pytest.fixture
def otel(client: AsyncSmsClient) -> Otel:
    setup = Otel.create()
    setup.instrument(client)
    return setup


async def test_every_fault_is_traced_and_no_secret_is_exported(
    sandbox: Sandbox, client: AsyncSmsClient, otel: Otel
) -> None:
    """Success, 429 then success, 500s to the end, a slow read retried, a dropped send, and a
    refused argument: each call's spans say what happened, and none holds the key, text or
    number."""
    port = int(sandbox.base_url.rsplit(":", 1)[1])
    with retry_without_waiting() as waits:
        sent = await client.send_sms(destination=PHONE, text=TEXT)

        sandbox.faults.inject(Fault.RATE_LIMIT, 1)
        await client.send_sms(destination=PHONE, text=TEXT)

        sandbox.faults.inject(Fault.INTERNAL_ERROR, RetryPolicy().max_attempts)
        with pytest.raises(e.InternalServerError):
            await client.send_sms(destination=PHONE, text=TEXT)

        sandbox.faults.inject(Fault.SLOW, endpoint="get_message")
        await client.get_message(sent.umid, timeout=0.3)

        sandbox.faults.inject(Fault.DROP)
        with pytest.raises(e.SendOutcomeUnknownError):
            await client.send_sms(destination=PHONE, text=TEXT, client_message_id=f"otp{PHONE}")

        with pytest.raises(e.ValidationError):
            await client.send_sms(destination=PHONE[:-4], text=TEXT)

    ok, limited, failed, slow, dropped = otel.operations()
    assert [s.name for s in (ok, limited, failed, slow, dropped)] == [
        "8x8 send_sms",
        "8x8 send_sms",
        "8x8 send_sms",
        "8x8 get_message",
        "8x8 send_sms",
    ]
    for span in (ok, limited, failed, slow, dropped):
        assert span.kind is SpanKind.INTERNAL
        for attempt in otel.attempts_of(span):
            assert attempt.kind is SpanKind.CLIENT
            assert attrs_of(attempt)["server.address"] == "127.0.0.1"
            assert attrs_of(attempt)["server.port"] == port

    assert attrs_of(ok)["eightxeight.umid"] == sent.umid
    assert ok.status.status_code is StatusCode.UNSET

    first, second = otel.attempts_of(limited)
    assert attrs_of(first)["http.response.status_code"] == 429
    assert attrs_of(first)["eightxeight.rate_limit.pause"] == 1.0
    assert attrs_of(second)["eightxeight.retry.wait"] == 1.0
    assert limited.status.status_code is StatusCode.UNSET

    attempts = otel.attempts_of(failed)
    assert len(attempts) == RetryPolicy().max_attempts
    assert all(attrs_of(a)["eightxeight.error.code"] == 2000 for a in attempts)
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs_of(failed)["error.type"] == "InternalServerError"

    timed_out, answered = otel.attempts_of(slow)
    assert attrs_of(timed_out)["error.type"] == "APITimeoutError"
    assert attrs_of(answered)["http.response.status_code"] == 200
    assert attrs_of(slow)["eightxeight.umid"] == sent.umid

    assert attrs_of(dropped)["error.type"] == "SendOutcomeUnknownError"
    assert len(otel.attempts_of(dropped)) == 1

    retries = RetryPolicy().max_attempts - 1 + 2  # the 500s, the 429, the slow read
    assert len(waits) == retries
    assert otel.total("eightxeight.client.retries") == retries
    assert otel.total("eightxeight.client.rate_limited") == 1
    assert otel.total("eightxeight.client.send_outcome_unknown") == 1
    assert otel.total("eightxeight.client.operation.duration") == 5  # not the refused call
    assert otel.total("eightxeight.client.requests") == sum(sandbox.state.requests.values())

    api_key = sandbox.client_kwargs()["api_key"]
    assert not secrets_found(otel, [api_key, TEXT, PHONE, "731904"])
