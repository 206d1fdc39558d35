"""Log export jobs on the sandbox over real TLS sockets: states, filters, cancel and the CSV.

Jobs move on the sandbox's clock (here queued 30 s, running 30 s, so that a slow machine cannot
move a job on by itself): ``sandbox.advance`` steps them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from eightxeight_async.sandbox import Sandbox

from .openapi_check import CSV_COLUMNS
from .sandbox_support import PHONE, UK_PHONE, ahead, checked, raw_client, sub_path

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare client for the sandbox; jobs queued 30 s and running 30 s of sandbox time."""
    sandbox.state.details_per_second = 1e6
    sandbox.state.export_queued_for = sandbox.state.export_running_for = 30.0
    async with raw_client(sandbox) as http:
        yield http


async def send(raw: httpx.AsyncClient, sandbox: Sandbox, **body: Any) -> str:
    answer = await raw.post(sub_path(sandbox), json={"text": "hello", **body})
    umid: str = checked(answer, 200)["umid"]
    return umid


async def start(raw: httpx.AsyncClient, sandbox: Sandbox, body: Any = None) -> str:
    answer = await raw.post(sub_path(sandbox, "/exports"), json=body if body is not None else {})
    job: str = checked(answer, 202)["jobId"]
    assert len(job) == 64
    assert job.isalnum()
    return job


async def status(raw: httpx.AsyncClient, sandbox: Sandbox, job: str) -> Any:
    return checked(await raw.get(sub_path(sandbox, f"/exports/{job}")), 200)


async def finished(raw: httpx.AsyncClient, sandbox: Sandbox, body: Any = None) -> Any:
    """Start a job, let it finish on the sandbox's clock, return its final status."""
    job = await start(raw, sandbox, body)
    sandbox.advance(61)
    return await status(raw, sandbox, job)


async def rows(raw: httpx.AsyncClient, link: str) -> list[dict[str, str]]:
    answer = await raw.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


async def test_job_moves_queued_running_succeeded_and_serves_the_csv(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """queued -> running -> succeeded on the sandbox's clock; one link on the sandbox's own
    origin, bearer required, whose CSV has 8x8's columns and a row per message sent."""
    delivered = await send(raw, sandbox, destination=PHONE, clientMessageId="c-1")
    undelivered = await send(raw, sandbox, destination="+15550100001")
    sandbox.advance(1)  # both reach their end before the job starts
    job = await start(raw, sandbox)
    assert await status(raw, sandbox, job) == {"status": "queued"}
    sandbox.advance(31)
    assert await status(raw, sandbox, job) == {"status": "running"}
    sandbox.advance(30)
    done = await status(raw, sandbox, job)
    assert done["status"] == "succeeded"
    (link,) = done["data"]
    assert link.startswith(f"{sandbox.base_url}/api/v1/subaccounts/{sandbox.subaccount_id}/")
    assert "/messages/download/" in link
    assert done["expires"].endswith("Z")
    answer = await raw.get(link)
    assert answer.text.split("\r\n", 1)[0] == CSV_COLUMNS
    table = {row["umid"]: row for row in await rows(raw, link)}
    assert set(table) == {delivered, undelivered}
    row = table[delivered]
    assert (row["status_value"], row["status_details"]) == ("delivered", "delivered_to_recipient")
    assert (row["msisdn"], row["body"]) == ("+659123xxxx", "**MASKED**")
    assert (row["country"], row["operator"], row["mcc"], row["mnc"]) == (
        "SG",
        "SingTel",
        "525",
        "01",
    )
    assert (row["direction"], row["smscount"], row["clientmessageid"]) == ("1", "1", "c-1")
    assert float(row["price_total"]) == float(row["price_persms"]) > 0
    bad = table[undelivered]
    assert (bad["status_value"], bad["status_errorcode"]) == ("undelivered", "15")
    assert float(bad["price_total"]) == 0
    async with raw_client(sandbox, key="not-the-key") as stranger:
        denied = await stranger.get(link)
    assert (denied.status_code, denied.json()["code"]) == (401, 1200)


async def test_nothing_matching_ends_empty(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """A job that selects no message ends ``empty``, with no links."""
    await send(raw, sandbox, destination=PHONE)
    assert await finished(raw, sandbox, {"phoneNumber": "+6500000000"}) == {"status": "empty"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({}, {"sg", "uk", "us"}, id="everything"),
        pytest.param({"phoneNumber": PHONE}, {"sg"}, id="phone-plus"),
        pytest.param({"phoneNumber": UK_PHONE[1:]}, {"uk"}, id="phone-digits"),
        pytest.param({"countries": ["GB", "us"]}, {"uk", "us"}, id="countries"),
        pytest.param({"limit": 2}, {"sg", "uk"}, id="limit-oldest"),
        pytest.param({"limit": 0}, {"sg", "uk", "us"}, id="limit-0-unlimited"),
        pytest.param({"from": "TODAY"}, {"sg", "uk", "us"}, id="from-today-date"),
        pytest.param({"to": "YESTERDAY"}, set(), id="to-yesterday"),
        pytest.param({"from": "IN_AN_HOUR"}, set(), id="from-later"),
    ],
)
async def test_filters_select_what_was_sent(
    sandbox: Sandbox, raw: httpx.AsyncClient, body: dict[str, Any], expected: set[str]
) -> None:
    """phoneNumber, countries, limit (oldest first, 0 = all), from and to select messages."""
    names = {}
    for name, number in (("sg", PHONE), ("uk", UK_PHONE), ("us", "+12025550123")):
        names[await send(raw, sandbox, destination=number)] = name
    today = sandbox.state.clock.now().date()
    stamps = {
        "TODAY": today.isoformat(),
        "YESTERDAY": (today - timedelta(days=1)).isoformat(),
        "IN_AN_HOUR": ahead(sandbox, hours=1),
    }
    body = {k: stamps.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    done = await finished(raw, sandbox, body)
    if not expected:
        assert done == {"status": "empty"}
        return
    got = {names[row["umid"]] for row in await rows(raw, done["data"][0])}
    assert got == expected


async def test_export_holds_only_its_subaccount(tmp_path: Any) -> None:
    """Another subaccount's messages, jobs and links are not visible (404 / 4018, 404 / 1300)."""
    async with (
        Sandbox(subaccounts=("one_hq", "two_hq"), cert_dir=tmp_path) as sandbox,
        raw_client(sandbox) as raw,
    ):
        one, two = "/api/v1/subaccounts/one_hq/messages", "/api/v1/subaccounts/two_hq/messages"
        sent = await raw.post(one, json={"destination": PHONE, "text": "x"})
        await raw.post(two, json={"destination": UK_PHONE, "text": "y"})
        job = checked(await raw.post(f"{one}/exports"), 202)["jobId"]
        sandbox.advance(5)
        done = checked(await raw.get(f"{one}/exports/{job}"), 200)
        assert [r["umid"] for r in await rows(raw, done["data"][0])] == [sent.json()["umid"]]
        checked(await raw.get(f"{two}/exports/{job}"), 404, 4018)
        token = done["data"][0].rsplit("/", 1)[1]
        checked(await raw.get(f"{two}/download/{token}"), 404, 1300)


async def test_cancel_stops_a_waiting_job_and_spares_a_finished_one(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """DELETE: 204, a queued job becomes cancelled; a succeeded job keeps its status."""
    await send(raw, sandbox, destination=PHONE)
    waiting = await start(raw, sandbox)
    cancelled = await raw.delete(sub_path(sandbox, f"/exports/{waiting}"))
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    checked(cancelled, 204)
    sandbox.advance(61)
    assert await status(raw, sandbox, waiting) == {"status": "cancelled"}
    done = await start(raw, sandbox)
    sandbox.advance(61)
    checked(await raw.delete(sub_path(sandbox, f"/exports/{done}")), 204)
    assert (await status(raw, sandbox, done))["status"] == "succeeded"


@pytest.mark.parametrize("failure", ["failed", "error"])
async def test_jobs_can_be_made_to_fail(
    sandbox: Sandbox, raw: httpx.AsyncClient, failure: str
) -> None:
    """POST /_sandbox/account {"export_failure": ...}: jobs ending from then on end so, with no
    links; null undoes it."""
    await send(raw, sandbox, destination=PHONE)
    waiting = await start(raw, sandbox)
    await raw.post("/_sandbox/account", json={"export_failure": failure})
    sandbox.advance(61)
    assert await status(raw, sandbox, waiting) == {"status": failure}
    await raw.post("/_sandbox/account", json={"export_failure": None})
    assert await status(raw, sandbox, waiting) == {"status": failure}  # it stays as it ended
    assert (await finished(raw, sandbox))["status"] == "succeeded"


async def test_unknown_job_is_404_4018(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """An unknown jobId is 404 / 4018 "Invalid jobId", for get and cancel alike."""
    payload = checked(await raw.get(sub_path(sandbox, "/exports/nope")), 404, 4018)
    assert payload["message"] == "Invalid jobId"
    checked(await raw.delete(sub_path(sandbox, "/exports/nope")), 404, 4018)


async def test_links_expire_after_a_month(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """A download link works until ``expires`` and is 404 / 1300 after it."""
    await send(raw, sandbox, destination=PHONE)
    done = await finished(raw, sandbox)
    assert await rows(raw, done["data"][0])
    sandbox.advance(31 * 86_400)
    checked(await raw.get(done["data"][0]), 404, 1300)


async def test_export_redacts_deleted_pii(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """After DELETE .../pii the row's msisdn and body are empty."""
    umid = await send(raw, sandbox, destination=PHONE)
    checked(await raw.delete(sub_path(sandbox, f"/{umid}/pii")), 202)
    (row,) = await rows(raw, (await finished(raw, sandbox))["data"][0])
    assert (row["msisdn"], row["body"]) == ("", "")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"from": "yesterday"}, 1000, id="from-words"),
        pytest.param({"to": "2026-13-01"}, 1000, id="to-month-13"),
        pytest.param({"from": 20260101}, 1000, id="from-int"),
        pytest.param({"from": "2026-02-01", "to": "2026-01-01"}, 1010, id="from-after-to"),
        pytest.param({"phoneNumber": "12"}, 1002, id="phone"),
        pytest.param({"countries": "SG"}, 1009, id="countries-string"),
        pytest.param({"countries": ["SGP"]}, 1009, id="country-3"),
        pytest.param({"limit": -1}, 1010, id="limit-negative"),
        pytest.param({"limit": True}, 1010, id="limit-bool"),
        pytest.param([], 1000, id="not-an-object"),
    ],
)
async def test_start_refusals_have_8x8s_codes(
    sandbox: Sandbox, raw: httpx.AsyncClient, body: Any, code: int
) -> None:
    """A request the rules forbid is 400 with 8x8's code, and starts no job."""
    checked(await raw.post(sub_path(sandbox, "/exports"), json=body), 400, code)
    assert sandbox.state.exports == {}


async def test_start_accepts_no_body_and_8x8s_date_forms(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """No body at all, yyyy-MM-dd, ...THH:mm:ssZ and ...THH:mm:ss+hh:mm are all accepted."""
    checked(await raw.post(sub_path(sandbox, "/exports")), 202)
    for stamp in ("2026-01-02", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05+08:00"):
        checked(await raw.post(sub_path(sandbox, "/exports"), json={"from": stamp}), 202)
