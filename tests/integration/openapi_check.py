"""8x8's OpenAPI file as a checker: what it says a request body and an answer may look like.

The schemas are read from ``tests/data/sms_api.json`` (8x8's own file, OpenAPI 3.0.1) and applied
with ``openapi-schema-validator`` (jsonschema underneath), with every ``$ref`` resolved inside the
file, so the sandbox is held against the same document Stoplight Prism uses, without Node.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).parents[1] / "data" / "sms_api.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
_BASE = "urn:8x8:sms-api"
_REGISTRY: Registry[Any] = Registry().with_resource(_BASE, DRAFT4.create_resource(SPEC))

# OpenAPI's "uri" format needs rfc3987, which is not installed: RFC 3986's own grammar, briefly.
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
)
FORMATS = copy.deepcopy(oas30_format_checker)
FORMATS.checkers["uri"] = (
    lambda value: not isinstance(value, str) or bool(_URI.fullmatch(value)),
    (),
)

_SUB = "/api/v1/subaccounts/{subAccountId}"
_ACCOUNT = "/api/v1/accounts/{accountId}"

#: The 17 operations of the file, as the sandbox names them: name -> (method, OpenAPI path).
OPERATIONS = {
    "send_sms": ("post", f"{_SUB}/messages"),
    "send_survey": ("post", f"{_SUB}/surveys/{{surveyId}}/messages"),
    "get_message": ("get", f"{_SUB}/messages/{{umid}}"),
    "send_feedback": ("post", f"{_SUB}/messages/{{umid}}/feedback"),
    "send_batch": ("post", f"{_SUB}/messages/batch"),
    "cancel_batch": ("delete", f"{_SUB}/messages/batch/{{batchId}}"),
    "send_survey_batch": ("post", f"{_SUB}/surveys/{{surveyId}}/messages/batch"),
    "start_log_export": ("post", f"{_SUB}/messages/exports"),
    "get_log_export": ("get", f"{_SUB}/messages/exports/{{jobId}}"),
    "cancel_log_export": ("delete", f"{_SUB}/messages/exports/{{jobId}}"),
    "cancel_message": ("delete", f"{_SUB}/messages/{{umid}}"),
    "delete_pii": ("delete", f"{_SUB}/messages/{{umid}}/pii"),
    "get_prices": ("get", f"{_ACCOUNT}/prices"),
    "get_balance": ("get", f"{_ACCOUNT}/balance"),
    "list_webhooks": ("get", f"{_ACCOUNT}/webhooks"),
    "set_webhook": ("post", f"{_ACCOUNT}/webhooks"),
    "delete_webhooks": ("delete", f"{_ACCOUNT}/webhooks"),
}

#: Not an operation of the file: where the sandbox serves a finished log export's CSV (the
#: ``data`` links of ``LogExportJobStatus``).
DOWNLOAD = ("get", f"{_SUB}/messages/download/{{token}}")

#: The CSV columns of a log export, in the order the file lists them.
CSV_COLUMNS = (
    "umid,subaccountid,direction,country,operator,mcc,mnc,status_value,status_details,"
    "status_errorcode,status_errormessage,status_timestamp,msisdn,source,encoding,createdat,"
    "smscount,price_currency,price_persms,price_total,clientmessageid,clientbatchid,batchid,body"
)

# The file's price list schema says `outbound` is an array of {"countries": [...]} and `inbound`
# an array of countries, but all three of its examples (Single-SubAccount, Multiple-SubAccounts,
# Inbound-Only) show {"countries": [...]} objects for both. The sandbox serves the examples'
# shape by default (the schema's on request); an answer must match one of the two, whole.
PRICES_AS_EXAMPLES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subAccounts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "subAccountId": {"type": "string"},
                    "outbound": {"$ref": "#/components/schemas/PriceOutbound"},
                    "inbound": {
                        "type": "object",
                        "properties": {
                            "countries": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/PriceInbountCountry"},
                            }
                        },
                    },
                },
            },
        }
    },
}


def _pointer(ref: str) -> Any:
    """Follow a ``#/...`` reference inside the file."""
    resolved = _REGISTRY.resolver(_BASE).lookup(f"{_BASE}{ref}")
    return resolved.contents


def _deref(node: Any) -> Any:
    while isinstance(node, Mapping) and "$ref" in node:
        node = _pointer(node["$ref"])
    return node


def validator(schema: Mapping[str, Any]) -> OAS30Validator:
    """A validator for one schema of the file, its references resolved in the whole file."""
    # A resolver based at the file, so that "#/components/..." inside a sub-schema means the file.
    return OAS30Validator(
        dict(schema),
        registry=_REGISTRY,
        format_checker=FORMATS,
        _resolver=_REGISTRY.resolver(_BASE),
    )


def request_schema(operation: str) -> dict[str, Any]:
    """The request body schema of ``operation``."""
    method, path = OPERATIONS[operation]
    body = _deref(SPEC["paths"][path][method]["requestBody"])
    schema: dict[str, Any] = _deref(body["content"]["application/json"]["schema"])
    return schema


def documented_statuses(operation: str) -> set[int]:
    """The HTTP statuses the file documents for ``operation``."""
    method, path = OPERATIONS[operation]
    return {int(status) for status in SPEC["paths"][path][method]["responses"]}


def error_schema() -> dict[str, Any]:
    """8x8's ``ErrorResponse`` (code, errorId and timestamp required; errorId a UUID)."""
    ref = (
        "#/paths/~1api~1v1~1subaccounts~1%7BsubAccountId%7D~1messages~1%7Bumid%7D~1pii"
        "/delete/responses/404/content/*~1*/schema"
    )
    schema: dict[str, Any] = _pointer(ref)
    return schema


def response_schema(operation: str | None, status: int) -> dict[str, Any] | None:
    """The schema an answer of ``status`` must match; None where the file says "no body".

    An undocumented status (a 429 on a send, a 500 on details, 404 / 405 on paths the file does
    not have) must still be 8x8's error body.
    """
    if operation is not None:
        method, path = OPERATIONS[operation]
        responses = SPEC["paths"][path][method]["responses"]
        if str(status) in responses:
            response = _deref(responses[str(status)])
            content = response.get("content") or {}
            if not content:
                return None
            media = content.get("application/json") or content.get("*/*") or {}
            if "schema" in media:
                schema: dict[str, Any] = _deref(media["schema"])
                return schema
    return error_schema()


def problems(schema: Mapping[str, Any], instance: object) -> list[str]:
    """Every way ``instance`` breaks ``schema``, as short sentences."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in validator(schema).iter_errors(instance)
    ]


def _matches(template: str, segments: list[str]) -> bool:
    parts = template.split("/")
    return len(parts) == len(segments) and all(
        p == s or (p.startswith("{") and bool(s)) for p, s in zip(parts, segments, strict=True)
    )


def _literals(template: str) -> int:
    return sum(1 for part in template.split("/") if not part.startswith("{"))


def operation_of(method: str, raw_path: str) -> str | None:
    """The operation a request addresses, or None for a path the sandbox does not serve.

    A literal segment beats an id (``messages/batch/{batchId}`` over ``messages/{umid}/pii``).
    """
    segments = raw_path.split("?", 1)[0].split("/")
    found = [
        (_literals(template), name)
        for name, (op_method, template) in OPERATIONS.items()
        if op_method.upper() == method.upper() and _matches(template, segments)
    ]
    return max(found)[1] if found else None


def _download_problems(where: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    content_type = headers.get("content-type", "")
    if not content_type.startswith("text/csv"):
        return [f"{where}: content-type {content_type!r} is not text/csv"]
    header = body.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if header != CSV_COLUMNS:
        return [f"{where}: CSV header {header[:80]!r} is not the file's columns"]
    return []


def answer_problems(
    method: str, raw_path: str, status: int, headers: Mapping[str, str], body: bytes
) -> list[str]:
    """Every way one answer of the sandbox differs from 8x8's OpenAPI file and reference pages."""
    operation = operation_of(method, raw_path)
    where = f"{method} {raw_path} -> {status}"
    if (
        operation is None
        and status == 200
        and method.lower() == DOWNLOAD[0]
        and _matches(DOWNLOAD[1], raw_path.split("?", 1)[0].split("/"))
    ):
        return _download_problems(where, headers, body)
    if status < 400 and operation is not None and status not in documented_statuses(operation):
        return [f"{where}: status not documented for {operation}"]
    schema = response_schema(operation, status)
    if schema is None:
        return [] if body == b"" else [f"{where}: the file documents no body, got {body[:80]!r}"]
    content_type = headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        return [f"{where}: content-type {content_type!r} is not JSON ({body[:80]!r})"]
    try:
        payload = json.loads(body)
    except ValueError:
        return [f"{where}: the body is not JSON ({body[:80]!r})"]
    found = [f"{where}: {p}" for p in problems(schema, payload)]
    if found and operation == "get_prices" and status == 200:
        found = [f"{where}: {p}" for p in problems(PRICES_AS_EXAMPLES, payload)]
    if status >= 400:
        found += [f"{where}: {p}" for p in problems(error_schema(), payload)]
        if not isinstance(payload, dict) or set(payload) != {
            "code",
            "message",
            "errorId",
            "timestamp",
        }:
            found.append(f"{where}: not 8x8's four error keys: {payload!r}")
    if status == 429 and "retry-after" not in {k.lower() for k in headers}:
        found.append(f"{where}: a 429 without Retry-After")
    return found


def response_conforms(answer: Any) -> None:
    """Assert an ``httpx.Response`` of the sandbox matches 8x8's OpenAPI file."""
    request = answer.request
    found = answer_problems(
        request.method,
        request.url.raw_path.decode("ascii"),
        answer.status_code,
        dict(answer.headers),
        answer.content,
    )
    assert found == [], found
