"""``/_sandbox/...``: run-time control of a running sandbox (same key as the API).

- ``GET|POST /_sandbox/faults``: ``POST`` takes one JSON object; ``clear`` is applied first, then
  the shares and ``slow_seconds``, then ``inject``, so ``{"clear": true, "share_429": 0.5}`` leaves
  exactly a 429 share of 0.5.
- ``GET /_sandbox/stats``: requests per endpoint, 429s of the details rule, messages.
- ``GET /_sandbox/arrivals?subaccount=ID[&endpoint=NAME]``: when each request on that subaccount
  (or, with the account id, on the account) arrived, in arrival order: ``{"subaccount",
  "arrivals": [{"at", "endpoint"}]}``, ``at`` in seconds of the sandbox's monotonic clock (compare
  them with each other only). Read-only; for tests of client-side rate limits across processes.
- ``GET|POST /_sandbox/clock``: ``{"advance": 3600}`` moves the sandbox's time an hour forward
  (scheduled messages, receipts and export jobs that fell due run at once; at most 366 days a
  step and 100 years in all, as ``Sandbox.advance``); answers ``{"now", "offset"}``.
- ``GET|POST /_sandbox/account``: ``{"postpaid": true}``, ``{"balance": 50.0}`` (the balance
  from now on, before further charges; a JSON number or text of plain digits, 0 to 10**12 with
  at most 6 decimals: the rule of ``Sandbox(start_balance=...)``, see ``_amounts``),
  ``{"prices_as_arrays": true}``, ``{"export_failure":
  "failed"}`` (log export jobs that end from now on end ``failed``; ``"error"``; ``null`` undoes
  it); answers ``accountId``, ``postpaid``, ``balance``, ``currency``, ``prices_as_arrays``,
  ``export_failure``.

Every setting is checked before any is applied: a bad one is a 400 / code 1000 body naming it,
and nothing changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ._amounts import parse_balance
from ._faults import ENDPOINTS, MAX_QUEUED, MAX_RETRY_AFTER, MAX_SLOW_SECONDS, Fault
from ._pricing import CURRENCY
from ._rules import JSONResponse, authorized, error, stamp_7

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
        # Compared as numbers: NaN fails, and an int too big for a float does not overflow.
        or not low <= value <= high
    ):
        msg = f"{key} must be a number from {low:g} to {high:g}"
        raise _BadSetting(msg)
    return float(value)


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{key} must be a whole number from {low} to {high}"
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
        settings["slow_seconds"] = _number(body, "slow_seconds", 0.0, MAX_SLOW_SECONDS)
    if "retry_after" in body:
        settings["retry_after"] = _whole(body, "retry_after", 0, MAX_RETRY_AFTER)
    if "clear" in body and not isinstance(body["clear"], bool):
        msg = "clear must be true or false"
        raise _BadSetting(msg)
    if "inject" in body:
        try:
            settings["inject"] = Fault(body["inject"])
        except ValueError:
            msg = f"inject must be one of {', '.join(f.value for f in Fault)}"
            raise _BadSetting(msg) from None
        settings["count"] = _whole(body, "count", 0, MAX_QUEUED) if "count" in body else 1
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
    if "inject" in settings:
        room = MAX_QUEUED - (0 if body.get("clear") else len(faults.queued()))
        if settings["count"] > room:  # checked before anything changes
            msg = f"count must leave at most {MAX_QUEUED} faults queued ({room} more fit)"
            raise _BadSetting(msg)
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
            "batches": len(state.batches),
            "exports": len(state.exports),
        }
    )


def _clock_settings(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        msg = "the body must be a JSON object"
        raise _BadSetting(msg)
    unknown = sorted(set(body) - {"advance"})
    if unknown:
        msg = f"unknown setting {unknown[0]!r}; known: advance"
        raise _BadSetting(msg)
    if "advance" in body:
        return {"advance": body["advance"]}  # checked by the clock, the rule of Sandbox.advance
    return {}


def _clock(state: SandboxState, settings: dict[str, Any]) -> Response:
    if "advance" in settings:
        try:
            state.clock.advance(settings["advance"])
        except ValueError as exc:
            return error(400, 1000, f"Invalid clock settings: advance must be {exc}.")
    return JSONResponse({"now": stamp_7(state.clock.now()), "offset": state.clock.offset})


def _arrivals(state: SandboxState, request: Request) -> Response:
    owner = request.query_params.get("subaccount")
    if not owner:
        return error(400, 1000, "Give the subaccount (or account id): ?subaccount=ID.")
    endpoint = request.query_params.get("endpoint")
    log = state.arrivals.get(owner, ())
    return JSONResponse(
        {
            "subaccount": owner,
            "arrivals": [
                {"at": at, "endpoint": name}
                for at, name in log
                if endpoint is None or name == endpoint
            ],
        }
    )


_ACCOUNT_KEYS = ("postpaid", "balance", "prices_as_arrays", "export_failure")


def _account_settings(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        msg = "the body must be a JSON object"
        raise _BadSetting(msg)
    unknown = sorted(set(body) - set(_ACCOUNT_KEYS))
    if unknown:
        msg = f"unknown setting {unknown[0]!r}; known: {', '.join(_ACCOUNT_KEYS)}"
        raise _BadSetting(msg)
    settings: dict[str, Any] = {}
    for name in ("postpaid", "prices_as_arrays"):
        if name in body:
            if not isinstance(body[name], bool):
                msg = f"{name} must be true or false"
                raise _BadSetting(msg)
            settings[name] = body[name]
    if "balance" in body:
        try:
            settings["balance"] = parse_balance(body["balance"])
        except ValueError as exc:
            msg = f"balance must be {exc}"
            raise _BadSetting(msg) from None
    if "export_failure" in body:
        if body["export_failure"] not in ("failed", "error", None):
            msg = "export_failure must be failed, error or null"
            raise _BadSetting(msg)
        settings["export_failure"] = body["export_failure"]
    return settings


def _account(state: SandboxState, settings: dict[str, Any]) -> Response:
    for name in ("postpaid", "prices_as_arrays", "export_failure"):
        if name in settings:
            setattr(state, name, settings[name])
    if "balance" in settings:
        # The start balance that leaves exactly this balance after what was charged so far.
        state.start_balance += settings["balance"] - state.balance()
    return JSONResponse(
        {
            "accountId": state.account_id,
            "postpaid": state.postpaid,
            "balance": float(state.balance()),
            "currency": CURRENCY,
            "prices_as_arrays": state.prices_as_arrays,
            "export_failure": state.export_failure,
        }
    )


_METHODS = {
    "/_sandbox/faults": ("GET", "POST"),
    "/_sandbox/stats": ("GET",),
    "/_sandbox/clock": ("GET", "POST"),
    "/_sandbox/account": ("GET", "POST"),
    "/_sandbox/arrivals": ("GET",),
}


async def admin_response(state: SandboxState, request: Request, path: str) -> Response:
    """Answer the ``/_sandbox/...`` control routes (same key as the API)."""
    methods = _METHODS.get(path)
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
    what = path.rsplit("/", 1)[1]
    noun = {"faults": "fault"}.get(what, what)
    check = {"faults": _settings, "clock": _clock_settings, "account": _account_settings}.get(what)
    body: Any = {}
    settings: dict[str, Any] = {}
    if request.method == "POST" and check is not None:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
            settings = check(body)
        except (ValueError, RecursionError):
            return error(400, 1000, f"Invalid {noun} settings: the body is not JSON.")
        except _BadSetting as bad:
            return error(400, 1000, f"Invalid {noun} settings: {bad}.")
    if what == "arrivals":
        return _arrivals(state, request)
    if what == "clock":
        return _clock(state, settings)
    if what == "account":
        return _account(state, settings)
    if request.method == "POST":
        try:
            _apply(state, body, settings)
        except _BadSetting as bad:
            return error(400, 1000, f"Invalid {noun} settings: {bad}.")
    return _stats(state)
