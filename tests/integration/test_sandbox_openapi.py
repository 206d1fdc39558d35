"""The sandbox held against 8x8's OpenAPI file: every answer, and what it accepts and refuses.

Answers: each endpoint's success and each documented error, plus unknown paths and methods, are
checked against the response schema of the file (``openapi_check``). Requests: a body the
request schema forbids must be refused (HTTP 400 with 8x8's error body and a documented code, or
the REJECTED-in-200 8x8's pages document for a few content problems); a body the schema allows
must be queued, except where 8x8's reference pages add a rule the schema cannot say (listed in
``allowed_bodies``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eightxeight_async.sandbox import Fault, Sandbox, SandboxState
from eightxeight_async.sandbox._app import build_app

from .openapi_check import OPERATIONS, answer_problems, operation_of, problems, request_schema

pytestmark = pytest.mark.integration

PHONE = "+6591234567"
UMID = "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"
KEY = "sandbox-conformance-key"
SUB = "sandbox_hq"

#: 8x8's error codes (api-error-codes table) and the REJECTED descriptions its pages document.
DOCUMENTED_CODES = {
    *range(1000, 1013),
    1014,
    1100,
    1200,
    1201,
    1300,
    1400,
    2000,
    2001,
    2002,
    2003,
    *range(3001, 3061),
    429,
}
DOCUMENTED_REJECTIONS = {
    "Text value is missing",
    "Invalid Text value. Reached max allowed limit",
    "Invalid Source value. Reached max allowed limit",
    "Expiry time already reached",
    "Invalid MSISDN format (not E.164 international number)",
}


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare httpx client for the sandbox, with its key: bodies the SDK would never send."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    async with httpx.AsyncClient(
        verify=context,
        base_url=sandbox.base_url,
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    ) as http:
        yield http


def conforms(answer: httpx.Response) -> None:
    """Assert the answer matches 8x8's OpenAPI file."""
    request = answer.request
    found = answer_problems(
        request.method,
        request.url.raw_path.decode("ascii"),
        answer.status_code,
        dict(answer.headers),
        answer.content,
    )
    assert found == []


def refused(answer: httpx.Response) -> str:
    """Assert the answer refuses the request as 8x8 does; returns how, for the report."""
    conforms(answer)
    payload = answer.json() if answer.content else None
    if answer.status_code == 200:
        assert isinstance(payload, dict)
        assert payload["status"]["code"] == "REJECTED"
        assert payload["status"]["description"] in DOCUMENTED_REJECTIONS
        return f"REJECTED: {payload['status']['description']}"
    assert answer.status_code == 400
    assert isinstance(payload, dict)
    assert payload["code"] in DOCUMENTED_CODES
    return f"400/{payload['code']}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dlrCallbackUrl", "http://a b.example/"),
        ("scheduled", "2030-01-01"),
        ("destination", "12"),
        ("encoding", "auto"),
        ("clientIp", 123),
        ("source", "S" * 17),
    ],
)
def test_the_checker_enforces_the_files_formats(field: str, value: object) -> None:
    """The checker itself sees uri, date-time, pattern, enum, type and length faults."""
    assert problems(request_schema("send_sms"), {"destination": PHONE, "text": "x", field: value})


# --- answers -----------------------------------------------------------------------------------

SMS = f"/api/v1/subaccounts/{SUB}/messages"


async def test_every_endpoint_answers_as_the_file_says(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Success answers of the four endpoints, QUEUED and REJECTED, match the file."""
    queued = await raw.post(SMS, json={"destination": PHONE, "text": "hi", "clientMessageId": "c1"})
    assert queued.status_code == 200
    conforms(queued)
    rejected = await raw.post(SMS, json={"destination": "+15550100003", "text": "你好"})
    assert rejected.json()["status"]["code"] == "REJECTED"
    conforms(rejected)
    survey = await raw.post(
        f"/api/v1/subaccounts/{SUB}/surveys/nps/messages",
        json={"destination": PHONE, "templateBody": "Rate us {{url:}}"},
    )
    conforms(survey)
    sandbox.state.details_per_second = 1000.0  # this test is about bodies, not the limit
    for umid in (queued.json()["umid"], rejected.json()["umid"], survey.json()["umid"]):
        details = await raw.get(f"{SMS}/{umid}")
        assert details.status_code == 200
        conforms(details)
    feedback = await raw.post(
        f"{SMS}/{queued.json()['umid']}/feedback", json={"outcome": "success"}
    )
    assert (feedback.status_code, feedback.content) == (200, b"")
    conforms(feedback)


async def test_every_operation_of_the_file_answers_success_as_it_says(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A success answer of each of the 17 operations, each checked against the file."""
    seen: set[str] = set()

    def ok(answer: httpx.Response) -> Any:
        assert answer.status_code < 300, answer.text
        conforms(answer)
        operation = operation_of(answer.request.method, answer.request.url.raw_path.decode())
        assert operation is not None
        seen.add(operation)
        return answer.json() if answer.content else None

    sandbox.state.details_per_second = 1000.0
    later = (sandbox.state.clock.now() + timedelta(hours=1)).isoformat()
    umid = ok(await raw.post(SMS, json={"destination": PHONE, "text": "hi", "scheduled": later}))[
        "umid"
    ]
    ok(
        await raw.post(
            f"/api/v1/subaccounts/{SUB}/surveys/nps/messages", json=BASE_BODIES["send_survey"]
        )
    )
    ok(await raw.post(f"{SMS}/{umid}/feedback", json={"outcome": "success"}))
    ok(await raw.get(f"{SMS}/{umid}"))
    batch = ok(
        await raw.post(
            f"{SMS}/batch",
            json={
                "destinations": [PHONE, "+15550100003"],
                "template": {"text": "x", "scheduled": later},
                "clientBatchId": "b1",
                "includeMessagesInResponse": True,
            },
        )
    )
    ok(
        await raw.post(
            f"/api/v1/subaccounts/{SUB}/surveys/nps/messages/batch",
            json={**BASE_BODIES["send_survey_batch"], "includeMessagesInResponse": True},
        )
    )
    assert ok(await raw.delete(f"{SMS}/{umid}")) == {"cancelledCount": 1}
    assert ok(await raw.delete(f"{SMS}/batch/{batch['batchId']}")) == {"cancelledCount": 1}
    assert ok(await raw.delete(f"{SMS}/{umid}/pii")) is None
    job = ok(await raw.post(f"{SMS}/exports", json={"limit": 10}))["jobId"]
    for _ in range(3):
        ok(await raw.get(f"{SMS}/exports/{job}"))  # queued, running, succeeded
        sandbox.advance(1.0)
    ok(await raw.delete(f"{SMS}/exports/{ok(await raw.post(f'{SMS}/exports'))['jobId']}"))
    account = f"/api/v1/accounts/{sandbox.account_id}"
    ok(await raw.get(f"{account}/prices"))
    ok(await raw.get(f"{account}/balance"))
    hook = [{"subAccountId": "*", "url": "https://example.com/dlr", "httpAuthorization": "Basic x"}]
    ok(await raw.post(f"{account}/webhooks", json=hook))
    ok(await raw.get(f"{account}/webhooks"))
    ok(await raw.request("DELETE", f"{account}/webhooks", json=[{"subAccountId": "*"}]))
    assert seen == set(OPERATIONS)


ErrorCase = Callable[[httpx.AsyncClient, Sandbox], Any]


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        pytest.param(
            lambda h, s: h.post(SMS, json={"destination": "12", "text": "x"}), 400, 1002, id="1002"
        ),
        pytest.param(
            lambda h, s: h.post("/api/v1/subaccounts/other_hq/messages", json={}),
            400,
            1001,
            id="1001-foreign-subaccount",
        ),
        pytest.param(
            lambda h, s: h.post("/api/v1/subaccounts/ab/messages", json={}),
            400,
            1000,
            id="1000-bad-subaccount",
        ),
        pytest.param(
            lambda h, s: h.post(SMS, json={}, headers={"Authorization": "Bearer wrong"}),
            401,
            1200,
            id="401",
        ),
        pytest.param(lambda h, s: h.get(f"{SMS}/{UMID}"), 404, 1300, id="404-unknown-umid"),
        pytest.param(lambda h, s: h.get(f"{SMS}/not-a-umid"), 400, 1000, id="400-bad-umid"),
        pytest.param(
            lambda h, s: h.post(f"{SMS}/{UMID}/feedback", json={"outcome": "maybe"}),
            400,
            1000,
            id="feedback-outcome",
        ),
        pytest.param(lambda h, s: h.post(SMS, content=b"{not json"), 400, 1000, id="body-not-json"),
        pytest.param(
            lambda h, s: h.post(SMS, content=b"[" * 100_000 + b"]" * 100_000),
            400,
            1000,
            id="body-nested-too-deep",
        ),
        pytest.param(
            lambda h, s: h.post(SMS, content=b'{"destination": NaN}'), 400, 1000, id="body-nan"
        ),
        # A path id holding an encoded "/" stays in its segment, and is refused as an id.
        pytest.param(lambda h, s: h.get(f"{SMS}/abc%2Fdef"), 400, 1000, id="umid-encoded-slash"),
        pytest.param(
            lambda h, s: h.post("/api/v1/subaccounts/a%2Fb/messages", json={}),
            400,
            1000,
            id="subaccount-encoded-slash",
        ),
        pytest.param(lambda h, s: h.get("/api/v1/nothing/here"), 404, 1300, id="unknown-path"),
        pytest.param(lambda h, s: h.get("/"), 404, 1300, id="root"),
        pytest.param(lambda h, s: h.delete(SMS), 405, 2001, id="405-delete"),
        pytest.param(lambda h, s: h.put(f"{SMS}/{UMID}/feedback"), 405, 2001, id="405-put"),
        pytest.param(lambda h, s: h.get(SMS), 405, 2001, id="405-get-send"),
        pytest.param(lambda h, s: h.get("/_sandbox/nothing"), 404, 1300, id="admin-unknown"),
        pytest.param(lambda h, s: h.delete("/_sandbox/faults"), 405, 2001, id="admin-405"),
    ],
)
async def test_every_error_has_8x8s_shape(
    sandbox: Sandbox, raw: httpx.AsyncClient, make: ErrorCase, status: int, code: int
) -> None:
    """Each documented error, unknown paths and methods included, is 8x8's JSON error body."""
    answer = await make(raw, sandbox)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    conforms(answer)
    if status == 405:
        assert answer.headers["Allow"]


@pytest.mark.parametrize(
    ("fault", "endpoint", "status", "code"),
    [
        (Fault.RATE_LIMIT, "send_sms", 429, 429),
        (Fault.INTERNAL_ERROR, "send_sms", 500, 2000),
        (Fault.UPGRADE_REQUIRED, "send_sms", 426, 1014),
        (Fault.RATE_LIMIT, "get_message", 429, 429),
        (Fault.INTERNAL_ERROR, "send_feedback", 500, 2000),
    ],
)
async def test_injected_faults_have_8x8s_shape(
    sandbox: Sandbox, raw: httpx.AsyncClient, fault: Fault, endpoint: str, status: int, code: int
) -> None:
    """429 (with Retry-After), 500 / 2000 and 426 / 1014 answers match the file."""
    sandbox.faults.inject(fault)
    path = {"send_sms": SMS, "get_message": f"{SMS}/{UMID}"}.get(endpoint, f"{SMS}/{UMID}/feedback")
    answer = await (raw.get(path) if endpoint == "get_message" else raw.post(path, json={}))
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    conforms(answer)
    if status == 429:
        assert answer.headers["Retry-After"] == "1"
    if status == 426:
        assert answer.headers["Upgrade"] == "TLS/1.3"


async def test_details_limit_answers_429_with_retry_after(raw: httpx.AsyncClient) -> None:
    """Two details requests back to back: the second is 429 with Retry-After, as documented."""
    await raw.get(f"{SMS}/{UMID}")
    answer = await raw.get(f"{SMS}/{UMID}")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    conforms(answer)


async def test_a_sandbox_bug_is_still_a_json_500(
    sandbox: Sandbox, raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected failure inside an endpoint is 500 / 2000 in 8x8's shape, not plain text."""

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("eightxeight_async.sandbox._messages.count_segments", broken)
    answer = await raw.post(SMS, json={"destination": PHONE, "text": "hi"})
    assert (answer.status_code, answer.json()["code"]) == (500, 2000)
    conforms(answer)


# --- requests the schema forbids -----------------------------------------------------------------

BASE_BODIES: dict[str, dict[str, Any]] = {
    "send_sms": {"destination": PHONE, "text": "hello"},
    "send_survey": {"destination": PHONE, "templateBody": "Rate us {{url:}}"},
    "send_feedback": {"outcome": "success"},
    "send_batch": {"messages": [{"destination": PHONE, "text": "hello"}]},
    "send_survey_batch": {"messages": [{"destination": PHONE}]},
    "start_log_export": {},
}
#: What 8x8's prose allows although the schema forbids it: `destinations` is discarded when
#: `messages` is given; log export dates may be `yyyy-MM-dd` ("from"/"to" accept three forms).
PROSE_ALLOWS: dict[str, Callable[[str, object], bool]] = {
    "send_batch": lambda name, value: name == "destinations",
    "start_log_export": lambda name, value: (
        name in ("from", "to") and isinstance(value, str) and len(value) == 10
    ),
}
WRONG_TYPES: list[object] = [None, 123, 1.5, True, [], {}, "text"]
BAD_STRINGS = {
    "pattern": ["12", "+0123456789", "abc1234567", "+65 9123 4567", "659123456789012345"],
    "enum": ["auto", "bogus", ""],
    "date-time": [
        "2030-01-01",
        "20300101T000000Z",
        "2030-01-01T00:00:00",
        "2030-01-01 00:00:00Z",
        "tomorrow",
    ],
    "uri": ["http://a b.example/", "http://example.com/{x}", "http://exämple.com/", "no scheme"],
}


def forbidden_bodies(operation: str) -> list[tuple[str, dict[str, Any]]]:
    """Bodies the request schema forbids, made mechanically from the schema, one fault each."""
    schema = request_schema(operation)
    base = BASE_BODIES[operation]
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, prop in schema["properties"].items():
        values: list[object] = list(WRONG_TYPES)
        if "maxLength" in prop:
            values.append("7" * (prop["maxLength"] + 1))
        if "minLength" in prop:
            values.append("7" * (prop["minLength"] - 1))
        if "pattern" in prop:
            values += BAD_STRINGS["pattern"]
        if "enum" in prop:
            values += BAD_STRINGS["enum"]
        if prop.get("format") in BAD_STRINGS:
            values += BAD_STRINGS[prop["format"]]
        for value in values:
            allowed = PROSE_ALLOWS.get(operation)
            if allowed is not None and allowed(name, value):
                continue
            cases.append((f"{name}={value!r}"[:60], {**base, name: value}))
    for name in schema.get("required", []):
        cases.append((f"no-{name}", {k: v for k, v in base.items() if k != name}))
    return [(case_id, body) for case_id, body in cases if problems(schema, body)]


async def _send(http: httpx.AsyncClient, operation: str, body: dict[str, Any], umid: str) -> Any:
    path = {
        "send_sms": SMS,
        "send_survey": f"/api/v1/subaccounts/{SUB}/surveys/nps/messages",
        "send_feedback": f"{SMS}/{umid}/feedback",
        "send_batch": f"{SMS}/batch",
        "send_survey_batch": f"/api/v1/subaccounts/{SUB}/surveys/nps/messages/batch",
        "start_log_export": f"{SMS}/exports",
    }[operation]
    return await http.post(path, json=body)


@pytest.mark.parametrize(
    "operation",
    [
        "send_sms",
        "send_survey",
        "send_feedback",
        "send_batch",
        "send_survey_batch",
        "start_log_export",
    ],
)
async def test_bodies_the_schema_forbids_are_refused(
    raw: httpx.AsyncClient, operation: str
) -> None:
    """Every mechanically made forbidden body is refused with 8x8's error body (or REJECTED)."""
    umid = (await raw.post(SMS, json={"destination": PHONE, "text": "hi"})).json()["umid"]
    cases = forbidden_bodies(operation)
    assert len(cases) >= 20
    outcomes = {}
    for case_id, body in cases:
        answer = await _send(raw, operation, body, umid)
        try:
            outcomes[case_id] = refused(answer)
        except AssertionError:
            pytest.fail(f"{operation} {case_id}: accepted or wrongly refused: {answer.text}")
    assert outcomes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"clientIp": 123}, 1012, id="clientIp-int"),
        pytest.param({"clientIp": True}, 1012, id="clientIp-true"),
        pytest.param({"clientIp": "not-an-ip"}, 1012, id="clientIp-text"),
        pytest.param({"source": ""}, 1005, id="source-empty"),
        pytest.param({"source": 42}, 1005, id="source-int"),
        pytest.param({"scheduled": "2020-01-01T00:00:00Z"}, 1011, id="scheduled-past"),
        pytest.param({"scheduled": "PAST"}, 1011, id="scheduled-an-hour-ago"),
        pytest.param({"scheduled": "FAR"}, 1011, id="scheduled-8-days-ahead"),
        pytest.param({"expiry": "soon"}, 1006, id="expiry-not-a-date"),
        pytest.param({"text": 5}, 1004, id="text-int"),
        pytest.param({"encoding": None}, 1003, id="encoding-null"),
        pytest.param({"country": "SGP"}, 1009, id="country-3"),
        pytest.param({"dlrCallbackUrl": "ftp://example.com/x"}, 3020, id="dlr-ftp"),
        pytest.param({"clientMessageId": "x" * 351}, 3009, id="clientMessageId-351"),
        pytest.param({"track": "outcome"}, 1000, id="track-case"),
    ],
)
async def test_send_refusals_have_8x8s_codes(
    raw: httpx.AsyncClient, body: dict[str, Any], code: int
) -> None:
    """Each refusal of a send has the status (400) and code 8x8's error table gives it."""
    when = datetime.now(timezone.utc)
    stamps = {"PAST": when - timedelta(hours=1), "FAR": when + timedelta(days=8)}
    if body.get("scheduled") in stamps:
        body = {"scheduled": stamps[body["scheduled"]].isoformat()}
    answer = await raw.post(SMS, json={"destination": PHONE, "text": "hi", **body})
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    conforms(answer)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"templateVariables": []}, 1007, id="templateVariables-list"),
        pytest.param({"templateVariables": "x"}, 1007, id="templateVariables-str"),
        pytest.param({"templateBody": "no link"}, 1007, id="templateBody-without-url"),
        pytest.param({"country": "S"}, 1009, id="country-1"),
    ],
)
async def test_survey_refusals_have_8x8s_codes(
    raw: httpx.AsyncClient, body: dict[str, Any], code: int
) -> None:
    """Each refusal of a survey send has 8x8's status and code."""
    answer = await raw.post(
        f"/api/v1/subaccounts/{SUB}/surveys/nps/messages",
        json={**BASE_BODIES["send_survey"], **body},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    conforms(answer)


# --- requests the schema allows: in process, many of them -----------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]))


def rfc3339(ahead: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """RFC 3339 strings ``ahead`` seconds from now, in any offset, with 0 to 7 fraction digits."""

    def build(seconds: int, offset_minutes: int, digits: int, zulu: bool) -> str:
        zone = timezone(timedelta(minutes=offset_minutes))
        when = datetime.now(timezone.utc).astimezone(zone) + timedelta(seconds=seconds)
        fraction = f".{when.microsecond:06d}0"[: digits + 1] if digits else ""
        if zulu:
            when = when.astimezone(timezone.utc)
            return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
        sign = "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + f"{sign}{hours:02d}:{minutes:02d}"

    return st.builds(
        build,
        ahead,
        st.integers(-12 * 60, 14 * 60),
        st.integers(0, 7),
        st.booleans(),
    )


DESTINATIONS = st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True).filter(
    lambda d: not d.lstrip("+").startswith("155501000")
)
TEMPLATE_BODIES = st.builds(lambda a, b: f"{a}{{{{url:}}}}{b}", ANY_TEXT, ANY_TEXT)
COMMON: dict[str, st.SearchStrategy[Any]] = {
    "source": st.text(min_size=1, max_size=16),
    "clientMessageId": st.text(max_size=350),
    "encoding": st.sampled_from(["AUTO", "GSM7", "UCS2"]),
    "scheduled": rfc3339(st.integers(120, 6 * 86400)),
    "expiry": rfc3339(st.integers(120, 30 * 86400)),
    "dlrCallbackUrl": st.from_regex(
        r"https?://127\.0\.0\.1:9/[a-z0-9/_\-.~%]{0,30}", fullmatch=True
    ),
}


def allowed_bodies(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies the schema allows, within the rules 8x8's pages add to it.

    Those rules: ``text`` not empty ("Text value is missing"), ``source`` not empty, ``clientIp``
    an IP address, ``scheduled`` in the next 7 days, ``expiry`` in the future, and not one of the
    sandbox's test numbers.
    """
    if operation == "send_feedback":
        return st.fixed_dictionaries(
            {"outcome": st.sampled_from(["success", "failure"])},
            optional={"timestamp": rfc3339(st.integers(-86400, 86400))},
        )
    if operation in ("send_batch", "send_survey_batch"):
        survey = operation == "send_survey_batch"
        shared = {
            k: COMMON[k] for k in ("source", "encoding", "scheduled", "expiry", "dlrCallbackUrl")
        }
        template = (
            st.fixed_dictionaries({"templateBody": TEMPLATE_BODIES}, optional=shared)
            if survey
            else st.fixed_dictionaries({}, optional={**shared, "text": ANY_TEXT.filter(bool)})
        )
        item = allowed_bodies("send_survey" if survey else "send_sms")
        optional: dict[str, st.SearchStrategy[Any]] = {
            "clientBatchId": st.text(max_size=20),
            "includeMessagesInResponse": st.booleans(),
            "template": template,
        }
        if not survey:
            optional["clientIp"] = st.ip_addresses().map(str)
        return st.fixed_dictionaries(
            {"messages": st.lists(item, min_size=1, max_size=3)}, optional=optional
        )
    if operation == "send_sms":
        return st.fixed_dictionaries(
            {"destination": DESTINATIONS, "text": ANY_TEXT.filter(bool)},
            optional={
                **COMMON,
                "country": st.text(max_size=2),
                "clientIp": st.ip_addresses().map(str),
                "track": st.sampled_from(["None", "Outcome"]),
            },
        )
    values = st.one_of(
        ANY_TEXT,
        st.integers(),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    return st.fixed_dictionaries(
        {"destination": DESTINATIONS},
        optional={
            **COMMON,
            "country": st.text(min_size=2, max_size=2),
            "templateBody": TEMPLATE_BODIES,
            "templateVariables": st.dictionaries(ANY_TEXT, values, max_size=5),
        },
    )


async def _in_process(operation: str, body: dict[str, Any]) -> httpx.Response:
    state = SandboxState(api_key=KEY, subaccounts=frozenset({SUB}))
    transport = httpx.ASGITransport(app=build_app(state))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://sms.test",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            umid = (await http.post(SMS, json={"destination": PHONE, "text": "x"})).json()["umid"]
            answer: httpx.Response = await _send(http, operation, body, umid)
            return answer
    finally:
        await state.aclose()


@pytest.mark.parametrize("operation", ["send_sms", "send_survey", "send_feedback"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bodies_the_schema_allows_are_accepted(operation: str, data: st.DataObject) -> None:
    """Generated bodies the schema allows are queued (feedback: 200, empty), and the answer
    matches the file."""
    body = data.draw(allowed_bodies(operation))
    assume(not problems(request_schema(operation), body))
    answer = asyncio.run(_in_process(operation, body))
    conforms(answer)
    assert answer.status_code == 200, answer.text
    if operation != "send_feedback":
        assert answer.json()["status"]["code"] == "QUEUED", answer.text


@pytest.mark.parametrize("operation", ["send_batch", "send_survey_batch"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batches_the_schema_allows_are_accepted(operation: str, data: st.DataObject) -> None:
    """Generated batches the schema allows (within the single-send rules 8x8's pages add) are
    answered 200 with every message accepted, and the answer matches the file."""
    body = data.draw(allowed_bodies(operation))
    assume(not problems(request_schema(operation), body))
    answer = asyncio.run(_in_process(operation, body))
    conforms(answer)
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert (payload["acceptedCount"], payload["rejectedCount"]) == (len(body["messages"]), 0)
    assert ("messages" in payload) is bool(body.get("includeMessagesInResponse"))


ACCOUNT = "0b7e8f0e-9f0e-4f7b-8a36-0b6f2f0b2f6a"  # a GUID; the sandbox's own is random

CALLS = {
    "send_sms": ("POST", SMS),
    "send_survey": ("POST", f"/api/v1/subaccounts/{SUB}/surveys/nps/messages"),
    "get_message": ("GET", f"{SMS}/{UMID}"),
    "send_feedback": ("POST", f"{SMS}/{UMID}/feedback"),
    "send_batch": ("POST", f"{SMS}/batch"),
    "send_survey_batch": ("POST", f"/api/v1/subaccounts/{SUB}/surveys/nps/messages/batch"),
    "cancel_message": ("DELETE", f"{SMS}/{UMID}"),
    "cancel_batch": ("DELETE", f"{SMS}/batch/{UMID}"),
    "delete_pii": ("DELETE", f"{SMS}/{UMID}/pii"),
    "start_log_export": ("POST", f"{SMS}/exports"),
    "get_log_export": ("GET", f"{SMS}/exports/job1"),
    "cancel_log_export": ("DELETE", f"{SMS}/exports/job1"),
    "get_prices": ("GET", f"/api/v1/accounts/{ACCOUNT}/prices"),
    "get_balance": ("GET", f"/api/v1/accounts/{ACCOUNT}/balance"),
    "list_webhooks": ("GET", f"/api/v1/accounts/{ACCOUNT}/webhooks"),
    "set_webhook": ("POST", f"/api/v1/accounts/{ACCOUNT}/webhooks"),
    "delete_webhooks": ("DELETE", f"/api/v1/accounts/{ACCOUNT}/webhooks"),
}


def test_calls_cover_every_operation_of_the_file() -> None:
    """The error table below reaches each of the file's 17 operations."""
    assert set(CALLS) == set(OPERATIONS)
    assert len(OPERATIONS) == 17
    assert {operation_of(method, path) for method, path in CALLS.values()} == set(OPERATIONS)


@pytest.mark.parametrize("operation", sorted(CALLS))
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        pytest.param(None, 401, 1200, id="401"),
        pytest.param(Fault.INTERNAL_ERROR, 500, 2000, id="500"),
        pytest.param(Fault.RATE_LIMIT, 429, 429, id="429"),
        pytest.param(Fault.UPGRADE_REQUIRED, 426, 1014, id="426"),
    ],
)
async def test_every_operation_errors_in_8x8s_shape(
    sandbox: Sandbox,
    raw: httpx.AsyncClient,
    operation: str,
    fault: Fault | None,
    status: int,
    code: int,
) -> None:
    """401, 500, 429 and 426 on each of the 17 operations match the file."""
    method, path = CALLS[operation]
    headers = {}
    if fault is None:
        headers["Authorization"] = "Bearer not-the-key"
    else:
        sandbox.faults.inject(fault)
    answer = await raw.request(method, path, json={} if method == "POST" else None, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    conforms(answer)
