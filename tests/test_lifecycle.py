"""The client's lifecycle: aclose() with calls in progress, one event loop per client, the
environment's CA bundle, readable signatures, and the JSON backstop (respx, virtual time)."""

from __future__ import annotations

import asyncio
import builtins
import importlib
import inspect
import math
import pydoc
import re
import sys
import typing
from pathlib import Path

import httpx
import pytest
import respx

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._converters import encode_request

from .conftest import PHONE, SUBACCOUNT, TEXT, reference_examples
from .virtual_time import run_virtual

SEND_PATH = f"/api/v1/subaccounts/{SUBACCOUNT}/messages"
UMID = "bda3d56d-1424-e711-813c-06ed3428fe67"
DETAILS_PATH = f"{SEND_PATH}/{UMID}"
SMS_OK = reference_examples()["send-sms"][0]
DETAILS_OK = reference_examples()["get-message-details"][1]


@pytest.fixture(autouse=True)
def _no_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EIGHTXEIGHT_CA_BUNDLE", raising=False)


# --- aclose() with calls in progress -----------------------------------------------------------


def test_aclose_ends_a_call_waiting_in_backoff_at_once(api: respx.MockRouter) -> None:
    """A call in a 30 s backoff ends when aclose() runs, and its retry is never sent."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        route = api.post(SEND_PATH).respond(500)
        policy = RetryPolicy(initial_wait=30.0, max_wait=30.0)
        client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, retry=policy)
        call = asyncio.create_task(client.send_sms(destination=PHONE, text=TEXT))
        await asyncio.sleep(0.001)  # the 500 came back; the call is in its backoff (up to 30 s)
        assert route.call_count == 1
        closed_at = loop.time()
        await client.aclose()
        with pytest.raises(e.APIConnectionError, match="closed with aclose") as info:
            await call
        assert loop.time() - closed_at < 0.01
        assert "retry was not sent" in str(info.value)
        assert isinstance(info.value.__cause__, e.InternalServerError)
        await asyncio.sleep(120.0)
        assert route.call_count == 1

    run_virtual(main)


def test_aclose_ends_calls_waiting_in_the_limiter_with_nothing_sent(
    api: respx.MockRouter,
) -> None:
    """get_message calls queued behind the 1/s bucket end with "nothing was sent" at aclose()."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        route = api.get(DETAILS_PATH).respond(200, json=DETAILS_OK)
        client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
        calls = [asyncio.create_task(client.get_message(UMID)) for _ in range(3)]
        await asyncio.sleep(0.1)  # the first went out; two wait for their tokens
        closed_at = loop.time()
        await client.aclose()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert loop.time() - closed_at < 0.01
        assert isinstance(results[0], e.MessageDetails)
        for failure in results[1:]:
            assert type(failure) is e.APIConnectionError
            assert "nothing was sent" in str(failure)
        await asyncio.sleep(10.0)
        assert route.call_count == 1

    run_virtual(main)


def test_aclose_while_replaying_an_ambiguous_send_keeps_it_ambiguous(
    api: respx.MockRouter,
) -> None:
    """Stopped in the backoff before a replay, a send whose first try was cut stays unknown."""

    async def main() -> None:
        route = api.post(SEND_PATH)
        route.side_effect = httpx.ReadTimeout("slow")
        policy = RetryPolicy(initial_wait=30.0, max_wait=30.0, replay_ambiguous_sends=True)
        client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, retry=policy)
        call = asyncio.create_task(
            client.send_sms(destination=PHONE, text=TEXT, client_message_id="otp-7")
        )
        await asyncio.sleep(0.001)  # the first try timed out; the replay waits its backoff
        assert route.call_count == 1
        await client.aclose()
        with pytest.raises(e.SendOutcomeUnknownError) as info:
            await call
        assert info.value.client_message_id == "otp-7"
        assert "aclose" in str(info.value)
        assert route.call_count == 1

    run_virtual(main)


async def test_concurrent_aclose_calls_both_wait_for_the_close(api: respx.MockRouter) -> None:
    """A second aclose() while the first is at work returns only once the pool is closed."""
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    pool = client._sender.client
    await asyncio.gather(client.aclose(), client.aclose())
    assert pool.is_closed
    assert client.is_closed


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Python 3.10 cannot tell two cancellations of a task apart"
)
async def test_caller_cancel_during_aclose_stays_a_cancel(api: respx.MockRouter) -> None:
    """A call its owner cancels is not turned into an error by aclose()."""
    api.get(DETAILS_PATH).respond(200, json=DETAILS_OK)
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    await client.get_message(UMID)
    waiting = asyncio.create_task(client.get_message(UMID))  # waits ~1 s for its token
    await asyncio.sleep(0)
    waiting.cancel()
    await client.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_use_after_close_keeps_raising_runtime_error(api: respx.MockRouter) -> None:
    """Every method of a closed client raises RuntimeError with a sentence; nothing is sent."""
    route = api.route().respond(200, json=SMS_OK)
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    await client.aclose()
    for call in (
        client.send_sms(destination=PHONE, text=TEXT),
        client.send_survey("nps", destination=PHONE),
        client.get_message(UMID),
        client.send_feedback(UMID, outcome="success"),
    ):
        with pytest.raises(RuntimeError, match=r"closed with aclose\(\)\.$"):
            await call
    assert not route.called


# --- one event loop per client -----------------------------------------------------------------


def test_a_second_event_loop_gets_one_clear_error(api: respx.MockRouter) -> None:
    """Used again from a second asyncio.run, the client refuses before any I/O, every time."""
    route = api.get(DETAILS_PATH).respond(200, json=DETAILS_OK)
    client = AsyncSmsClient(
        api_key="k", subaccount_id=SUBACCOUNT, rate_limits=RateLimits.unlimited()
    )

    async def use() -> None:
        await client.get_message(UMID)

    asyncio.run(use())
    assert route.call_count == 1
    rule = "belongs to the event loop that first used it; create one per loop"
    for _ in range(2):
        with pytest.raises(RuntimeError, match=rule):
            asyncio.run(use())

    async def enter() -> None:
        async with client:
            pass

    with pytest.raises(RuntimeError, match=rule):
        asyncio.run(enter())
    with pytest.raises(RuntimeError, match=rule):
        asyncio.run(client.aclose())
    assert route.call_count == 1
    assert not client.is_closed


def test_the_first_loop_binds_even_through_async_with(api: respx.MockRouter) -> None:
    """Entering the client binds it too; calls on that loop work."""
    api.get(DETAILS_PATH).respond(200, json=DETAILS_OK)
    client = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)

    async def first() -> e.MessageDetails:
        async with client:
            return await client.get_message(UMID)

    assert asyncio.run(first()).umid == DETAILS_OK["umid"]
    fresh = AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT)
    asyncio.run(fresh.aclose())  # a client never used may be closed from any loop


# --- EIGHTXEIGHT_CA_BUNDLE -----------------------------------------------------------------------


def ca_count(client: AsyncSmsClient) -> int:
    pool = client._sender.client._transport._pool  # type: ignore[attr-defined]
    return len(pool._ssl_context.get_ca_certs())


def test_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without verify, EIGHTXEIGHT_CA_BUNDLE's file is the trust store; verify=True wins."""
    import trustme

    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    monkeypatch.setenv("EIGHTXEIGHT_CA_BUNDLE", str(path))
    assert ca_count(AsyncSmsClient(api_key="k")) == 1
    assert ca_count(AsyncSmsClient(api_key="k", verify=True)) > 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "is missing or unreadable"), (b"not a certificate", "holds no PEM certificate")],
)
def test_unusable_ca_bundle_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None, problem: str
) -> None:
    """A bad EIGHTXEIGHT_CA_BUNDLE is a ValidationError that names it and what is wrong (a
    readable file that is not PEM was called "missing or unreadable")."""
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("EIGHTXEIGHT_CA_BUNDLE", str(path))
    with pytest.raises(e.ValidationError, match="EIGHTXEIGHT_CA_BUNDLE") as info:
        AsyncSmsClient(api_key="k")
    assert info.value.field == "verify"
    assert problem in str(info.value)
    assert str(path) not in str(info.value)
    assert info.value.__context__ is None


def test_ca_bundle_does_not_apply_to_an_injected_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected httpx client keeps its own TLS settings; the variable is not an error then."""
    monkeypatch.setenv("EIGHTXEIGHT_CA_BUNDLE", "/nonexistent/ca.pem")
    AsyncSmsClient(api_key="k", http_client=httpx.AsyncClient())


# --- readable signatures -----------------------------------------------------------------------

PUBLIC_METHODS = ["__init__", "send_sms", "send_survey", "get_message", "send_feedback", "aclose"]


def annotation_names(annotation: str) -> set[str]:
    """The first part of every dotted name in an annotation string."""
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "", annotation)  # Literal values are not names
    return {m.split(".")[0] for m in re.findall(r"[A-Za-z_][\w.]*", code)} - {"None"}


#: Types of optional libraries a signature names; at run time they stand for Any, so that
#: the SDK never imports the library itself (opentelemetry: only once the application does).
OPTIONAL_LIBRARY_TYPES = {
    "TracerProvider": "opentelemetry.trace",
    "MeterProvider": "opentelemetry.metrics",
}


@pytest.mark.parametrize("method", PUBLIC_METHODS)
def test_signatures_use_only_public_names(method: str) -> None:
    """Every name in a public signature is exported by us, a builtin, or another library's own."""
    function = getattr(AsyncSmsClient, method)
    namespace = function.__globals__
    hints = typing.get_type_hints(function)  # resolves, on every supported Python
    assert hints
    signature = inspect.signature(function)
    annotations = [
        str(p.annotation) for p in signature.parameters.values() if p.annotation is not p.empty
    ]
    annotations.append(str(signature.return_annotation))
    for annotation in annotations:
        for name in annotation_names(annotation):
            if name in e.__all__ or name in dir(builtins):
                continue
            if name in OPTIONAL_LIBRARY_TYPES:  # Any at run time: the library is optional
                library = importlib.import_module(OPTIONAL_LIBRARY_TYPES[name])
                assert isinstance(getattr(library, name), type), name
                continue
            value = namespace[name]
            own_name = getattr(value, "__name__", getattr(value, "_name", None))
            assert inspect.ismodule(value) or own_name == name, f"{name} in {method}"
            assert not getattr(value, "__module__", "").startswith("eightxeight_async"), name


def test_help_shows_no_private_alias() -> None:
    """help(AsyncSmsClient) names no alias a user cannot import."""
    text = re.sub(".\b", "", pydoc.render_doc(AsyncSmsClient))  # without the bold overstrikes
    for alias in ("TimeoutTypes", "VerifyTypes", "TransportTypes", "ProxyTypes"):
        assert alias not in text
    assert "Literal['httpx', 'aiohttp']" in text or 'Literal["httpx", "aiohttp"]' in text


# --- the JSON backstop --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"destination": PHONE, "text": "a\ud800b"}, "text", "lone surrogate"),
        ({"templateVariables": {"x": math.nan}}, "template_variables", "NaN"),
        ({"templateVariables": {"x": math.inf}}, "template_variables", "Infinity"),
        ({"templateVariables": {"\udfff": 1}}, "template_variables", "lone surrogate"),
        ({"dlrCallbackUrl": "https://x/\udc80"}, "dlr_callback_url", "lone surrogate"),
    ],
)
def test_unencodable_body_is_a_validation_error(
    body: dict[str, object], field: str, rule: str
) -> None:
    """Whatever slips past the validators, encoding raises ValidationError naming the field."""
    with pytest.raises(e.ValidationError) as info:
        encode_request(body)
    assert info.value.field == field
    assert rule in info.value.rule
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_sms(destination=PHONE, text="a\ud800b"), id="text"),
        pytest.param(
            lambda c: c.send_survey("nps", destination=PHONE, template_variables={"x": math.nan}),
            id="nan",
        ),
        pytest.param(
            lambda c: c.send_survey("nps", destination=PHONE, template_body="{{url:}} \udc80"),
            id="template",
        ),
    ],
)
async def test_unencodable_input_never_escapes_as_a_bare_value_error(
    api: respx.MockRouter, call: typing.Callable[[AsyncSmsClient], typing.Awaitable[object]]
) -> None:
    """Lone surrogates and NaN end as ValidationError before anything is sent."""
    route = api.route().respond(200, json=SMS_OK)
    async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT) as client:
        with pytest.raises(e.ValidationError):
            await call(client)
    assert not route.called
