"""Helpers of the issue 9 model tests: 8x8's OpenAPI schemas, and what a request sends."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest

from eightxeight_async._converters import converter, encode_json

from .conftest import DATA

SPEC: dict[str, Any] = json.loads((DATA / "sms_api.json").read_text())


def component(name: str) -> dict[str, Any]:
    """A copy of one schema of ``components/schemas``."""
    schema: dict[str, Any] = copy.deepcopy(SPEC["components"]["schemas"][name])
    return schema


def operation(method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation object of ``method`` ``path``."""
    op: dict[str, Any] = SPEC["paths"][path][method]
    return op


def request_schema(method: str, path: str) -> dict[str, Any]:
    """A copy of the request body schema of an operation."""
    body = operation(method, path)["requestBody"]
    schema: dict[str, Any] = copy.deepcopy(body["content"]["application/json"]["schema"])
    return schema


def check(
    schema: dict[str, Any], body: object, components: dict[str, Any] | None = None
) -> list[str]:
    """Every way ``body`` breaks ``schema`` (formats checked), as short sentences."""
    return [
        f"{list(err.path)}: {err.message}"
        for err in _validator(json.dumps(schema), json.dumps(components)).iter_errors(body)
    ]


@functools.cache
def _validator(schema_json: str, components_json: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    components = json.loads(components_json) or SPEC["components"]
    schema = {**json.loads(schema_json), "components": components}
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"{name} in the request body")


def wire(request: Any) -> Any:
    """The JSON a request object becomes on the wire, read back strictly (no NaN)."""
    data = encode_json(converter.unstructure(request))
    return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)


def wire_array(requests: list[Any]) -> list[Any]:
    """The JSON array of request objects (the webhook bodies are arrays)."""
    return [wire(request) for request in requests]
