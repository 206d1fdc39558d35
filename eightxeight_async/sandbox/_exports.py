"""Log export jobs: ``queued`` -> ``running`` -> ``succeeded`` (or ``empty``) over sandbox time.

A job stays ``queued`` for ``state.export_queued_for`` seconds of sandbox time and ``running``
for ``state.export_running_for`` more; then it ends ``empty`` when no message matches, else
``succeeded`` with one download link on the sandbox's own origin
(``/api/v1/subaccounts/{subAccountId}/messages/download/{token}``, bearer required, valid 30
days). The CSV has 8x8's columns and a row per message the sandbox answered with a UMID in that
subaccount (REJECTED and cancelled ones included), with its state as it stood when the job
ended; ``msisdn`` and ``body`` are redacted. ``from``/``to`` select on ``createdAt`` (a date alone
means that whole UTC day), ``phoneNumber`` on the number, ``countries`` on its country,
``limit`` keeps the oldest N (0: all).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ._messages import check_subaccount
from ._records import ExportJob, StoredMessage, new_token
from ._rules import (
    DESTINATION_RE,
    JSONResponse,
    Rejected,
    error,
    parse_rfc3339,
    path_id,
    read_json,
    refuse,
    stamp_2,
)
from ._state import SandboxState

__all__ = [
    "COLUMNS",
    "cancel_export",
    "download_export",
    "get_export",
    "job_status",
    "start_export",
]

COLUMNS = (
    "umid",
    "subaccountid",
    "direction",
    "country",
    "operator",
    "mcc",
    "mnc",
    "status_value",
    "status_details",
    "status_errorcode",
    "status_errormessage",
    "status_timestamp",
    "msisdn",
    "source",
    "encoding",
    "createdat",
    "smscount",
    "price_currency",
    "price_persms",
    "price_total",
    "clientmessageid",
    "clientbatchid",
    "batchid",
    "body",
)
_LINK_LIFETIME = timedelta(days=30)


def job_status(state: SandboxState, job: ExportJob) -> str:
    """The job's status now; the first look after its end takes the rows."""
    if job.cancelled:
        return "cancelled"
    age = state.clock.mono() - job.created_mono
    if age < state.export_queued_for:
        return "queued"
    ends_after = state.export_queued_for + state.export_running_for
    if age < ends_after:
        return "running"
    if job.rows is None:
        end_mono = job.created_mono + ends_after
        job.ended_at = state.clock.now() - timedelta(seconds=age - ends_after)
        job.failure = state.export_failure
        job.rows = [] if job.failure else _select(state, job, end_mono)
    if job.failure:
        return job.failure
    return "succeeded" if job.rows else "empty"


def _select(state: SandboxState, job: ExportJob, end_mono: float) -> list[dict[str, str]]:
    """The rows of the messages the job selects, as they stood at ``end_mono``."""
    chosen = sorted(
        (
            m
            for m in state.messages.values()
            if m.subaccount_id == job.subaccount_id
            and m.created_mono <= end_mono
            and job.start <= m.created_at <= job.end
            and (job.phone_number is None or m.destination == job.phone_number)
            and (job.countries is None or m.country_code in job.countries)
        ),
        key=lambda m: m.created_mono,
    )
    if job.limit:
        chosen = chosen[: job.limit]
    return [_row(state, m, end_mono) for m in chosen]


def _row(state: SandboxState, message: StoredMessage, at: float) -> dict[str, str]:
    status = message.status(at, state.sent_after, state.delivered_after)
    price = message.price(status["state"]) or {"total": 0.0, "perSms": 0.0, "currency": "EUR"}
    operator, mcc, mnc = message.network or ("", "", "")
    code = status.get("errorCode")
    return {
        "umid": message.umid,
        "subaccountid": message.subaccount_id,
        "direction": "1",
        "country": message.country_code or "",
        "operator": operator,
        "mcc": mcc,
        "mnc": mnc,
        "status_value": status["state"],
        "status_details": status.get("detail") or "",
        "status_errorcode": "" if code is None else str(code),
        "status_errormessage": status.get("errorMessage") or "",
        "status_timestamp": status["timestamp"],
        "msisdn": "" if message.pii_deleted else f"+{message.destination[:-4]}xxxx",
        "source": message.source,
        "encoding": message.encoding,
        "createdat": stamp_2(message.created_at),
        "smscount": str(message.sms_count),
        "price_currency": price["currency"],
        "price_persms": repr(price["perSms"]),
        "price_total": repr(price["total"]),
        "clientmessageid": message.client_message_id or "",
        "clientbatchid": message.client_batch_id or "",
        "batchid": message.batch_id or "",
        "body": "" if message.pii_deleted else "**MASKED**",
    }


def _bound(body: dict[str, Any], key: str, default: datetime, *, end: bool) -> datetime:
    """``from``/``to``: ``yyyy-MM-dd`` (a whole UTC day) or an RFC 3339 date-time."""
    if key not in body:
        return default
    value = body[key]
    if isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None:
            # The day's last instant as time.max: adding a day to 9999-12-31 would overflow.
            return datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)
    parsed = parse_rfc3339(value)
    if parsed is None:
        raise refuse(1000, f"Invalid {key} value: use yyyy-MM-dd or yyyy-MM-ddTHH:mm:ssZ.")
    return parsed


def _job(state: SandboxState, subaccount: str, body: dict[str, Any]) -> ExportJob:
    current = state.clock.now()
    start = _bound(body, "from", current - timedelta(days=7), end=False)
    end = _bound(
        body, "to", datetime.combine(current.date(), time.max, tzinfo=timezone.utc), end=True
    )
    if start > end:
        raise refuse(1010, "Parameter out of range: from is after to.")
    phone = body.get("phoneNumber")
    if "phoneNumber" in body and (
        not isinstance(phone, str) or not DESTINATION_RE.fullmatch(phone)
    ):
        raise refuse(1002, "Invalid MSISDN format (not E.164 international number)")
    countries = body.get("countries")
    if "countries" in body and (
        not isinstance(countries, list)
        or not all(isinstance(c, str) and len(c) == 2 for c in countries)
    ):
        raise refuse(1009, "Invalid Country Code.")
    limit = body.get("limit", 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise refuse(1010, "Parameter out of range: limit must be a whole number, 0 or more.")
    return ExportJob(
        job_id=new_token(),
        subaccount_id=subaccount,
        created_mono=state.clock.mono(),
        start=start,
        end=end,
        phone_number=phone.removeprefix("+") if isinstance(phone, str) else None,
        countries=frozenset(c.upper() for c in countries) if countries is not None else None,
        limit=limit,
    )


def _find_job(state: SandboxState, params: list[str]) -> ExportJob:
    subaccount = check_subaccount(params[0], state)
    job = state.exports.get(path_id(params[1], "jobId"))
    if job is None or job.subaccount_id != subaccount:
        raise Rejected(error(404, 4018, "Invalid jobId"))
    return job


async def start_export(state: SandboxState, request: Request, params: list[str]) -> Response:
    """POST /api/v1/subaccounts/{subAccountId}/messages/exports: 202 ``{"jobId"}``."""
    subaccount = check_subaccount(params[0], state)
    raw = await request.body()
    job = _job(state, subaccount, read_json(raw) if raw.strip() else {})
    state.exports[job.job_id] = job
    return JSONResponse({"jobId": job.job_id}, status_code=202)


async def get_export(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/subaccounts/{subAccountId}/messages/exports/{jobId}."""
    job = _find_job(state, params)
    status = job_status(state, job)
    body: dict[str, Any] = {"status": status}
    if status == "succeeded":
        assert job.ended_at is not None
        origin = f"{request.url.scheme}://{request.url.netloc}"
        body["data"] = [
            f"{origin}/api/v1/subaccounts/{quote(job.subaccount_id, safe='')}"
            f"/messages/download/{job.token}"
        ]
        body["expires"] = stamp_2(job.ended_at + _LINK_LIFETIME)
    return JSONResponse(body)


async def cancel_export(state: SandboxState, request: Request, params: list[str]) -> Response:
    """DELETE /api/v1/subaccounts/{subAccountId}/messages/exports/{jobId}: 204.

    A ``queued`` or ``running`` job becomes ``cancelled``; a job that already ended keeps its
    status (and its file).
    """
    job = _find_job(state, params)
    if job_status(state, job) in ("queued", "running"):
        job.cancelled = True
    return Response(status_code=204)


async def download_export(state: SandboxState, request: Request, params: list[str]) -> Response:
    """GET /api/v1/subaccounts/{subAccountId}/messages/download/{token}: the CSV file.

    Not an operation of 8x8's file: the target of ``data`` links. 404 / 1300 once expired.
    """
    subaccount = check_subaccount(params[0], state)
    token = path_id(params[1], "token")
    job = next((j for j in state.exports.values() if j.token == token), None)
    if (
        job is None
        or job.subaccount_id != subaccount
        or job_status(state, job) != "succeeded"
        or job.ended_at is None
        or state.clock.now() > job.ended_at + _LINK_LIFETIME
    ):
        raise Rejected(error(404, 1300, "Object wasn't found or is already expired"))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(job.rows or [])
    return Response(
        # A lone surrogate a client sent (in clientMessageId) has no UTF-8 form: "?" stands in.
        out.getvalue().encode("utf-8", "replace"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sms-logs-{job.job_id[:8]}.csv"'},
    )
