"""Shared fixtures: a client wired to respx, example bodies from 8x8's own documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from eightxeight_async import AsyncSmsClient, RateLimits
from eightxeight_async.testing import retry_without_waiting

DATA = Path(__file__).parent / "data"
BASE_URL = "https://sms.8x8.com"
API_KEY = "sk-test-0123456789abcdef"
SUBACCOUNT = "acme_hq"
PHONE = "+6591234567"
TEXT = "Your code is 424242"


def reference_examples() -> dict[str, list[dict[str, Any]]]:
    """The JSON examples of the four reference pages, in page order."""
    data: dict[str, list[dict[str, Any]]] = json.loads(
        (DATA / "reference_examples.json").read_text()
    )
    return data


def openapi_examples(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Every example of one kind ("sms", "details", "error") in 8x8's OpenAPI file."""
    spec = json.loads((DATA / "sms_api.json").read_text())
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "example" and isinstance(value, dict):
                    found.append((path, value))
                elif key == "examples" and isinstance(value, dict):
                    for name, ex in value.items():
                        if isinstance(ex, dict) and isinstance(ex.get("value"), dict):
                            found.append((f"{path}/{name}", ex["value"]))
                else:
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(spec, "")

    def kind_of(body: dict[str, Any]) -> str | None:
        keys = set(body)
        if "direction" in keys and "umid" in keys:
            return "details"
        if {"umid", "status", "destination"} <= keys:
            return "sms"
        if "errorId" in keys:
            return "error"
        return None

    return [(path, body) for path, body in found if kind_of(body) == kind]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router for 8x8's APAC host that fails on any request it was not told about."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[AsyncSmsClient]:
    """A client with no rate limits (limiter behaviour has its own tests)."""
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUBACCOUNT, rate_limits=RateLimits.unlimited()
    ) as sms:
        yield sms


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """Retry waits recorded instead of slept."""
    with retry_without_waiting() as recorded:
        yield recorded


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "EIGHTXEIGHT_API_KEY",
        "EIGHTXEIGHT_SUBACCOUNT_ID",
        "EIGHTXEIGHT_ACCOUNT_ID",
        "EIGHTXEIGHT_REDIS_URL",
        "EIGHTXEIGHT_BASE_URL",
        "EIGHTXEIGHT_CA_BUNDLE",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
