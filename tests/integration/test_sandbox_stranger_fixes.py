"""What a stranger found wrong with the sandbox and its command, and the rest of each kind.

1. One balance rule for every way in (constructor, ``--start-balance``, ``POST
   /_sandbox/account``), and a balance that always serialises.
2. The sandbox command's messages name its own options, never a variable it does not read.
3. Every path id of every route follows one rule: outside ``A-Z a-z 0-9 - . _ ~`` is 400 / 1000.
4. ``scheduled`` and ``expiry`` are read on the client's (real) clock after ``advance``.
5. No request ends in a 500 or a traceback on the sandbox's stderr, however hostile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import mock

import httpx
import pytest
from click.testing import CliRunner

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, _cli_options
from eightxeight_async._cli_app import cli
from eightxeight_async.sandbox import Faults, Sandbox, SandboxState
from eightxeight_async.sandbox._amounts import parse_balance
from eightxeight_async.sandbox._app import build_app
from tests.isolated_loop import run_isolated

from .conftest import eventually, serve_http
from .sandbox_support import PHONE, Sink, account_path, checked, raw_client, sub_path

pytestmark = pytest.mark.integration

ACCOUNT = "0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a"
UMID = "3a6c2c8e-6f1b-4d0e-9a57-7d1c2a9b0e11"


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare httpx client on the sandbox (real TLS), no details limit in the way."""
    sandbox.state.details_per_second = 1000.0
    async with raw_client(sandbox) as http:
        yield http


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[list[logging.LogRecord]]:
    """What the sandbox (and asyncio, for its tasks) logged at WARNING or above: its stderr."""
    handler = _Records()
    loggers = [logging.getLogger(n) for n in ("eightxeight_async.sandbox", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


def _would_start(coro: Any) -> Any:
    coro.close()
    raise RuntimeError("the sandbox would have started")


def invoke(args: list[str], *, start: bool = False) -> tuple[int, str]:
    """Run the command line; unless ``start``, a sandbox that would start is an error instead
    (so that a check that is missing fails the test rather than hangs it)."""
    runner = _cli_options.run_async if start else _would_start
    with mock.patch.object(_cli_options, "run_async", runner):
        result = CliRunner().invoke(cli, args, env={"EIGHTXEIGHT_ACCOUNT_ID": None})
    return result.exit_code, result.output


# --- 1. the balance: one rule, always serialisable -------------------------------------------

REFUSED_BALANCES = [
    pytest.param("1e400", id="exponent-huge"),
    pytest.param("1e3", id="exponent"),
    pytest.param("1_000", id="underscore"),
    pytest.param("١٢", id="arabic-indic-digits"),
    pytest.param("-5", id="negative"),
    pytest.param("+5", id="plus-sign"),
    pytest.param(" 5", id="space"),
    pytest.param("5.", id="bare-point"),
    pytest.param("NaN", id="nan"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("1000000000000.5", id="above-1e12"),
    pytest.param("0.0000001", id="seven-decimals"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("value", REFUSED_BALANCES)
def test_constructor_refuses_a_balance_outside_the_rule(value: str) -> None:
    """Sandbox(start_balance=...) refuses text outside the rule, naming the field."""
    with pytest.raises(e.ValidationError, match="start_balance"):
        Sandbox(start_balance=value)


@pytest.mark.parametrize(
    "value",
    [10**30, -1, 1e400, float("nan"), Decimal("1e13"), Decimal("-0.5"), True, None, 0.1 + 0.2],
)
def test_constructor_refuses_other_bad_amounts(value: Any) -> None:
    """Numbers too big (10**30 was accepted), negative, not finite, of the wrong type."""
    with pytest.raises(e.ValidationError, match="start_balance"):
        Sandbox(start_balance=value)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("100", "100"),
        ("0100.50", "100.5"),
        ("0", "0"),
        ("0.000001", "0.000001"),
        ("1000000000000", "1000000000000"),
        (12.5, "12.5"),
        (7, "7"),
        (Decimal("1E+2"), "100"),
    ],
)
def test_constructor_keeps_the_balance_normalised(value: Any, kept: str) -> None:
    """The amount kept (and echoed) is the normalised one."""
    sandbox = Sandbox(start_balance=value)
    assert str(sandbox.start_balance) == kept
    assert sandbox.state.start_balance == Decimal(kept)


@pytest.mark.parametrize("value", REFUSED_BALANCES)
def test_cli_refuses_the_same_balances(value: str) -> None:
    """--start-balance follows the constructor's rule: a usage error naming the option."""
    code, output = invoke(["sandbox", "--start-balance", value])
    assert code == 2, output
    assert "--start-balance" in output
    assert "plain digits" in output


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**400, id="huge-int"),
        pytest.param(-5, id="negative"),
        pytest.param(1e13, id="above-1e12"),
        pytest.param("1e3", id="exponent-text"),
        pytest.param("١٢", id="arabic-indic-text"),
        pytest.param(True, id="bool"),
        pytest.param(0.1 + 0.2, id="too-many-decimals"),
    ],
)
async def test_admin_route_refuses_the_same_balances(
    sandbox: Sandbox, raw: httpx.AsyncClient, value: Any
) -> None:
    """POST /_sandbox/account {"balance": ...}: 400 / 1000 naming the rule, nothing changed."""
    answer = await raw.post("/_sandbox/account", content=json.dumps({"balance": value}))
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 1000
    assert "plain digits" in answer.json()["message"]
    assert sandbox.state.start_balance == Decimal(100)


async def test_admin_route_takes_a_number_or_plain_text(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A JSON number or a string of plain digits sets the balance the balance route answers."""
    for value, wanted in ((50.25, 50.25), ("0012.50", 12.5), (1_000_000_000_000, 1e12)):
        answer = await raw.post("/_sandbox/account", json={"balance": value})
        assert answer.json()["balance"] == wanted, answer.text
        balance = checked(await raw.get(account_path(sandbox, "/balance")), 200)
        assert balance["balance"] == wanted


async def test_largest_balance_serialises(tmp_path: Any) -> None:
    """The top of the range is answered 200 with a JSON number (1e400 used to be a 500)."""
    async with (
        Sandbox(start_balance="1000000000000", cert_dir=tmp_path) as sandbox,
        raw_client(sandbox) as raw,
    ):
        body = checked(await raw.get(account_path(sandbox, "/balance")), 200)
    assert body == {"balance": 1e12, "currency": "EUR"}


def test_cli_announces_the_balance_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--start-balance 0100.50` is announced as the sandbox keeps it: 100.5."""
    from eightxeight_async import _cli_sandbox

    seen: list[dict[str, Any]] = []

    def announce(server: Any, host: str, as_json: bool, options: dict[str, Any]) -> None:
        seen.append(dict(options))
        raise SystemExit(0)

    monkeypatch.setattr(_cli_sandbox, "_announce", announce)
    monkeypatch.setattr(_cli_options, "run_async", run_isolated)
    code, output = invoke(["sandbox", "--start-balance", "0100.50"], start=True)
    assert code == 0, output
    assert seen[0]["start_balance"] == "100.5"


def test_parse_balance_reads_json_floats_by_their_shortest_form() -> None:
    """A JSON 1e-05 is 0.00001 (not refused as an exponent); the rule is the same object."""
    assert parse_balance(1e-05) == Decimal("0.00001")
    assert parse_balance(Decimal("12.500")) == Decimal("12.5")


# --- 2. the sandbox command's messages name its own options ----------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        pytest.param(["--account-id", "nonsense"], "--account-id", id="account-id"),
        pytest.param(["--api-key", ""], "--api-key", id="api-key-empty"),
        pytest.param(["--api-key", "a b"], "--api-key", id="api-key-space"),
        pytest.param(["--subaccount-id", "x"], "--subaccount-id", id="subaccount"),
        pytest.param(["--host", ""], "--host", id="host-empty"),
        pytest.param(["--cert-dir", ""], "--cert-dir", id="cert-dir-empty"),
        pytest.param(["--start-balance", "1e400"], "--start-balance", id="balance"),
        pytest.param(["--sent-after", "1e300"], "--sent-after", id="sent-after"),
        pytest.param(["--delivered-after", "-1"], "--delivered-after", id="delivered-after"),
        pytest.param(["--dlr-retry-scale", "1e300"], "--dlr-retry-scale", id="dlr-scale"),
        pytest.param(["--slow-seconds", "1e300"], "--slow-seconds", id="slow-seconds"),
        pytest.param(["--fail-429", "2"], "--fail-429", id="fail-429"),
        pytest.param(["--port", "70000"], "--port", id="port"),
        pytest.param(["--seed", "x"], "--seed", id="seed"),
    ],
)
def test_every_option_message_names_the_option_only(args: list[str], option: str) -> None:
    """A bad option is a usage error naming that option, never a variable the command ignores."""
    code, output = invoke(["sandbox", *args])
    assert code == 2, output
    assert option in output
    assert "EIGHTXEIGHT_" not in output
    assert "argument or" not in output


def test_loopback_ipv6_is_not_called_all_interfaces(capsys: pytest.CaptureFixture[str]) -> None:
    """--host ::1 listens on one address; only a wildcard gets the "all interfaces" line."""
    from types import SimpleNamespace

    from eightxeight_async._cli_sandbox import _announce

    server = SimpleNamespace(
        port=8443, api_key="k", subaccount_id="s_hq", account_id=ACCOUNT, ca_path="/ca.pem"
    )
    server.tls12_only = False
    options = {"start_balance": "100", "postpaid": False}
    _announce(server, "::1", False, options)
    assert "all interfaces" not in capsys.readouterr().out
    _announce(server, "::", False, options)
    assert "Listening on all interfaces (::)" in capsys.readouterr().out


# --- 3. path ids: one rule on every route -----------------------------------------------------

HOSTILE_IDS = [
    pytest.param("a%2Fb", id="encoded-slash"),
    pytest.param("a%2fb", id="encoded-slash-lower"),
    pytest.param("a%20b", id="space"),
    pytest.param("a%3Fb", id="question-mark"),
    pytest.param("a%23b", id="hash"),
    pytest.param("a%25b", id="percent"),
    pytest.param("%C3%A9t%C3%A9", id="non-ascii"),
    pytest.param("%FF", id="not-utf8"),
    pytest.param("%2E%2E", id="dot-dot"),
    pytest.param("a%zz", id="bad-escape"),
    pytest.param("a" * 129, id="too-long"),
]

ID_ROUTES = {
    "send_survey": ("POST", "/api/v1/subaccounts/{sub}/surveys/{id}/messages"),
    "send_survey_batch": ("POST", "/api/v1/subaccounts/{sub}/surveys/{id}/messages/batch"),
    "get_message": ("GET", "/api/v1/subaccounts/{sub}/messages/{id}"),
    "cancel_message": ("DELETE", "/api/v1/subaccounts/{sub}/messages/{id}"),
    "send_feedback": ("POST", "/api/v1/subaccounts/{sub}/messages/{id}/feedback"),
    "delete_pii": ("DELETE", "/api/v1/subaccounts/{sub}/messages/{id}/pii"),
    "cancel_batch": ("DELETE", "/api/v1/subaccounts/{sub}/messages/batch/{id}"),
    "get_log_export": ("GET", "/api/v1/subaccounts/{sub}/messages/exports/{id}"),
    "cancel_log_export": ("DELETE", "/api/v1/subaccounts/{sub}/messages/exports/{id}"),
    "download_log_export": ("GET", "/api/v1/subaccounts/{sub}/messages/download/{id}"),
    "get_balance (accountId)": ("GET", "/api/v1/accounts/{id}/balance"),
    "send_sms (subAccountId)": ("POST", "/api/v1/subaccounts/{id}/messages"),
}

VALID_BODIES = {
    "send_survey": {"destination": PHONE},
    "send_survey_batch": {"messages": [{"destination": PHONE}]},
    "send_feedback": {"outcome": "success"},
    "send_sms (subAccountId)": {"destination": PHONE, "text": "x"},
}


@pytest.mark.parametrize("route", sorted(ID_ROUTES))
@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_every_path_id_outside_the_rule_is_400_1000(
    sandbox: Sandbox, raw: httpx.AsyncClient, route: str, hostile: str
) -> None:
    """send_survey to "a/b" was queued, get_log_export "a/b" was 404 / 4018: now all 400 / 1000,
    and nothing is stored."""
    method, template = ID_ROUTES[route]
    path = template.format(sub=sandbox.subaccount_id, id=hostile)
    body = VALID_BODIES.get(route)
    answer = await raw.request(method, path, json=body)
    checked(answer, 400, 1000)
    assert not sandbox.state.messages


async def test_a_survey_id_inside_the_rule_is_still_queued(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """The rule refuses nothing 8x8 would give: letters, digits, - . _ ~ and percent-encoded
    letters (decoded once)."""
    for survey in ("nps", "Survey-1.2_x~y", "%6Eps"):
        path = f"/api/v1/subaccounts/{sandbox.subaccount_id}/surveys/{survey}/messages"
        answer = checked(await raw.post(path, json={"destination": PHONE}), 200)
        assert answer["status"]["code"] == "QUEUED"


# --- 4. the sandbox's clock and the client's ---------------------------------------------------


async def test_client_can_schedule_after_an_advance(
    sandbox: Sandbox, client: AsyncSmsClient
) -> None:
    """After advance(86400), send_sms(scheduled=now+1h) (the client's now) is queued, not 1011,
    and waits one hour of sandbox time from then."""
    sandbox.advance(86_400)
    sent = await client.send_sms(
        destination=PHONE,
        text="later",
        scheduled=datetime.now(timezone.utc) + timedelta(hours=1),
        expiry=datetime.now(timezone.utc) + timedelta(hours=2),
    )
    assert sent.status.code == "QUEUED"
    message = sandbox.state.messages[sent.umid]
    assert 3500 < message.start_delay <= 3600
    sandbox.advance(3000)
    assert message.cancellable(sandbox.state.clock.mono())
    sandbox.advance(700)
    assert not message.cancellable(sandbox.state.clock.mono())


async def test_expiry_is_read_on_the_clients_clock(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """An expiry an hour ahead of real time is not "already reached" after a day's advance;
    one in the real past still is."""
    sandbox.advance(86_400)
    real = datetime.now(timezone.utc)
    body = {"destination": PHONE, "text": "x", "expiry": (real + timedelta(hours=1)).isoformat()}
    assert checked(await raw.post(sub_path(sandbox), json=body), 200)["status"]["code"] == "QUEUED"
    body["expiry"] = (real - timedelta(minutes=1)).isoformat()
    answer = checked(await raw.post(sub_path(sandbox), json=body), 200)
    assert answer["status"] == {"code": "REJECTED", "description": "Expiry time already reached"}


async def test_schedule_window_is_real_time_in_batches_too(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A batch template scheduled 6 days ahead of real time is taken after a 3-day advance;
    8 days ahead is still 1011."""
    sandbox.advance(3 * 86_400)
    real = datetime.now(timezone.utc)
    body: dict[str, Any] = {
        "template": {"text": "x", "scheduled": (real + timedelta(days=6)).isoformat()},
        "destinations": [PHONE],
    }
    assert checked(await raw.post(sub_path(sandbox, "/batch"), json=body), 200)["acceptedCount"]
    body["template"]["scheduled"] = (real + timedelta(days=8)).isoformat()
    checked(await raw.post(sub_path(sandbox, "/batch"), json=body), 400, 1011)


# --- 5. no request ends in a 500 or a traceback ------------------------------------------------

SUB = "sandbox_hq"
KEY = "k"


async def _in_process(
    requests: list[tuple[str, str, bytes]],
) -> list[httpx.Response]:
    """The sandbox's app, in process (no sockets), answering many hostile requests fast."""
    state = SandboxState(api_key=KEY, subaccounts=frozenset({SUB}), account_id=ACCOUNT)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(state)),
            base_url="https://sms.test",
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        ) as http:
            return [await http.request(m, p, content=b) for m, p, b in requests]
    finally:
        await state.aclose()


_S = f"/api/v1/subaccounts/{SUB}/messages"
_A = f"/api/v1/accounts/{ACCOUNT}"
_SEND = {"destination": PHONE, "text": "x"}
#: Each route that takes a body, with a body it accepts (every field gets the hostile values).
BODY_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", _S, _SEND),
    ("POST", f"/api/v1/subaccounts/{SUB}/surveys/nps/messages", {"destination": PHONE}),
    ("POST", f"{_S}/{UMID}/feedback", {"outcome": "success", "timestamp": "2024-01-01T00:00:00Z"}),
    ("POST", f"{_S}/batch", {"messages": [_SEND], "template": {"text": "x"}, "clientBatchId": "b"}),
    ("POST", f"/api/v1/subaccounts/{SUB}/surveys/nps/messages/batch", {"messages": [_SEND]}),
    ("POST", f"{_S}/exports", {"from": "2024-01-01", "to": "2024-01-02", "limit": 1}),
    ("POST", f"{_A}/webhooks", [{"subAccountId": "*", "url": "https://h.test/x"}]),
    ("DELETE", f"{_A}/webhooks", [{"subAccountId": "*"}]),
    ("POST", "/_sandbox/faults", {"share_429": 0, "inject": "429", "count": 0}),
    ("POST", "/_sandbox/clock", {"advance": 1}),
    ("POST", "/_sandbox/account", {"balance": 1, "postpaid": False}),
]
#: Raw JSON texts a JSON library would never write, and values of every wrong type.
HOSTILE_VALUES = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "1" + "0" * 400,
    "-1",
    "1.5",
    "true",
    "null",
    "[]",
    "{}",
    '"\\udc80"',
    '"http://[::1"',
    '"http://xn--/"',
    '"9999-12-31"',
    '"0001-01-01"',
    '"9999-12-31T23:59:59-23:59"',
    '"0001-01-01T00:00:00+23:59"',
    '"' + "x" * 20_000 + '"',
    "[" * 50 + "]" * 50,
]


def _hostile_bodies(body: Any) -> Iterator[bytes]:
    """``body`` with each field (of its first item, for an array) replaced by each value."""
    item = body[0] if isinstance(body, list) else body
    for key in item:
        for value in HOSTILE_VALUES:
            marker = "\x00HOSTILE\x00"
            changed = {**item, key: marker}
            text = json.dumps([changed] if isinstance(body, list) else changed)
            yield text.replace(json.dumps(marker), value).encode()
    for key in item:  # in a batch's message or template too
        if isinstance(item[key], (dict, list)) and item[key]:
            inner = item[key][0] if isinstance(item[key], list) else item[key]
            for inner_key in inner:
                for value in HOSTILE_VALUES:
                    marker = "\x00HOSTILE\x00"
                    nested = {**inner, inner_key: marker}
                    changed = {**item, key: [nested] if isinstance(item[key], list) else nested}
                    text = json.dumps(changed).replace(json.dumps(marker), value)
                    yield text.encode()


WHOLE_BODIES = [
    b"\xff\xfe\x00not utf-8",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    b"NaN",
    b"1e400",
    b"",
    b"[]",
    b'"text"',
    json.dumps({"messages": [_SEND] * 10_001}).encode(),
    json.dumps({"destinations": [PHONE] * 10_001, "template": {"text": "x"}}).encode(),
    json.dumps([{"subAccountId": "*", "url": "https://h.test"}] * 10_001).encode(),
]


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=lambda v: str(v)[-24:])
def test_hostile_bodies_never_end_in_a_500_or_a_traceback(
    method: str, path: str, body: Any, tracebacks: list[logging.LogRecord]
) -> None:
    """Every field of every body route, given huge numbers, NaN, wrong types, URLs httpx
    cannot post to, dates at datetime's edges, deep nesting; and whole bodies that are not
    UTF-8, not objects, or 10,001 items long: each answer is 8x8's shape, below 500, with
    nothing on the sandbox's stderr."""
    requests = [(method, path, raw) for raw in _hostile_bodies(body)]
    requests += [(method, path, raw) for raw in WHOLE_BODIES]
    answers = asyncio.run(_in_process(requests))
    for (_, _, sent), answer in zip(requests, answers, strict=True):
        assert answer.status_code < 500, (sent[:120], answer.text)
        if answer.status_code >= 400:
            assert set(answer.json()) == {"code", "message", "errorId", "timestamp"}
    assert not tracebacks, [r.getMessage() for r in tracebacks]


@pytest.mark.parametrize(
    "query",
    [
        "country=%FF%FE",
        "country=%C3%A9%C3%A9",
        "mcc=1&mnc=",
        "mcc=99999999999999999999&mnc=1",
        "mcc=%D9%A1&mnc=1",
        "subAccountId=%00",
        "direction=%80",
        "country=SG&country=US",
        "a=" + "x" * 20_000,
    ],
)
def test_hostile_query_strings_never_end_in_a_500(
    query: str, tracebacks: list[logging.LogRecord]
) -> None:
    """The price list's query, and the admin routes', with bytes that are not UTF-8, Arabic
    digits, huge numbers and repeated keys."""
    paths = [f"{_A}/prices?{query}", f"/_sandbox/arrivals?{query}", f"/_sandbox/stats?{query}"]
    answers = asyncio.run(_in_process([("GET", p, b"") for p in paths]))
    assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def test_receipt_urls_httpx_cannot_post_to_are_refused_at_the_door(
    sandbox: Sandbox, raw: httpx.AsyncClient, tracebacks: list[logging.LogRecord]
) -> None:
    """dlrCallbackUrl "http://xn--/" was queued and its receipt task then died with a
    traceback; "http://[::1" was a 500. Both are 400 / 3020 now (webhooks: 400 / 1000)."""
    for url in ("http://xn--/", "http://[v1.x]/", "http://[::1", "http://h:99999/"):
        body = {"destination": PHONE, "text": "x", "dlrCallbackUrl": url}
        checked(await raw.post(sub_path(sandbox), json=body), 400, 3020)
        hook = [{"subAccountId": "*", "url": url}]
        checked(await raw.post(account_path(sandbox, "/webhooks"), json=hook), 400, 1000)
    assert not sandbox.state.messages
    assert not tracebacks


def test_clock_stays_within_datetimes_range() -> None:
    """Sandbox.advance(1e300) used to break every later request (OverflowError): now the
    clock moves at most 366 days a step and 100 years in all, by the same rule as the admin
    route."""
    sandbox = Sandbox()
    for bad in (1e300, 10**400, -1, float("nan"), 366 * 86_400 + 1):
        with pytest.raises(e.ValidationError, match="seconds"):
            sandbox.advance(bad)
    for _ in range(100):
        sandbox.advance(366 * 86_400)
    with pytest.raises(e.ValidationError, match="100 years"):
        sandbox.advance(1)
    assert sandbox.state.clock.now().year < 2200


def test_admin_clock_refuses_what_the_method_refuses(tracebacks: list[logging.LogRecord]) -> None:
    """POST /_sandbox/clock: huge ints, NaN, a year and a day: 400 / 1000, not a 500."""
    bodies = [b'{"advance": ' + v + b"}" for v in (b"1" + b"0" * 400, b"NaN", b"31622401", b'"1"')]
    answers = asyncio.run(_in_process([("POST", "/_sandbox/clock", b) for b in bodies]))
    assert [a.status_code for a in answers] == [400] * 4, [a.text for a in answers]
    assert not tracebacks


def test_fault_settings_are_bounded_the_same_everywhere() -> None:
    """slow_seconds (3600), retry_after (a day) and the queue (100,000) have one limit each, for
    Faults and POST /_sandbox/faults; a count of a billion no longer fills memory."""
    for kwargs in ({"slow_seconds": 1e300}, {"retry_after": 10**6}, {"share_429": 10**400}):
        with pytest.raises(e.ValidationError):
            Faults(**kwargs)
    with pytest.raises(e.ValidationError, match="count"):
        Faults().inject("429", 10**9)
    bodies = [
        {"slow_seconds": 3601},
        {"retry_after": 86_401},
        {"inject": "429", "count": 10**9},
        {"share_429": 10**400},
    ]
    raws = [json.dumps(b).encode() for b in bodies]
    answers = asyncio.run(_in_process([("POST", "/_sandbox/faults", r) for r in raws]))
    assert [a.status_code for a in answers] == [400] * 4, [a.text for a in answers]


def test_lifecycle_arguments_are_bounded() -> None:
    """sent_after, delivered_after (366 days) and dlr_retry_scale (1000): a receipt's stamp
    can no longer overflow datetime."""
    for kwargs in ({"sent_after": 1e300}, {"delivered_after": 10**400}, {"dlr_retry_scale": 1e9}):
        with pytest.raises(e.ValidationError):
            Sandbox(**kwargs)


async def test_a_lone_surrogate_is_echoed_receipted_and_exported(
    sandbox: Sandbox, raw: httpx.AsyncClient, tracebacks: list[logging.LogRecord]
) -> None:
    """JSON may carry a lone surrogate. Echoed in clientMessageId it was a 500 (starlette
    encodes UTF-8), and its receipt task died in httpx: now the answer and the receipt carry
    it escaped, and the CSV a "?"."""
    sink = Sink()
    async with serve_http(sink) as base:
        body = (
            b'{"destination": "+6591234567", "text": "x", "clientMessageId": "id-\\udc80",'
            b' "dlrCallbackUrl": "' + base.encode() + b'/dlr"}'
        )
        answer = await raw.post(
            sub_path(sandbox), content=body, headers={"Content-Type": "application/json"}
        )
        assert checked(answer, 200)["clientMessageId"] == "id-\udc80"
        await eventually(lambda: bool(sink.bodies))
    assert sink.bodies[0]["payload"]["clientMessageId"] == "id-\udc80"
    job = checked(await raw.post(sub_path(sandbox, "/exports")), 202)["jobId"]
    sandbox.advance(5)
    link = checked(await raw.get(sub_path(sandbox, f"/exports/{job}")), 200)["data"][0]
    csv_text = (await raw.get(link)).text
    assert "id-?" in csv_text
    assert not tracebacks


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--api-key", "k"], id="api-key"),
        pytest.param(["--subaccount-id", "acme_hq"], id="subaccount-id"),
        pytest.param(["--base-url", "https://127.0.0.1:1"], id="base-url"),
        pytest.param(["--region", "EU"], id="region"),
        pytest.param(["--ca-bundle", "/ca.pem"], id="ca-bundle"),
    ],
)
def test_client_options_before_the_command_are_refused_not_ignored(args: list[str]) -> None:
    """`eightxeight --api-key K sandbox` ran with a random key: the group's client options,
    which the sandbox never reads, are a usage error naming the option and where it goes."""
    code, output = invoke([*args, "sandbox"])
    assert code == 2, output
    assert f"{args[0]} before 'sandbox'" in output
