"""The call machinery over respx: with_options, raw responses, array bodies, tuple answers."""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from typing import Any

import httpx
import pytest
import respx

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._client import AsyncSmsClientWithRawResponse
from eightxeight_async._models_account import Webhook, WebhookDelete, WebhookRequest
from eightxeight_async._models_batch import BatchRequest
from eightxeight_async._operations import (
    CANCEL_MESSAGE,
    DELETE_WEBHOOKS,
    GET_BALANCE,
    LIST_WEBHOOKS,
    SEND_BATCH,
    SET_WEBHOOK,
)
from eightxeight_async._raw import RawResponse

from .conftest import API_KEY, BASE_URL, PHONE, SUBACCOUNT, TEXT, reference_examples
from .virtual_time import run_virtual

SEND_PATH = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
UMID = "bda3d56d-1424-e711-813c-06ed3428fe67"
ACCOUNT = "0123456789abcdef0123456789abcdef"
ACCOUNT_PATH = f"/api/v1/accounts/{ACCOUNT}"
SMS_OK = reference_examples()["send-sms"][0]
DETAILS_OK = reference_examples()["get-message-details"][1]


@pytest.fixture(autouse=True)
def _no_account_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EIGHTXEIGHT_ACCOUNT_ID", raising=False)


def make_client(**kwargs: Any) -> AsyncSmsClient:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "subaccount_id": SUBACCOUNT,
        "account_id": ACCOUNT,
        "rate_limits": RateLimits.unlimited(),
    }
    return AsyncSmsClient(**{**settings, **kwargs})


# --- with_options ------------------------------------------------------------------------------


async def test_with_options_shares_pool_limiter_and_lifecycle(api: respx.MockRouter) -> None:
    """A derived client sends over the parent's pool, draws from its limiter, dies with it."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    api.post("/api/v1/subaccounts/other_hq/messages").respond(200, json=SMS_OK)
    async with make_client() as client:
        fast = client.with_options(timeout=5, retry=RetryPolicy.never(), subaccount_id="other_hq")
        assert fast._core is client._core
        assert fast._sender.client is client._sender.client
        assert fast._core.limiter is client._core.limiter
        assert (fast.subaccount_id, client.subaccount_id) == ("other_hq", SUBACCOUNT)
        assert fast.account_id == client.account_id == ACCOUNT
        assert fast.base_url == client.base_url
        assert fast._settings.timeout == httpx.Timeout(5.0)
        assert fast._settings.retry.max_attempts == 1
        assert client._settings.retry.max_attempts == 4
        await fast.send_sms(destination=PHONE, text=TEXT)
        await client.send_sms(destination=PHONE, text=TEXT)
    assert [c.request.url.path for c in api.calls] == [
        "/api/v1/subaccounts/other_hq/messages",
        SEND_PATH,
    ]
    assert fast.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await fast.send_sms(destination=PHONE, text=TEXT)


async def test_derived_client_aclose_ends_only_itself(api: respx.MockRouter) -> None:
    """aclose() on a derived client leaves the pool and the parent working."""
    api.post(SEND_PATH).respond(200, json=SMS_OK)
    async with make_client() as client:
        async with client.with_options(timeout=3) as derived:
            await derived.send_sms(destination=PHONE, text=TEXT)
        assert derived.is_closed
        assert not client.is_closed
        with pytest.raises(RuntimeError, match="Cannot call send_sms"):
            await derived.send_sms(destination=PHONE, text=TEXT)
        await client.send_sms(destination=PHONE, text=TEXT)
        assert not client._sender.client.is_closed
    assert client._sender.client.is_closed


async def test_closing_the_parent_stops_a_derived_clients_call_in_flight() -> None:
    """A derived client's call waiting in the shared limiter ends when the parent closes."""
    client = make_client(rate_limits=RateLimits(details_per_second=0.001))
    derived = client.with_options(subaccount_id="other_hq")
    with respx.mock(base_url=BASE_URL) as api:
        api.get(url__regex=r".*/messages/.*").respond(200, json=DETAILS_OK)
        await derived.get_message(UMID)  # takes the bucket's only token
        waiting = asyncio.create_task(derived.get_message(UMID))
        await asyncio.sleep(0)
        assert waiting in client._core.calls
        await client.aclose()
        with pytest.raises(e.APIConnectionError, match="nothing was sent"):
            await waiting
    assert derived.is_closed


async def test_with_options_validates_and_keeps_unset_settings() -> None:
    """Bad settings are refused before use; None keeps the parent's."""
    client = make_client()
    with pytest.raises(e.ValidationError) as info:
        client.with_options(timeout=-1)
    assert info.value.field == "timeout"
    with pytest.raises(e.ValidationError) as info:
        client.with_options(subaccount_id="x")
    assert info.value.field == "subaccount_id"
    with pytest.raises(e.ValidationError) as info:
        client.with_options(account_id="not-a-guid")
    assert info.value.field == "account_id"
    same = client.with_options()
    assert same._settings == client._settings
    limits = RateLimits(send_per_second=5)
    assert client.with_options(rate_limits=limits)._settings.rate_limits is limits
    await client.aclose()


# --- account id ----------------------------------------------------------------------------------


async def test_account_id_from_argument_env_or_call(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account operation uses the call's account_id, else the client's, else the variable."""
    other = "fedcba98-7654-3210-fedc-ba9876543210"
    route = api.get(url__regex=r"/api/v1/accounts/.*/balance").respond(
        200, json={"balance": 149309.79, "currency": "USD"}
    )
    monkeypatch.setenv("EIGHTXEIGHT_ACCOUNT_ID", other)
    async with make_client(account_id=None) as client:
        assert client.account_id == other
        balance = await client._call(GET_BALANCE)
        await client._call(GET_BALANCE, account_id=ACCOUNT)
    assert str(balance.balance) == "149309.79"
    assert [c.request.url.path for c in route.calls] == [
        f"/api/v1/accounts/{other}/balance",
        f"{ACCOUNT_PATH}/balance",
    ]


async def test_missing_or_bad_account_id_is_refused_before_io(
    api: respx.MockRouter,
) -> None:
    """No account id anywhere, or one that is not a GUID: ValidationError("account_id")."""
    with pytest.raises(e.ValidationError) as info:
        make_client(account_id="../../etc")
    assert info.value.field == "account_id"
    assert "../../etc" not in str(info.value)
    async with make_client(account_id=None) as client:
        with pytest.raises(e.ValidationError) as info:
            await client._call(GET_BALANCE)
        assert info.value.field == "account_id"
        with pytest.raises(e.ValidationError):
            await client._call(GET_BALANCE, account_id="nope")
    assert not api.calls


async def test_balance_of_a_postpaid_account_is_not_prepaid_error(api: respx.MockRouter) -> None:
    """403 with code 1201 is NotPrepaidError, a PermissionDeniedError; a plain 403 is not."""
    body = {
        "code": 1201,
        "message": "Account not in prepaid mode",
        "errorId": "e-1201",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    api.get(f"{ACCOUNT_PATH}/balance").mock(
        side_effect=[httpx.Response(403, json=body), httpx.Response(403, json={"code": 1200})]
    )
    async with make_client() as client:
        with pytest.raises(e.PermissionDeniedError) as info:
            await client._call(GET_BALANCE)
        assert type(info.value).__name__ == "NotPrepaidError"
        assert info.value.code == 1201
        assert "Account not in prepaid mode" in str(info.value)
        with pytest.raises(e.PermissionDeniedError) as plain:
            await client._call(GET_BALANCE)
        assert type(plain.value) is e.PermissionDeniedError
    assert len(api.calls) == 2  # a 403 is never retried


# --- array bodies and array answers --------------------------------------------------------------


async def test_array_body_and_tuple_answer(api: respx.MockRouter) -> None:
    """set_webhook and delete_webhooks send JSON arrays; list_webhooks reads one as a tuple."""
    post = api.post(f"{ACCOUNT_PATH}/webhooks").respond(200)
    delete = api.delete(f"{ACCOUNT_PATH}/webhooks").respond(200)
    listed = [
        {"subAccountId": SUBACCOUNT, "url": "https://hooks.example.com/a", "enabled": True},
        {"subAccountId": "*", "url": "https://hooks.example.com/b", "enabled": False},
    ]
    api.get(f"{ACCOUNT_PATH}/webhooks").respond(200, json=listed)
    async with make_client() as client:
        webhook = WebhookRequest(subaccount_id=SUBACCOUNT, url="https://hooks.example.com/a")
        await client._call(SET_WEBHOOK, body=[webhook])
        await client._call(
            DELETE_WEBHOOKS,
            body=(WebhookDelete(subaccount_id="*"), WebhookDelete(subaccount_id=SUBACCOUNT)),
        )
        hooks = await client._call(LIST_WEBHOOKS)
    assert json.loads(post.calls.last.request.content) == [
        {"subAccountId": SUBACCOUNT, "url": "https://hooks.example.com/a", "enabled": True}
    ]
    assert json.loads(delete.calls.last.request.content) == [
        {"subAccountId": "*"},
        {"subAccountId": SUBACCOUNT},
    ]
    assert isinstance(hooks, tuple)
    assert [type(h) for h in hooks] == [Webhook, Webhook]
    assert [h.subaccount_id for h in hooks] == [SUBACCOUNT, "*"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"url": "x"}, "$", id="object-not-array"),
        pytest.param(
            [{"subAccountId": "a", "url": "u"}, {"url": 5}], "$[1].subAccountId", id="item"
        ),
    ],
)
async def test_tuple_answer_that_is_not_the_documented_shape(
    api: respx.MockRouter, body: object, path: str
) -> None:
    """A JSON array answer is checked item by item, the error naming $[index]."""
    api.get(f"{ACCOUNT_PATH}/webhooks").respond(200, json=body)
    async with make_client() as client:
        with pytest.raises(e.ResponseValidationError) as info:
            await client._call(LIST_WEBHOOKS)
    assert info.value.path == path


async def test_array_and_object_bodies_must_match_the_declaration() -> None:
    """A method passing an object where its operation sends an array is a bug, caught early."""
    async with make_client() as client:
        webhook = WebhookRequest(subaccount_id=SUBACCOUNT, url="https://hooks.example.com/a")
        with pytest.raises(TypeError, match="array"):
            await client._call(SET_WEBHOOK, body=webhook)


async def test_an_unencodable_item_of_an_array_body_names_its_index() -> None:
    """The JSON backstop names the item and field of an array body."""
    from eightxeight_async._converters import encode_request

    with pytest.raises(e.ValidationError) as info:
        encode_request([{"url": "ok"}, {"url": "https://x/\udc80"}])
    assert info.value.field == "request[1].url"


# --- retries by kind through the client --------------------------------------------------------


async def test_a_delete_is_repeated_after_a_timeout(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """cancel_message is a DELETE: a read timeout is retried like a GET's."""
    route = api.delete(f"{SEND_PATH}/{UMID}").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json={"cancelledCount": 1})]
    )
    async with make_client() as client:
        result = await client._call(CANCEL_MESSAGE, path={"umid": UMID})
    assert result.cancelled_count == 1
    assert route.call_count == 2


async def test_feedback_is_not_repeated_after_a_timeout(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """send_feedback (kind OTHER) is not replayed once it may have been received."""
    route = api.post(f"{SEND_PATH}/{UMID}/feedback").mock(side_effect=httpx.ReadTimeout("slow"))
    async with make_client() as client:
        with pytest.raises(e.APITimeoutError) as info:
            await client.send_feedback(UMID, outcome="success")
    assert info.value.may_have_been_sent
    assert route.call_count == 1


async def test_ambiguous_batch_send_names_the_batch(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """A batch whose outcome is unknown raises SendOutcomeUnknownError with its client_batch_id."""
    route = api.post(f"{SEND_PATH}/batch").mock(side_effect=httpx.ReadTimeout("slow"))
    batch = BatchRequest.build(
        destinations=[PHONE], template={"text": TEXT}, client_batch_id="batch-1"
    )
    async with make_client() as client:
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await client._call(SEND_BATCH, body=batch)
    assert info.value.client_batch_id == "batch-1"
    assert info.value.client_message_id is None
    assert "client_batch_id='batch-1'" in str(info.value)
    assert route.call_count == 1


async def test_a_429_pauses_the_account_bucket(api: respx.MockRouter) -> None:
    """A 429 on an account operation pauses that account's bucket, keyed by its id."""
    paused: list[tuple[str, float]] = []

    class Recorder(e.InProcessRateLimiter):
        async def pause(self, key: str, seconds: float) -> None:
            paused.append((key, seconds))

    api.get(f"{ACCOUNT_PATH}/balance").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json={"code": 429}),
            httpx.Response(200, json={"balance": 1, "currency": "USD"}),
        ]
    )
    async with make_client(rate_limiter=Recorder()) as client:
        from eightxeight_async.testing import retry_without_waiting

        with retry_without_waiting():
            await client._call(GET_BALANCE)
    assert paused == [(f"{ACCOUNT}:account", 2.0)]


# --- raw responses -------------------------------------------------------------------------------


async def test_raw_response_holds_answer_status_headers_and_request_id(
    api: respx.MockRouter,
) -> None:
    """with_raw_response returns the parsed result with the HTTP answer it came from."""
    api.post(SEND_PATH).respond(
        200, json=SMS_OK, headers={"X-Correlation-Id": "corr-1", "X-Request-Id": "req-9"}
    )
    async with make_client() as client:
        raw = await client.with_raw_response.send_sms(destination=PHONE, text=TEXT)
    assert isinstance(raw, RawResponse)
    assert isinstance(raw.parsed, e.SmsResponse)
    assert raw.parsed.umid == SMS_OK["umid"]
    assert raw.status_code == 200
    assert raw.headers["X-Correlation-Id"] == "corr-1"
    assert raw.request_id == "req-9"  # X-Request-Id comes first
    assert raw.http_response.request.url.path == SEND_PATH
    assert raw.attempts == 1


async def test_raw_response_counts_attempts_and_has_no_request_id_when_absent(
    api: respx.MockRouter, waits: list[float]
) -> None:
    """After a retried 500 the raw response is the final answer, with 2 attempts."""
    api.get(f"{SEND_PATH}/{UMID}").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json=DETAILS_OK)]
    )
    async with make_client() as client:
        raw = await client.with_raw_response.get_message(UMID)
    assert raw.attempts == 2
    assert raw.request_id is None
    assert raw.parsed.umid == DETAILS_OK["umid"]


async def test_raw_responses_of_concurrent_calls_never_mix(api: respx.MockRouter) -> None:
    """Each concurrent raw call gets its own answer (the capture is per task)."""

    def answer(request: httpx.Request) -> httpx.Response:
        umid = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(
            200, json={**DETAILS_OK, "umid": umid}, headers={"X-Request-Id": umid}
        )

    api.get(url__regex=r".*/messages/.*").mock(side_effect=answer)
    async with make_client() as client:
        umids = [f"umid-{i}" for i in range(20)]
        raws = await asyncio.gather(*(client.with_raw_response.get_message(u) for u in umids))
        plain = await client.get_message("umid-x")  # a plain call after raw ones is plain
    assert [(r.parsed.umid, r.request_id) for r in raws] == [(u, u) for u in umids]
    assert plain.umid == "umid-x"


async def test_raw_response_of_an_empty_answer(api: respx.MockRouter) -> None:
    """A method returning None still gives its answer's status."""
    api.post(f"{SEND_PATH}/{UMID}/feedback").respond(200)
    async with make_client() as client:
        raw = await client.with_raw_response.send_feedback(UMID, outcome="failure")
    assert raw.parsed is None
    assert raw.status_code == 200


async def test_a_failed_raw_call_raises_the_usual_error(api: respx.MockRouter) -> None:
    """Errors are not wrapped: the raw wrapper raises what the method raises."""
    api.get(f"{SEND_PATH}/{UMID}").respond(404, json={"code": 1300, "message": "Not found"})
    async with make_client() as client:
        with pytest.raises(e.NotFoundError):
            await client.with_raw_response.get_message(UMID)


def test_every_client_method_has_a_raw_counterpart() -> None:
    """AsyncSmsClientWithRawResponse wraps every public coroutine method, with its signature."""
    client = make_client()
    raw = client.with_raw_response
    assert client.with_raw_response is raw  # made once per client
    assert isinstance(raw, AsyncSmsClientWithRawResponse)
    methods = [
        name
        for name, member in inspect.getmembers(AsyncSmsClient)
        if not name.startswith("_")
        and inspect.iscoroutinefunction(member)
        and name not in ("aclose",)
    ]
    assert "send_sms" in methods
    for name in methods:
        wrapped = getattr(raw, name, None)
        assert wrapped is not None, f"with_raw_response.{name} is missing"
        shown, own = inspect.signature(wrapped), inspect.signature(getattr(client, name))
        assert shown.parameters == own.parameters, name
        # help() and inspect show what the wrapper returns (it once showed the method's type).
        returned = typing.get_type_hints(getattr(client, name))["return"]
        expected = RawResponse.__class_getitem__(returned)  # type: ignore[attr-defined]
        assert shown.return_annotation == expected, name
        assert typing.get_type_hints(wrapped)["return"] == expected, name
        assert (wrapped.__doc__ or "").startswith(f"Call ``{name}`` and return"), name
    # iter_log_records is an async generator (many answers): the docstrings say it is left out.
    assert not hasattr(raw, "iter_log_records")
    assert "iter_log_records" in (AsyncSmsClientWithRawResponse.__doc__ or "")


# --- blocks tracked like calls (downloads) -----------------------------------------------------


async def test_aclose_stops_a_tracked_block_with_our_error() -> None:
    """A block run under tracked() is stopped by aclose() like a call, ending as our error."""
    client = make_client()
    entered = asyncio.Event()

    async def download() -> None:
        async with client._core.tracked("iter_log_records"):
            entered.set()
            await asyncio.Event().wait()  # a stream that never ends

    task = asyncio.create_task(download())
    await entered.wait()
    await client.aclose()
    with pytest.raises(e.APIConnectionError, match="iter_log_records") as info:
        await task
    assert info.value.permanent
    assert not client._core.calls
    with pytest.raises(RuntimeError, match="closed"):
        async with client._core.tracked("iter_log_records"):
            pass


async def test_a_call_inside_a_tracked_block_leaves_it_tracked(api: respx.MockRouter) -> None:
    """A client call made inside the block (same task) does not end the block's tracking."""
    api.get(f"{SEND_PATH}/{UMID}").respond(200, json=DETAILS_OK)
    async with make_client() as client:
        task = asyncio.current_task()
        async with client._core.tracked("iter_log_records"):
            await client.get_message(UMID)
            assert task in client._core.calls
        assert task not in client._core.calls


async def test_a_callers_own_cancel_of_a_tracked_block_stays_a_cancel() -> None:
    """Cancelling the block's task (not aclose) is a plain CancelledError, and untracks it."""
    async with make_client() as client:
        entered = asyncio.Event()

        async def download() -> None:
            async with client._core.tracked("download"):
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(download())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client._core.calls


def test_aclose_stops_a_call_inside_a_tracked_block_once(api: respx.MockRouter) -> None:
    """A call stopped inside a tracked block ends the block with our error: cancelled once, and
    aclose() returns as soon as the block has unwound (virtual time: no 10 s grace spent)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        cancels = 0
        api.get(f"{SEND_PATH}/{UMID}").respond(200, json=DETAILS_OK)
        client = make_client(rate_limits=RateLimits(details_per_second=0.001))
        await client.get_message(UMID)  # takes the bucket's only token: the next call waits
        entered = asyncio.Event()

        async def download() -> None:
            nonlocal cancels
            async with client._core.tracked("iter_log_records"):
                entered.set()
                try:
                    await client.get_message(UMID)
                finally:
                    # Cleanup that awaits: aclose() must not cancel the task a second time.
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        cancels += 1
                        raise

        task = asyncio.create_task(download())
        await entered.wait()
        await asyncio.sleep(0)  # the call is now waiting in the limiter
        closed_at = loop.time()
        await client.aclose()
        assert loop.time() - closed_at < 1.0
        with pytest.raises(e.APIConnectionError, match="nothing was sent"):
            await task
        assert cancels == 0
        assert not client._core.calls
        assert not client._core.stopped

    run_virtual(main)


def test_auth_headers_are_the_senders_own() -> None:
    """What a download made outside send() carries: the bearer token, User-Agent, Accept."""
    client = make_client()
    headers = client._core.sender.auth_headers()
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("eightxeight-async/")
    headers["Authorization"] = "changed"  # a copy: the sender's own stay as they were
    assert client._core.sender.auth_headers()["Authorization"] == f"Bearer {API_KEY}"
