"""Batch sends, scheduled messages, cancels and PII deletion on the sandbox, over real TLS sockets.

Time is the sandbox's: ``sandbox.advance(...)`` moves it, so nothing here waits for the wall clock
(``eventually`` only guards a receipt that is already due against a hang).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from eightxeight_async import ValidationError
from eightxeight_async.sandbox import Sandbox
from eightxeight_async.sandbox._scheduler import SandboxClock

from .conftest import eventually, serve_http
from .sandbox_support import PHONE, UK_PHONE, Sink, ahead, checked, raw_client, sub_path

pytestmark = pytest.mark.integration

UMID = "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"
REJECTIONS = {
    "Text value is missing",
    "Invalid Source value. Reached max allowed limit",
    "Expiry time already reached",
    "Invalid MSISDN format (not E.164 international number)",
}


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A bare client for the sandbox; the details limit is lifted (these tests read a lot)."""
    sandbox.state.details_per_second = 1e6
    async with raw_client(sandbox) as http:
        yield http


async def details(raw: httpx.AsyncClient, sandbox: Sandbox, umid: str) -> Any:
    return checked(await raw.get(sub_path(sandbox, f"/{umid}")), 200)


# --- batches -------------------------------------------------------------------------------------


async def test_batch_merges_the_template_and_lets_a_message_override_it(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Template fields fill each message; a message's own field wins; ids are echoed."""
    body = {
        "clientBatchId": "promo-1",
        "includeMessagesInResponse": True,
        "template": {"text": "a" * 200, "source": "Shop"},
        "messages": [
            {"destination": PHONE, "clientMessageId": "m1"},
            {"destination": UK_PHONE, "text": "short", "source": "Other"},
        ],
    }
    answer = checked(await raw.post(sub_path(sandbox, "/batch"), json=body), 200)
    assert (answer["acceptedCount"], answer["rejectedCount"]) == (2, 0)
    assert answer["clientBatchId"] == "promo-1"
    first, second = answer["messages"]
    assert first["clientMessageId"] == "m1"
    assert "clientMessageId" not in second
    stored = [sandbox.state.messages[m["umid"]] for m in answer["messages"]]
    assert [(m.source, m.sms_count) for m in stored] == [("Shop", 2), ("Other", 1)]
    assert sandbox.state.batches[answer["batchId"]].umids == [m.umid for m in stored]
    shown = await details(raw, sandbox, first["umid"])
    assert (shown["batchId"], shown["clientBatchId"]) == (answer["batchId"], "promo-1")


async def test_batch_rejects_messages_in_band_with_8x8s_descriptions(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """The REJECTED test number, a missing text, a long source, a past expiry: REJECTED
    results counted in rejectedCount (as single sends answer them), never a refusal."""
    messages = [
        {"destination": PHONE, "text": "fine"},
        {"destination": "+15550100003", "text": "test number"},
        {"destination": PHONE},
        {"destination": PHONE, "text": "x", "source": "S" * 17},
        {"destination": PHONE, "text": "x", "expiry": "2020-01-01T00:00:00Z"},
    ]
    answer = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={"messages": messages, "includeMessagesInResponse": True},
        ),
        200,
    )
    assert (answer["acceptedCount"], answer["rejectedCount"]) == (1, 4)
    codes = [m["status"]["code"] for m in answer["messages"]]
    assert codes == ["QUEUED"] + ["REJECTED"] * 4
    assert {m["status"]["description"] for m in answer["messages"][1:]} == REJECTIONS
    assert "clientBatchId" not in answer
    # REJECTED ones can be looked up, as single sends: state failed.
    assert (await details(raw, sandbox, answer["messages"][1]["umid"]))["status"]["state"] == (
        "failed"
    )


async def test_destinations_share_the_template_and_get_batch_ids(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """destinations mode: the template's text for all, clientMessageId "{clientBatchId}/{dest}"."""
    answer = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={
                "destinations": [PHONE, "6598760001"],
                "template": {"text": "Sale today"},
                "clientBatchId": "Demo#1001",
                "includeMessagesInResponse": True,
            },
        ),
        200,
    )
    ids = [m["clientMessageId"] for m in answer["messages"]]
    assert ids == [f"Demo#1001/{PHONE}", "Demo#1001/6598760001"]
    no_id = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={"destinations": [PHONE], "includeMessagesInResponse": True},
        ),
        200,
    )
    # No clientBatchId: no generated clientMessageId; no template text: "Text value is missing".
    assert "clientMessageId" not in no_id["messages"][0]
    assert no_id["messages"][0]["status"]["description"] == "Text value is missing"


async def test_messages_win_over_destinations_and_counts_alone_by_default(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Both given: destinations are discarded; without includeMessagesInResponse no messages."""
    answer = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={
                "messages": [{"destination": PHONE, "text": "mine"}],
                "destinations": [UK_PHONE, UK_PHONE],
            },
        ),
        200,
    )
    assert (answer["acceptedCount"], answer["rejectedCount"]) == (1, 0)
    assert "messages" not in answer
    assert len(sandbox.state.messages) == 1


async def test_batch_of_10000_is_accepted_and_10001_is_the_bulk_limit(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """1..10,000 messages: the limit itself passes, one more is 400 / 1100 and stores nothing."""
    numbers = [f"+65{80000000 + i}" for i in range(10_000)]
    answer = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={"destinations": numbers, "template": {"text": "hi"}},
            timeout=60,
        ),
        200,
    )
    assert answer["acceptedCount"] == 10_000
    checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={"destinations": [*numbers, PHONE], "template": {"text": "hi"}},
            timeout=60,
        ),
        400,
        1100,
    )
    assert len(sandbox.state.messages) == 10_000


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        pytest.param({}, 3012, None, id="nothing"),
        pytest.param({"messages": []}, 3012, None, id="empty-messages"),
        pytest.param({"destinations": []}, 3012, None, id="empty-destinations"),
        pytest.param({"messages": "x"}, 1000, None, id="messages-not-array"),
        pytest.param({"messages": [5]}, 1000, "messages[0]", id="item-not-object"),
        pytest.param(
            {"messages": [{"destination": PHONE, "text": "x"}, {"destination": "+1123"}]},
            1002,
            "messages[1]",
            id="item-number-pattern",
        ),
        pytest.param({"destinations": [PHONE, 6591234567]}, 1002, "destinations[1]", id="dest-int"),
        pytest.param({"destinations": [PHONE], "clientBatchId": "c" * 21}, 3014, None, id="cbid"),
        pytest.param({"destinations": [PHONE], "clientBatchId": 7}, 1000, None, id="cbid-int"),
        pytest.param(
            {"destinations": [PHONE], "includeMessagesInResponse": "yes"}, 1000, None, id="incl"
        ),
        pytest.param({"destinations": [PHONE], "template": []}, 1007, None, id="template"),
        pytest.param({"destinations": [PHONE], "clientIp": "nope"}, 1012, None, id="clientIp"),
        pytest.param(
            {"destinations": [PHONE], "template": {"text": "x", "encoding": "ascii"}},
            1003,
            "destinations[0]",
            id="template-encoding",
        ),
        pytest.param(
            {
                "messages": [
                    {"destination": PHONE, "text": "ok"},
                    {"destination": PHONE, "text": "x", "scheduled": "2020-01-01T00:00:00Z"},
                ]
            },
            1011,
            "messages[1]",
            id="item-scheduled-past",
        ),
    ],
)
async def test_batch_refusals_have_8x8s_codes_and_store_nothing(
    sandbox: Sandbox, raw: httpx.AsyncClient, body: dict[str, Any], code: int, names: str | None
) -> None:
    """A batch the rules forbid is 400 with 8x8's code, naming the message; nothing is kept."""
    payload = checked(await raw.post(sub_path(sandbox, "/batch"), json=body), 400, code)
    if names is not None:
        assert names in payload["message"]
    assert sandbox.state.messages == {}
    assert sandbox.state.batches == {}


async def test_survey_batch_fills_each_template_and_counts(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A survey batch: the template body with each message's variables and the short link."""
    path = f"/api/v1/subaccounts/{sandbox.subaccount_id}/surveys/nps/messages/batch"
    body = {
        "clientBatchId": "MyBatch00001",
        "includeMessagesInResponse": True,
        "template": {"templateBody": "Hi {{firstName}} " + "x" * 150 + " {{url:firstName}}"},
        "messages": [
            {"destination": PHONE, "templateVariables": {"firstName": "Igor"}},
            {"destination": "+15550100003", "templateVariables": {"firstName": "Petr"}},
            {"destination": UK_PHONE, "templateBody": "Short {{url:}}"},
        ],
    }
    answer = checked(await raw.post(path, json=body), 200)
    assert (answer["acceptedCount"], answer["rejectedCount"]) == (2, 1)
    first, _, third = (sandbox.state.messages.get(m["umid"]) for m in answer["messages"])
    assert first is not None
    assert third is not None
    assert (first.sms_count, third.sms_count) == (2, 1)
    checked(
        await raw.post(path, json={"messages": [{"destination": PHONE}], "template": {}}), 400, 1007
    )
    checked(await raw.post(path, json={"destinations": [PHONE]}), 400, 3012)


# --- scheduled messages and cancels --------------------------------------------------------------


async def test_scheduled_batch_waits_for_its_time_then_delivers(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A batch scheduled a day ahead stays queued, sends no receipt, then is delivered (and
    its receipt posted, with its batch ids) once the sandbox's clock passes the time."""
    sink = Sink()
    async with serve_http(sink) as url:
        answer = checked(
            await raw.post(
                sub_path(sandbox, "/batch"),
                json={
                    "destinations": [PHONE],
                    "clientBatchId": "later",
                    "includeMessagesInResponse": True,
                    "template": {
                        "text": "tomorrow",
                        "scheduled": ahead(sandbox, days=1),
                        "dlrCallbackUrl": f"{url}/dlr",
                    },
                },
            ),
            200,
        )
        umid = answer["messages"][0]["umid"]
        sandbox.advance(86_400 - 60)
        assert (await details(raw, sandbox, umid))["status"]["state"] == "queued"
        assert sandbox.state.dlr_attempts == []
        sandbox.advance(120)
        assert (await details(raw, sandbox, umid))["status"]["state"] == "delivered"
        await eventually(lambda: bool(sink.bodies))
    payload = sink.bodies[0]["payload"]
    assert (payload["umid"], payload["batchId"], payload["clientBatchId"]) == (
        umid,
        answer["batchId"],
        "later",
    )


async def test_scheduled_message_can_be_cancelled_until_its_time(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Cancel -> {"cancelledCount": 1}; it is never sent, charged or receipted; a second cancel,
    a sent message, an unknown or a malformed umid are refused as 8x8 does."""
    sink = Sink()
    async with serve_http(sink) as url:
        umids = []
        for text in ("keep", "drop"):
            sent = await raw.post(
                sub_path(sandbox),
                json={
                    "destination": PHONE,
                    "text": text,
                    "scheduled": ahead(sandbox, hours=2),
                    "dlrCallbackUrl": f"{url}/dlr",
                },
            )
            umids.append(checked(sent, 200)["umid"])
        keep, drop = umids
        assert checked(await raw.delete(sub_path(sandbox, f"/{drop}")), 200) == {
            "cancelledCount": 1
        }
        checked(await raw.delete(sub_path(sandbox, f"/{drop}")), 404, 1300)
        sandbox.advance(3 * 3600)
        await eventually(lambda: bool(sink.bodies))
        checked(await raw.delete(sub_path(sandbox, f"/{keep}")), 404, 1300)  # already sent
    status = (await details(raw, sandbox, drop))["status"]
    assert (status["state"], status["errorCode"]) == ("failed", 20)
    assert [b["payload"]["umid"] for b in sink.bodies] == [keep]
    assert {umid for umid, _, _ in sandbox.state.dlr_attempts} == {keep}
    assert sandbox.state.messages[drop].charge(sandbox.state.clock.mono(), 0.1) == 0
    checked(await raw.delete(sub_path(sandbox, f"/{UMID}")), 404, 1300)
    checked(await raw.delete(sub_path(sandbox, "/not-a-umid")), 400, 1000)


async def test_unscheduled_message_cannot_be_cancelled(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """Only scheduled messages can be cancelled: an immediate send is 404 / 1300 at once."""
    umid = checked(await raw.post(sub_path(sandbox), json={"destination": PHONE, "text": "x"}), 200)
    checked(await raw.delete(sub_path(sandbox, f"/{umid['umid']}")), 404, 1300)


async def test_cancel_batch_counts_what_still_waited(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """A batch cancel cancels its scheduled, not REJECTED, messages; again, the count is 0."""
    answer = checked(
        await raw.post(
            sub_path(sandbox, "/batch"),
            json={
                "destinations": [PHONE, UK_PHONE, "+15550100003"],
                "template": {"text": "x", "scheduled": ahead(sandbox, hours=1)},
            },
        ),
        200,
    )
    path = sub_path(sandbox, f"/batch/{answer['batchId']}")
    assert checked(await raw.delete(path), 200) == {"cancelledCount": 2}
    assert checked(await raw.delete(path), 200) == {"cancelledCount": 0}
    checked(await raw.delete(sub_path(sandbox, f"/batch/{UMID}")), 404, 1300)
    checked(await raw.delete(sub_path(sandbox, "/batch/nope")), 400, 1000)


async def test_scheduled_is_checked_against_the_clients_clock(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """After the clock moved a day, a time 2 hours from real time (the client's clock) is
    queued, and waits 2 hours of sandbox time; 6 days ahead of the sandbox's clock is 7 days
    ahead of the client's: 1011."""
    sandbox.advance(86_400)
    host_soon = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    answer = checked(
        await raw.post(
            sub_path(sandbox), json={"destination": PHONE, "text": "x", "scheduled": host_soon}
        ),
        200,
    )
    assert answer["status"]["code"] == "QUEUED"
    assert 7100 < sandbox.state.messages[answer["umid"]].start_delay <= 7200
    checked(
        await raw.post(
            sub_path(sandbox),
            json={"destination": PHONE, "text": "x", "scheduled": ahead(sandbox, days=6, hours=1)},
        ),
        400,
        1011,
    )


async def test_message_expiring_before_its_schedule_is_discarded(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """expiry before scheduled: still unsent when it expires, it ends undelivered (error 36,
    "SMS expired") at its time, and is not charged."""
    umid = checked(
        await raw.post(
            sub_path(sandbox),
            json={
                "destination": PHONE,
                "text": "x",
                "scheduled": ahead(sandbox, hours=2),
                "expiry": ahead(sandbox, hours=1),
            },
        ),
        200,
    )["umid"]
    sandbox.advance(3 * 3600)
    status = (await details(raw, sandbox, umid))["status"]
    assert (status["state"], status["errorCode"], status["errorMessage"]) == (
        "undelivered",
        36,
        "SMS expired",
    )
    assert (await details(raw, sandbox, umid))["price"]["total"] == 0


async def test_clock_admin_route_moves_time(sandbox: Sandbox, raw: httpx.AsyncClient) -> None:
    """POST /_sandbox/clock {"advance": s} moves the clock; bad settings are 400 / 1000."""
    before = checked_admin = await raw.get("/_sandbox/clock")
    assert checked_admin.status_code == 200
    moved = await raw.post("/_sandbox/clock", json={"advance": 7200})
    assert moved.json()["offset"] == before.json()["offset"] + 7200
    for bad in ({"advance": -1}, {"advance": "1"}, {"rewind": 1}, [1]):
        answer = await raw.post("/_sandbox/clock", json=bad)
        assert (answer.status_code, answer.json()["code"]) == (400, 1000)
    assert (
        await raw.get("/_sandbox/clock", headers={"Authorization": "Bearer x"})
    ).status_code == 401


# --- PII -----------------------------------------------------------------------------------------


async def test_pii_deletion_removes_the_number_everywhere(
    sandbox: Sandbox, raw: httpx.AsyncClient
) -> None:
    """202 with no body; details keep msisdn and body but empty; the receipt's destination too."""
    sink = Sink()
    async with serve_http(sink) as url:
        umid = checked(
            await raw.post(
                sub_path(sandbox),
                json={
                    "destination": PHONE,
                    "text": "secret",
                    "scheduled": ahead(sandbox, minutes=5),
                    "dlrCallbackUrl": f"{url}/dlr",
                },
            ),
            200,
        )["umid"]
        assert (await details(raw, sandbox, umid))["msisdn"] == "+659123xxxx"
        deleted = await raw.delete(sub_path(sandbox, f"/{umid}/pii"))
        assert (deleted.status_code, deleted.content) == (202, b"")
        checked(deleted, 202)
        shown = await details(raw, sandbox, umid)
        assert (shown["msisdn"], shown["body"]) == ("", "")
        sandbox.advance(600)
        await eventually(lambda: bool(sink.bodies))
    assert sink.bodies[0]["payload"]["destination"] == ""
    assert "6591234567" not in repr(sandbox.state.messages[umid])
    checked(await raw.delete(sub_path(sandbox, f"/{UMID}/pii")), 404, 1300)


@pytest.mark.parametrize("seconds", [-1.0, float("inf"), float("nan")])
def test_advance_takes_only_time_forward(seconds: float) -> None:
    """The clock only moves forward by a finite amount: anything else is a ValidationError."""
    sandbox = Sandbox()
    with pytest.raises(ValidationError) as info:
        sandbox.advance(seconds)
    assert info.value.field == "seconds"
    assert sandbox.state.clock.offset == 0


async def test_clock_runs_what_falls_due_in_order() -> None:
    """Jobs due within an advance run at once, earliest first; later ones keep waiting."""
    clock = SandboxClock()
    ran: list[str] = []
    start = clock.mono()
    for name, due in (("c", 30.0), ("a", 10.0), ("b", 20.0), ("late", 3600.0)):
        clock.call_at(start + due, functools.partial(ran.append, name))
    clock.advance(25)
    assert ran == ["a", "b"]
    clock.advance(10)
    assert ran == ["a", "b", "c"]
    clock.close()
