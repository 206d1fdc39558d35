"""The operation table: every declaration matches 8x8's OpenAPI file, paths are built safely."""

from __future__ import annotations

import json
from typing import Any

import pytest

import eightxeight_async as e
from eightxeight_async._converters import converter
from eightxeight_async._models_account import PriceQuery
from eightxeight_async._operations import (
    CANCEL_MESSAGE,
    GET_MESSAGE,
    GET_PRICES,
    OPERATIONS,
    SEND_SMS,
    SEND_SURVEY,
    SET_WEBHOOK,
    Operation,
    Scope,
)
from eightxeight_async._ratelimit import Bucket
from eightxeight_async._retry import CallKind

from .conftest import DATA

SPEC = json.loads((DATA / "sms_api.json").read_text())

# operationId in 8x8's file -> our method name.
OPERATION_IDS = {
    "Send-Sms-Single": "send_sms",
    "Send-Many-Sms": "send_batch",
    "cancel-many-sms-messages": "cancel_batch",
    "get-sms-message-details": "get_message",
    "cancel-scheduled-message": "cancel_message",
    "api-Sms-Feedback": "send_feedback",
    "delete-pii": "delete_pii",
    "Survey-Send": "send_survey",
    "Survey-Send-Many": "send_survey_batch",
    "start-log-export-job": "start_log_export",
    "get-log-export-job-result": "get_log_export",
    "cancel-log-export-job": "cancel_log_export",
    "get-price-list": "get_prices",
    "get-account-balance": "get_balance",
    "Get-Webhooks-2": "list_webhooks",
    "Add-Webhooks-2": "set_webhook",
    "Delete-Webhooks-2": "delete_webhooks",
}

# 8x8's path parameter names -> ours.
PATH_NAMES = {
    "subAccountId": "subaccount_id",
    "accountId": "account_id",
    "umid": "umid",
    "surveyId": "survey_id",
    "batchId": "batch_id",
    "jobId": "job_id",
}


def spec_operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found.append((operation["operationId"], method.upper(), path, operation))
    return found


def our_path(spec_path: str) -> str:
    for wire, ours in PATH_NAMES.items():
        spec_path = spec_path.replace(f"{{{wire}}}", f"{{{ours}}}")
    return spec_path


def test_every_operation_of_the_spec_is_declared_once() -> None:
    """The table holds the 17 operations of 8x8's file, no more, no fewer."""
    assert sorted(OPERATION_IDS) == sorted(op_id for op_id, *_ in spec_operations())
    assert sorted(OPERATIONS) == sorted(OPERATION_IDS.values())


@pytest.mark.parametrize(
    ("op_id", "method", "path", "spec"), spec_operations(), ids=lambda v: str(v)[:40]
)
def test_declaration_matches_the_spec(
    op_id: str, method: str, path: str, spec: dict[str, Any]
) -> None:
    """Method, path template, path parameters, success status and query names are 8x8's."""
    op = OPERATIONS[OPERATION_IDS[op_id]]
    assert op.method == method
    assert op.path == our_path(path)
    documented_2xx = sorted(int(s) for s in spec["responses"] if s.startswith("2"))
    assert sorted(op.success) == documented_2xx
    assert op.scope is (Scope.ACCOUNT if "{accountId}" in path else Scope.SUBACCOUNT)
    declared = {name for name, _ in op.path_params} | {op.scope.value}
    assert declared == {PATH_NAMES[name] for name in _placeholders(path)}
    queries = [p["name"] for p in spec.get("parameters", []) if p.get("in") == "query"]
    if queries:
        # The query class's fields, under their wire names, are the documented parameters.
        wire = converter.unstructure(_full_query(op))
        assert sorted(wire) == sorted(queries)
    else:
        assert op.query is None
    has_body = "requestBody" in spec
    assert (op.request is not None) == has_body
    if has_body:
        schema = spec["requestBody"]["content"]["application/json"]["schema"]
        assert op.array_body == (schema.get("type") == "array")


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _full_query(op: Operation[Any]) -> object:
    assert op.query is PriceQuery
    return PriceQuery(country="SG", mcc=525, mnc=1, direction="outbound", subaccount_id="acme_hq")


@pytest.mark.parametrize(
    ("name", "kind", "bucket"),
    [
        ("send_sms", CallKind.SEND, Bucket.SENDS),
        ("send_survey", CallKind.SEND, Bucket.SENDS),
        ("send_batch", CallKind.SEND, Bucket.SENDS),
        ("send_survey_batch", CallKind.SEND, Bucket.SENDS),
        ("get_message", CallKind.READ, Bucket.DETAILS),
        ("send_feedback", CallKind.OTHER, Bucket.SENDS),
        ("cancel_message", CallKind.READ, Bucket.SENDS),
        ("cancel_batch", CallKind.READ, Bucket.SENDS),
        ("delete_pii", CallKind.READ, Bucket.SENDS),
        ("start_log_export", CallKind.OTHER, Bucket.SENDS),
        ("get_log_export", CallKind.READ, Bucket.SENDS),
        ("cancel_log_export", CallKind.READ, Bucket.SENDS),
        ("get_prices", CallKind.READ, Bucket.ACCOUNT),
        ("get_balance", CallKind.READ, Bucket.ACCOUNT),
        ("list_webhooks", CallKind.READ, Bucket.ACCOUNT),
        ("set_webhook", CallKind.OTHER, Bucket.ACCOUNT),
        ("delete_webhooks", CallKind.READ, Bucket.ACCOUNT),
    ],
)
def test_kind_and_bucket_of_each_operation(name: str, kind: CallKind, bucket: Bucket) -> None:
    """Sends never replay blindly; GETs and DELETEs repeat; account calls use the account bucket."""
    op = OPERATIONS[name]
    assert (op.kind, op.bucket) == (kind, bucket)
    assert op.kind is not CallKind.READ or op.method in ("GET", "DELETE")
    assert op.kind is not CallKind.SEND or op.method == "POST"


def test_the_scope_segment_is_encoded_whole_and_path_ids_go_as_they_are() -> None:
    """The subaccount ("&" allowed) is percent-encoded; a path id is unreserved characters."""
    target = SEND_SURVEY.target("acme&co_hq", {"survey_id": "nps-2026.q4~x"})
    assert target == "/api/v1/subaccounts/acme%26co_hq/surveys/nps-2026.q4~x/messages"


@pytest.mark.parametrize("value", ["a/b", "a?b#c", "50%", "id with space", "ünï", "%2F"])
@pytest.mark.parametrize("op", [op for op in OPERATIONS.values() if op.path_params])
def test_path_ids_that_encoding_would_change_are_refused(op: Operation[Any], value: str) -> None:
    """Every path parameter of every operation has the one rule (unreserved characters)."""
    name = op.path_params[0][0]
    with pytest.raises(e.ValidationError) as info:
        op.target("acme_hq", {name: value})
    assert info.value.field == name


@pytest.mark.parametrize("value", ["", ".", "..", " x", "a\nb", None, 5])
def test_path_rules_refuse_before_any_io(value: object) -> None:
    """Each path parameter is checked by its declared rule, naming the argument."""
    with pytest.raises(e.ValidationError) as info:
        GET_MESSAGE.target("acme_hq", {"umid": value})
    assert info.value.field == "umid"


def test_query_parameters_are_data_on_the_operation() -> None:
    """The query class is declared; its set fields go out under 8x8's names, in order."""
    target = GET_PRICES.target(
        "0123456789abcdef0123456789abcdef",
        query=PriceQuery(country="SG", direction="inbound", subaccount_id="acme&co_hq"),
    )
    assert target == (
        "/api/v1/accounts/0123456789abcdef0123456789abcdef/prices"
        "?country=SG&direction=inbound&subAccountId=acme%26co_hq"
    )
    assert GET_PRICES.target("0123456789abcdef0123456789abcdef", query=PriceQuery()) == (
        "/api/v1/accounts/0123456789abcdef0123456789abcdef/prices"
    )


def test_a_query_of_the_wrong_class_is_a_bug_not_a_request() -> None:
    """An operation without a query class refuses one (the method and table disagree)."""
    with pytest.raises(TypeError, match="query"):
        CANCEL_MESSAGE.target("acme_hq", {"umid": "u"}, query=PriceQuery())


def test_only_the_table_knows_paths() -> None:
    """Every path starts at /api/v1/ and names its scope first."""
    for op in OPERATIONS.values():
        assert op.path.startswith(f"/api/v1/{'accounts' if op.scope is Scope.ACCOUNT else 'sub'}")
        assert op.path.count("{") == 1 + len(op.path_params)
    assert SEND_SMS.response is e.SmsResponse
    assert SET_WEBHOOK.array_body
