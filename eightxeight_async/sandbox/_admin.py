"""``/_sandbox/faults`` and ``/_sandbox/stats``: run-time control of a running sandbox.

``POST /_sandbox/faults`` takes one JSON object; ``clear`` is applied first, then the shares and
``slow_seconds``, then ``inject``, so ``{"clear": true, "share_429": 0.5}`` leaves exactly a 429
share of 0.5. Every setting is checked before any is applied: a bad one is a 400 / code 1000
body naming it, and nothing changes.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._faults import ENDPOINTS, Fault
from ._rules import authorized, error

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["admin_response"]

_SHARES = ("share_429", "share_500", "share_slow", "share_drop")
_KEYS = frozenset({*_SHARES, "slow_seconds", "retry_after", "inject", "count", "endpoint", "clear"})


class _BadSetting(Exception):
    pass


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float:
    value = body[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        msg = f"{key} must be a number from {low:g} to {high:g}"
        raise _BadSetting(msg)
    return float(value)


def _whole(body: dict[str, Any], key: str, low: int) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{key} must be a whole number of at least {low}"
        raise _BadSetting(msg)
    return value


def _settings(body: object) -> dict[str, Any]:
    """The checked settings of one POST, or _BadSetting naming the first bad one."""
    if not isinstance(body, dict):
        msg = "the body must be a JSON object"
        raise _BadSetting(msg)
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        msg = f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}"
        raise _BadSetting(msg)
    settings: dict[str, Any] = {
        name: _number(body, name, 0.0, 1.0) for name in _SHARES if name in body
    }
    if "slow_seconds" in body:
        settings["slow_seconds"] = _number(body, "slow_seconds", 0.0, 3600.0)
    if "retry_after" in body:
        settings["retry_after"] = _whole(body, "retry_after", 0)
    if "clear" in body and not isinstance(body["clear"], bool):
        msg = "clear must be true or false"
        raise _BadSetting(msg)
    if "inject" in body:
        try:
            settings["inject"] = Fault(body["inject"])
        except ValueError:
            msg = f"inject must be one of {', '.join(f.value for f in Fault)}"
            raise _BadSetting(msg) from None
        settings["count"] = _whole(body, "count", 0) if "count" in body else 1
        endpoint = body.get("endpoint")
        if endpoint is not None and endpoint not in ENDPOINTS:
            msg = f"endpoint must be one of {', '.join(ENDPOINTS)}"
            raise _BadSetting(msg)
        settings["endpoint"] = endpoint
    elif "count" in body or "endpoint" in body:
        msg = "count and endpoint go with inject"
        raise _BadSetting(msg)
    return settings


def _apply(state: SandboxState, body: dict[str, Any], settings: dict[str, Any]) -> None:
    faults = state.faults
    if body.get("clear"):
        faults.clear()
    for name in (*_SHARES, "slow_seconds", "retry_after"):
        if name in settings:
            setattr(faults, name, settings[name])
    if "inject" in settings:
        faults.inject(settings["inject"], settings["count"], endpoint=settings["endpoint"])


def _stats(state: SandboxState) -> Response:
    faults = state.faults
    return JSONResponse(
        {
            "faults": {
                "share_429": faults.share_429,
                "share_500": faults.share_500,
                "share_slow": faults.share_slow,
                "share_drop": faults.share_drop,
                "slow_seconds": faults.slow_seconds,
                "retry_after": faults.retry_after,
                "queued": faults.queued(),
            },
            "requests": dict(state.requests),
            "rate_limited": dict(state.rate_limited),
            "messages": len(state.messages),
        }
    )


async def admin_response(state: SandboxState, request: Request, path: str) -> Response:
    """Answer ``GET|POST /_sandbox/faults`` and ``GET /_sandbox/stats`` (same key as the API)."""
    methods = {"/_sandbox/faults": ("GET", "POST"), "/_sandbox/stats": ("GET",)}.get(path)
    if methods is None:
        return error(404, 1300, "Object wasn't found or is already expired")
    if request.method not in methods:
        allowed = ", ".join(methods)
        return error(
            405,
            2001,
            f"The method {request.method} is not allowed here; use {allowed}.",
            headers={"Allow": allowed},
        )
    if not authorized(request.headers.get("authorization", ""), state.api_key):
        return error(401, 1200, "Request was not authenticated properly")
    if request.method == "POST":
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
            settings = _settings(body)
        except (ValueError, RecursionError):
            return error(400, 1000, "Invalid fault settings: the body is not JSON.")
        except _BadSetting as bad:
            return error(400, 1000, f"Invalid fault settings: {bad}.")
        _apply(state, body, settings)
    return _stats(state)
