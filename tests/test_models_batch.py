"""Batch requests and answers: every rule before I/O, item errors named by index, generated ids,
the wire against 8x8's OpenAPI schema, and every OpenAPI example answer parsed."""

from __future__ import annotations

import re
import typing
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eightxeight_async import _models_account as models_account
from eightxeight_async import _models_batch as models_batch
from eightxeight_async import _models_exports as models_exports
from eightxeight_async._converters import structure_response
from eightxeight_async._errors import ResponseValidationError, ValidationError
from eightxeight_async._models import Encoding, SmsStatusCode, SurveyRequest
from eightxeight_async._models_batch import (
    BatchMessage,
    BatchRequest,
    BatchResponse,
    BatchTemplate,
    CancelResponse,
    SurveyBatchMessage,
    SurveyBatchRequest,
    SurveyTemplate,
    new_client_batch_id,
    new_client_message_id,
)
from eightxeight_async._validators import DESTINATION_PATTERN
from eightxeight_async._validators_ops import MAX_BATCH_SIZE

from .conftest import PHONE, TEXT
from .models_wire_check import SPEC, check, component, operation, wire

BATCH = "/api/v1/subaccounts/{subAccountId}/messages/batch"
SURVEY_BATCH = "/api/v1/subaccounts/{subAccountId}/surveys/{surveyId}/messages/batch"
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX20 = re.compile(r"[0-9a-f]{20}")
INDEX = re.compile(r"\[\d+\]")


def phone(i: int) -> str:
    return f"+659{i:07d}"


# --- building and generated ids ----------------------------------------------------------------


def test_build_converts_mappings_and_generates_ids() -> None:
    request = BatchRequest.build(
        messages=[{"destination": PHONE, "text": TEXT}, BatchMessage(destination=phone(2))],
        template={"text": "shared", "encoding": "gsm7"},
    )
    assert all(isinstance(m, BatchMessage) for m in request.messages or ())
    assert request.template == BatchTemplate(text="shared", encoding=Encoding.GSM7)
    assert request.client_batch_id is not None
    assert HEX20.fullmatch(request.client_batch_id)
    ids = [m.client_message_id for m in request.messages or ()]
    assert all(i is not None and HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == 2
    body = wire(request)
    assert body == {
        "messages": [
            {"destination": PHONE, "text": TEXT, "clientMessageId": ids[0]},
            {"destination": phone(2), "clientMessageId": ids[1]},
        ],
        "template": {"text": "shared", "encoding": "GSM7"},
        "clientBatchId": request.client_batch_id,
    }


def test_build_keeps_given_ids_and_the_constructor_generates_none() -> None:
    request = BatchRequest.build(
        messages=[{"destination": PHONE, "text": TEXT, "client_message_id": "mine"}],
        client_batch_id="batch-1",
        include_messages_in_response=True,
        client_ip="203.0.113.7",
    )
    assert request.client_batch_id == "batch-1"
    assert request.messages is not None
    assert request.messages[0].client_message_id == "mine"
    assert wire(request)["includeMessagesInResponse"] is True
    assert wire(request)["clientIp"] == "203.0.113.7"
    plain = BatchRequest(messages=[BatchMessage(destination=PHONE, text=TEXT)])
    assert plain.client_batch_id is None
    assert plain.messages is not None
    assert plain.messages[0].client_message_id is None


def test_destinations_mode_on_the_wire() -> None:
    request = BatchRequest.build(destinations=[PHONE, phone(1)], template={"text": TEXT})
    body = wire(request)
    assert body["destinations"] == [PHONE, phone(1)]
    assert "messages" not in body
    assert body["template"] == {"text": TEXT}


def test_generated_ids_have_the_documented_form() -> None:
    assert HEX32.fullmatch(new_client_message_id())
    assert HEX20.fullmatch(new_client_batch_id())
    assert new_client_batch_id() != new_client_batch_id()


def test_ten_thousand_is_the_limit() -> None:
    many = [phone(i) for i in range(MAX_BATCH_SIZE)]
    assert (
        len(BatchRequest(destinations=many, template={"text": TEXT}).destinations or ()) == 10_000
    )
    messages = [{"destination": n, "text": TEXT} for n in many]
    built = BatchRequest.build(messages=messages)
    assert len({m.client_message_id for m in built.messages or ()}) == MAX_BATCH_SIZE
    with pytest.raises(ValidationError) as info:
        BatchRequest(destinations=[*many, PHONE], template={"text": TEXT})
    assert (info.value.field, info.value.rule) == ("destinations", "1 to 10,000 items")
    with pytest.raises(ValidationError) as info:
        BatchRequest.build(messages=[*messages, messages[0]])
    assert info.value.field == "messages"


# --- the rules, each named ---------------------------------------------------------------------

GOOD = {"destination": PHONE, "text": TEXT}
FUTURE = datetime.now(timezone.utc) + timedelta(days=1)


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        pytest.param({}, "messages", "one of the two", id="neither"),
        pytest.param(
            {"messages": [GOOD], "destinations": [PHONE], "template": {"text": TEXT}},
            "messages",
            "either messages or destinations, not both",
            id="both",
        ),
        pytest.param({"messages": []}, "messages", "1 to 10,000", id="empty-messages"),
        pytest.param(
            {"destinations": [], "template": {"text": TEXT}},
            "destinations",
            "1 to 10,000",
            id="empty-destinations",
        ),
        pytest.param({"messages": "hello"}, "messages", "a list", id="messages-a-string"),
        pytest.param({"messages": {"destination": PHONE}}, "messages", "a list", id="one-mapping"),
        pytest.param({"destinations": PHONE}, "destinations", "a list", id="destinations-str"),
        pytest.param({"destinations": [PHONE]}, "template.text", "given", id="no-template"),
        pytest.param(
            {"destinations": [PHONE], "template": {"source": "ME"}},
            "template.text",
            "given",
            id="template-without-text",
        ),
        pytest.param(
            {"messages": [GOOD, GOOD, GOOD, {"destination": "012"}], "template": {"text": "x"}},
            "messages[3].destination",
            "phone number",
            id="item-destination",
        ),
        pytest.param(
            {"destinations": [PHONE] * 7 + ["+0123"], "template": {"text": "x"}},
            "destinations[7]",
            "phone number",
            id="destination-index",
        ),
        pytest.param(
            {"destinations": [PHONE, 6591234567], "template": {"text": "x"}},
            "destinations[1]",
            "phone number",
            id="destination-not-str",
        ),
        pytest.param(
            {"messages": [GOOD, {"destination": PHONE}]},
            "messages[1].text",
            "template.text",
            id="text-missing",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE, "txt": "x"}]},
            "messages[0].txt",
            "a field of BatchMessage",
            id="unknown-key",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE, "bad key\n": "x"}]},
            "messages[0]",
            "a field of BatchMessage",
            id="unknown-odd-key-not-echoed",
        ),
        pytest.param(
            {"messages": [{"text": TEXT}]}, "messages[0].destination", "given", id="no-destination"
        ),
        pytest.param({"messages": [GOOD, 42]}, "messages[1]", "a BatchMessage", id="not-an-item"),
        pytest.param(
            {"messages": [{**GOOD, "source": "x" * 17}]},
            "messages[0].source",
            "at most 16",
            id="item-source",
        ),
        pytest.param(
            {"messages": [{**GOOD, "scheduled": FUTURE + timedelta(days=8)}]},
            "messages[0].scheduled",
            "7 days",
            id="item-scheduled",
        ),
        pytest.param(
            {"messages": [{**GOOD, "dlr_callback_url": "ftp://x"}]},
            "messages[0].dlr_callback_url",
            "http",
            id="item-url",
        ),
        pytest.param(
            {"messages": [{**GOOD, "client_ip": "1.2.3"}]},
            "messages[0].client_ip",
            "IP",
            id="item-ip",
        ),
        pytest.param(
            {"messages": [{**GOOD, "track": "maybe"}]},
            "messages[0].track",
            "one of",
            id="item-track",
        ),
        pytest.param(
            {"messages": [{**GOOD, "text": "a\x00b"}]},
            "messages[0].text",
            "control",
            id="item-text-control",
        ),
        pytest.param(
            {"messages": [{**GOOD, "client_message_id": "x" * 351}]},
            "messages[0].client_message_id",
            "350",
            id="item-client-message-id",
        ),
        pytest.param(
            {"messages": [GOOD], "template": {"txt": "x"}},
            "template.txt",
            "a field of BatchTemplate",
            id="template-unknown-key",
        ),
        pytest.param(
            {"messages": [GOOD], "template": {"expiry": FUTURE - timedelta(days=2)}},
            "template.expiry",
            "future",
            id="template-expiry",
        ),
        pytest.param({"messages": [GOOD], "template": "x"}, "template", "a BatchTemplate", id="t"),
        pytest.param(
            {"messages": [GOOD], "client_batch_id": "x" * 21},
            "client_batch_id",
            "at most 20",
            id="client-batch-id",
        ),
        pytest.param(
            {"messages": [GOOD], "client_batch_id": ""},
            "client_batch_id",
            "non-empty",
            id="client-batch-id-empty-not-replaced",
        ),
        pytest.param(
            {"messages": [GOOD], "include_messages_in_response": "yes"},
            "include_messages_in_response",
            "True or False",
            id="flag",
        ),
        pytest.param({"messages": [GOOD], "client_ip": "x"}, "client_ip", "IP", id="client-ip"),
    ],
)
def test_batch_rules(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    with pytest.raises(ValidationError) as info:
        BatchRequest.build(**kwargs)
    assert info.value.field == field
    assert rule_part in info.value.rule
    # Nothing chained that could hold a value; no value in the message.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert PHONE not in str(info.value)
    assert TEXT not in str(info.value)


def test_a_message_with_text_needs_no_template_and_one_without_takes_the_templates() -> None:
    request = BatchRequest.build(
        messages=[GOOD, {"destination": phone(1)}], template=BatchTemplate(text="shared")
    )
    assert request.messages is not None
    assert request.messages[1].text is None


def test_reprs_hold_no_text_or_full_number() -> None:
    request = BatchRequest.build(
        messages=[{"destination": PHONE, "text": TEXT}],
        template={"text": TEXT, "dlr_callback_url": "https://user:pw@example.com/dlr"},
    )
    assert request.messages is not None
    for shown in (repr(request), repr(request.messages[0]), repr(request.template)):
        assert TEXT not in shown
        assert PHONE not in shown
        assert "pw" not in shown
    assert "<1 items>" in repr(request)
    assert "'+65******67'" in repr(request.messages[0])


# --- survey batches ----------------------------------------------------------------------------

BODY = "Hi {{name}}, tell us: {{url:name}}"


def test_survey_batch_build() -> None:
    request = SurveyBatchRequest.build(
        messages=[
            {"destination": PHONE, "template_variables": {"name": "Ann", "age": 24}},
            SurveyRequest(destination=phone(1)),
            SurveyBatchMessage(destination=phone(2), client_message_id="given"),
        ],
        template={"template_body": BODY, "source": "Brand"},
    )
    assert isinstance(request.messages[0], SurveyBatchMessage)
    assert request.template == SurveyTemplate(template_body=BODY, source="Brand")
    ids = [m.client_message_id for m in request.messages]
    assert ids[2] == "given"
    assert all(i is not None and HEX32.fullmatch(i) for i in ids[:2])
    assert request.client_batch_id is not None
    body = wire(request)
    assert body["template"] == {"templateBody": BODY, "source": "Brand"}
    assert body["messages"][0]["templateVariables"] == {"name": "Ann", "age": 24}


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        pytest.param({"messages": []}, "messages", "1 to 10,000", id="empty"),
        pytest.param(
            {"messages": [{"destination": PHONE}], "template": {"source": "x"}},
            "template.template_body",
            "given",
            id="template-without-body",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE}], "template": {"template_body": "no link"}},
            "template.template_body",
            "{{url:}}",
            id="template-without-url",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE}, {"destination": PHONE, "text": "x"}]},
            "messages[1].text",
            "a field of SurveyBatchMessage",
            id="survey-has-no-text",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE, "template_variables": {"x": float("nan")}}]},
            "messages[0].template_variables",
            "finite",
            id="nan-variable",
        ),
        pytest.param(
            {"messages": [{"destination": PHONE}], "client_batch_id": "y" * 21},
            "client_batch_id",
            "at most 20",
            id="client-batch-id",
        ),
    ],
)
def test_survey_batch_rules(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    with pytest.raises(ValidationError) as info:
        SurveyBatchRequest.build(**kwargs)
    assert info.value.field == field
    assert rule_part in info.value.rule


def test_survey_template_body_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        SurveyTemplate(template_body=None)  # type: ignore[arg-type]
    assert info.value.field == "template_body"


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BATCH, SURVEY_BATCH])
def test_every_openapi_batch_answer_parses(path: str) -> None:
    example = operation("post", path)["responses"]["200"]["content"]["application/json"]["example"]
    answer = structure_response(example, BatchResponse)
    assert answer.batch_id == example["batchId"]
    assert (answer.accepted_count, answer.rejected_count) == (3, 1)
    assert answer.client_batch_id == example["clientBatchId"]
    assert len(answer.messages) == len(example["messages"])
    rejected = answer.rejected_messages
    assert [m.client_message_id for m in rejected] == ["id_100003"]
    assert rejected[0].status.code == SmsStatusCode.REJECTED


def test_the_schema_example_parses_and_messages_default_to_empty() -> None:
    answer = structure_response(component("BatchSmsResponse")["example"], BatchResponse)
    assert answer.rejected_messages == ()
    bare = structure_response(
        {"batchId": "b", "acceptedCount": 2, "rejectedCount": 0}, BatchResponse
    )
    assert bare.messages == ()
    assert bare.client_batch_id is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/subaccounts/{subAccountId}/messages/batch/{batchId}",
        "/api/v1/subaccounts/{subAccountId}/messages/{umid}",
    ],
)
def test_every_openapi_cancel_answer_parses(path: str) -> None:
    media = operation("delete", path)["responses"]["200"]["content"]["application/json"]
    examples = [media["example"]] if "example" in media else []
    examples += [e["value"] for e in media.get("examples", {}).values()]
    assert examples
    for example in examples:
        answer = structure_response(example, CancelResponse)
        assert answer.cancelled_count == example["cancelledCount"]


# --- the wire, against 8x8's schema (property) -------------------------------------------------


def batch_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """BatchSmsRequest as 8x8's prose describes it, which the OpenAPI file draws too narrowly.

    The file requires ``messages`` and each message's ``text``; the prose (and the request body
    description in the same file) says ``messages`` or ``destinations``, and that the template
    supplies what a message leaves out. Those two ``required`` lists are relaxed; everything
    else (patterns, lengths, item counts, enums, formats) is 8x8's.
    """
    components = {**SPEC["components"], "schemas": dict(SPEC["components"]["schemas"])}
    batch = component("BatchSmsRequest")
    batch.pop("required")
    sms = component("SmsRequest")
    sms["required"] = ["destination"]
    components["schemas"]["SmsRequest"] = sms
    return batch, components


NOW = datetime.now(timezone.utc)
SOON = st.builds(
    lambda seconds, hours: (NOW + timedelta(seconds=seconds)).astimezone(
        timezone(timedelta(hours=hours))
    ),
    st.floats(min_value=120, max_value=5 * 86400),
    st.integers(min_value=-12, max_value=14),
)
DESTINATIONS = st.from_regex(DESTINATION_PATTERN, fullmatch=True)
NOISE = st.text(max_size=12)
TEXTS = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30).filter(
    str.strip
)
IDS = st.text(alphabet="abc-_#/ 09", min_size=1, max_size=22) | NOISE


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values, some noise, so that many examples reach the schema check."""
    return st.integers(0, 9).flatmap(lambda i: NOISE if i == 7 else valid)


MESSAGE = st.fixed_dictionaries(
    {"destination": mostly(DESTINATIONS)},
    optional={
        "text": maybe(mostly(TEXTS)),
        "country": maybe(mostly(st.sampled_from(["SG", "us"]))),
        "source": maybe(IDS),
        "client_message_id": maybe(IDS),
        "encoding": maybe(st.sampled_from(["AUTO", "GSM7", "ucs2"])),
        "scheduled": maybe(SOON),
        "expiry": maybe(SOON),
        "dlr_callback_url": maybe(st.sampled_from(["https://example.com/d", "http://[::1]/x"])),
        "client_ip": maybe(st.sampled_from(["192.0.2.1", "2001:db8::1"])),
        "track": maybe(st.sampled_from(["None", "Outcome"])),
    },
)
TEMPLATE = st.fixed_dictionaries(
    {"text": mostly(TEXTS)},
    optional={
        "source": maybe(IDS),
        "encoding": maybe(st.sampled_from(["AUTO", "GSM7", "UCS2"])),
        "scheduled": maybe(SOON),
        "dlr_callback_url": maybe(st.sampled_from(["https://example.com/d"])),
    },
)
COMMON = {
    "client_batch_id": maybe(IDS),
    "include_messages_in_response": st.booleans(),
    "client_ip": maybe(st.sampled_from(["192.0.2.1", "::1"])),
}
BATCH_ARGS = (
    st.fixed_dictionaries(
        {"messages": st.lists(MESSAGE, min_size=1, max_size=4)},
        optional={"template": maybe(TEMPLATE), **COMMON},
    )
    | st.fixed_dictionaries(
        {"destinations": st.lists(mostly(DESTINATIONS), min_size=1, max_size=4)},
        optional={"template": TEMPLATE, **COMMON},
    )
    | st.fixed_dictionaries(
        {},
        optional={
            "messages": maybe(st.lists(MESSAGE, max_size=2)),
            "destinations": maybe(st.lists(DESTINATIONS, max_size=2)),
            "template": maybe(TEMPLATE),
        },
    )
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BATCH_ARGS)
def test_every_accepted_batch_is_json_8x8_accepts(args: dict[str, Any]) -> None:
    """Whatever ``build`` accepts has exactly one of messages/destinations, text for every
    message (its own or the template's), an id for every message and the batch, and encodes to
    JSON the (prose-relaxed) OpenAPI schema accepts, formats included."""
    try:
        request = BatchRequest.build(**args)
    except ValidationError as exc:
        event(f"refused: {INDEX.sub('[i]', exc.field)}: {exc.rule[:30]}")
        return
    event("accepted")
    body = wire(request)
    schema, components = batch_schema()
    assert check(schema, body, components) == []
    assert ("messages" in body) != ("destinations" in body)
    template_text = "text" in body.get("template", {})
    if "destinations" in body:
        assert template_text
    for message in body.get("messages", []):
        assert "text" in message or template_text
        assert "clientMessageId" in message
    assert 1 <= len(body["clientBatchId"]) <= 20


SURVEY_MESSAGE = st.fixed_dictionaries(
    {"destination": mostly(DESTINATIONS)},
    optional={
        "template_body": maybe(mostly(NOISE.map(lambda t: t + "{{url:}}"))),
        "template_variables": maybe(
            st.dictionaries(
                st.text(min_size=1, max_size=5),
                st.text(max_size=5) | st.integers() | st.booleans() | st.floats(),
                max_size=3,
            )
        ),
        "client_message_id": maybe(IDS),
        "country": maybe(mostly(st.sampled_from(["SG"]))),
    },
)
SURVEY_ARGS = st.fixed_dictionaries(
    {"messages": st.lists(SURVEY_MESSAGE, min_size=1, max_size=3) | st.just([])},
    optional={
        "template": maybe(
            st.fixed_dictionaries(
                {"template_body": NOISE.map(lambda t: t + " {{url:}}") | NOISE},
                optional={"source": maybe(IDS), "expiry": maybe(SOON)},
            )
        ),
        "client_batch_id": maybe(IDS),
        "include_messages_in_response": st.booleans(),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SURVEY_ARGS)
def test_every_accepted_survey_batch_is_json_8x8_accepts(args: dict[str, Any]) -> None:
    try:
        request = SurveyBatchRequest.build(**args)
    except ValidationError as exc:
        event(f"refused: {INDEX.sub('[i]', exc.field)}: {exc.rule[:30]}")
        return
    event("accepted")
    body = wire(request)
    assert check(component("BatchSurveyRequest"), body) == []
    assert all("clientMessageId" in m for m in body["messages"])


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=40),
    st.data(),
    st.sampled_from(["destination", "country", "source", "client_ip"]),
)
def test_an_item_error_names_its_index(size: int, data: st.DataObject, field: str) -> None:
    """One bad field anywhere in a batch is reported at its own index and name."""
    bad_at = data.draw(st.integers(min_value=0, max_value=size - 1))
    bad = {"destination": "0", "country": "SGP", "source": "s" * 17, "client_ip": "::x"}[field]
    messages: list[Any] = [{"destination": phone(i), "text": TEXT} for i in range(size)]
    messages[bad_at] = {**messages[bad_at], field: bad}
    # Mix instances and mappings: the index counts both.
    messages = [BatchMessage(**m) if i % 2 and i != bad_at else m for i, m in enumerate(messages)]
    with pytest.raises(ValidationError) as info:
        BatchRequest.build(messages=messages)
    assert info.value.field == f"messages[{bad_at}].{field}"


def test_instances_without_ids_get_them_without_losing_fields() -> None:
    item = BatchMessage(destination=PHONE, text=TEXT, source="Me", track="Outcome")
    request = BatchRequest.build(messages=[item])
    assert request.messages is not None
    assert attrs.evolve(request.messages[0], client_message_id=None) == item


def test_the_schema_check_can_fail() -> None:
    """The relaxed schema still refuses what 8x8 refuses (so the property above can fail)."""
    schema, components = batch_schema()
    assert check(schema, {"messages": [{"destination": "012"}]}, components)
    assert check(schema, {"destinations": [], "clientBatchId": "x" * 21}, components)
    assert check(schema, {"messages": [{"destination": PHONE, "encoding": "GSM8"}]}, components)
    assert check(schema, {"template": {"dlrCallbackUrl": "not a uri"}}, components)
    assert check(schema, {"template": {"scheduled": "2026-01-01T00:00:00+05:30:15"}}, components)


def test_null_arrays_are_empty_and_strings_are_not_arrays() -> None:
    bare = {"batchId": "b", "acceptedCount": 0, "rejectedCount": 0}
    assert structure_response({**bare, "messages": None}, BatchResponse).messages == ()
    with pytest.raises(ResponseValidationError) as info:
        structure_response({**bare, "messages": "QUEUED"}, BatchResponse)
    assert info.value.path == "$.messages"


@pytest.mark.parametrize("module", [models_batch, models_exports, models_account])
def test_type_hints_resolve_on_every_public_name(module: Any) -> None:
    """``typing.get_type_hints`` works on every class, method and property (no string
    annotations that a re-export under ``eightxeight_async`` could not resolve)."""
    for name in module.__all__:
        obj = getattr(module, name)
        typing.get_type_hints(obj)
        for member in vars(obj).values() if isinstance(obj, type) else ():
            if isinstance(member, property) and member.fget is not None:
                typing.get_type_hints(member.fget)
            elif isinstance(member, classmethod):
                typing.get_type_hints(member.__func__)


@pytest.mark.parametrize("survey", [False, True])
def test_expiry_after_scheduled_holds_for_each_message_merged_with_its_template(
    survey: bool,
) -> None:
    later, sooner = FUTURE + timedelta(hours=2), FUTURE + timedelta(hours=1)
    item: dict[str, Any] = {"destination": PHONE} if survey else {**GOOD}
    template: dict[str, Any] = {"template_body": BODY} if survey else {"text": TEXT}
    build: Any = SurveyBatchRequest.build if survey else BatchRequest.build
    ok = build(
        messages=[item, {**item, "expiry": later}], template={**template, "scheduled": sooner}
    )
    assert ok.messages[1].expiry == later
    with pytest.raises(ValidationError) as info:
        build(
            messages=[item, {**item, "scheduled": later}], template={**template, "expiry": sooner}
        )
    assert info.value.field == "messages[1].expiry"
    with pytest.raises(ValidationError) as info:
        build(messages=[{**item, "expiry": sooner}], template={**template, "scheduled": later})
    assert info.value.field == "messages[0].expiry"
