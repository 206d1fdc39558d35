"""export_logs on virtual time, and iter_log_records streaming a CSV download over respx.

The polling tests run on tests/virtual_time.py's loop: every pause is real asyncio time, jumped
over, so the tests assert on the schedule of polls without waiting for it. The streaming tests
check that rows arrive before the download ends, that memory stays bounded by one row, and the key
rule: the API key goes only to the client's own origin.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import math
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async.testing import retry_without_waiting
from tests.isolated_loop import run_isolated

from .conftest import API_KEY, BASE_URL
from .virtual_time import run_virtual

SUB = "acme_hq"
JOB = "job-42"
EXPORTS = f"{BASE_URL}/api/v1/subaccounts/{SUB}/messages/exports"
JOB_URL = f"{EXPORTS}/{JOB}"
LINK = f"{BASE_URL}/api/v1/subaccounts/{SUB}/messages/download/tok-secret-1"
LINK2 = f"{BASE_URL}/api/v1/subaccounts/{SUB}/messages/download/tok-secret-2"

COLUMNS = (
    "umid,subaccountid,direction,country,operator,mcc,mnc,status_value,status_details,"
    "status_errorcode,status_errormessage,status_timestamp,msisdn,source,encoding,createdat,"
    "smscount,price_currency,price_persms,price_total,clientmessageid,clientbatchid,batchid,body"
)


def csv_row(index: int, **overrides: str) -> str:
    values = {
        "umid": f"00000000-0000-0000-0000-{index:012d}",
        "subaccountid": SUB,
        "direction": "1",
        "country": "SG",
        "operator": "SingTel",
        "mcc": "525",
        "mnc": "01",
        "status_value": "delivered",
        "status_details": "delivered_to_recipient",
        "status_errorcode": "",
        "status_errormessage": "",
        "status_timestamp": "2026-11-20T10:00:05.123Z",
        "msisdn": "+659123xxxx",
        "source": "Acme",
        "encoding": "GSM7",
        "createdat": "2026-11-20T10:00:00.000Z",
        "smscount": "2",
        "price_currency": "SGD",
        "price_persms": "0.0099171",
        "price_total": "0.0198342",
        "clientmessageid": f"cm-{index}",
        "clientbatchid": "",
        "batchid": "",
        "body": "**MASKED**",
    }
    values.update(overrides)
    return ",".join(values[name] for name in COLUMNS.split(",")) + "\r\n"


def csv_text(rows: int) -> str:
    return COLUMNS + "\r\n" + "".join(csv_row(i) for i in range(rows))


def status_body(state: str, links: tuple[str, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"status": state}
    if links:
        body["data"] = list(links)
        body["expires"] = "2026-12-20T06:58:41.74Z"
    return body


def new_client(**kwargs: Any) -> AsyncSmsClient:
    return AsyncSmsClient(
        api_key=API_KEY,
        subaccount_id=SUB,
        rate_limits=RateLimits.unlimited(),
        retry=RetryPolicy(max_attempts=1),
        **kwargs,
    )


@pytest.fixture
def respx_mock() -> Iterator[respx.MockRouter]:
    """A router for any host that lets a test leave some routes uncalled."""
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[AsyncSmsClient]:
    async with new_client() as sms:
        yield sms


class Job:
    """What a mocked export job saw: the start request's body, the time of each poll, DELETEs."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.polled: list[float] = []
        self.cancelled = 0


def job_router(states: list[str], links: tuple[str, ...] = (LINK,)) -> tuple[respx.MockRouter, Job]:
    """A router whose job goes through ``states`` (the last one repeats); polls are timed."""
    router = respx.MockRouter(assert_all_called=False)
    job = Job()
    polled = job.polled

    def start(request: httpx.Request) -> httpx.Response:
        job.started.append(json.loads(request.content))
        return httpx.Response(202, json={"jobId": JOB})

    def cancel(request: httpx.Request) -> httpx.Response:
        job.cancelled += 1
        return httpx.Response(204)

    router.post(EXPORTS).mock(side_effect=start)
    router.delete(JOB_URL).mock(side_effect=cancel)

    def answer(request: httpx.Request) -> httpx.Response:
        polled.append(asyncio.get_running_loop().time())
        state = states[min(len(polled) - 1, len(states) - 1)]
        return httpx.Response(200, json=status_body(state, links if state == "succeeded" else ()))

    router.get(JOB_URL).mock(side_effect=answer)
    return router, job


# --- export_logs -------------------------------------------------------------------------------


def test_export_logs_polls_with_growing_pauses_until_succeeded() -> None:
    """Start, then poll with pauses from poll_interval doubling (jittered), until succeeded."""
    router, job = job_router(["queued", "running", "running", "running", "succeeded"])
    polled = job.polled

    async def main() -> tuple[float, e.LogExportStatus]:
        with router:
            async with new_client() as sms:
                started = asyncio.get_running_loop().time()
                result = await sms.export_logs(countries=["SG"], poll_interval=2.0)
        return started, result

    started, result = run_virtual(main)
    assert result.job_id == JOB
    assert result.succeeded
    assert result.links == (LINK,)
    assert len(polled) == 5
    assert job.started == [{"countries": ["SG"]}]
    gaps = [b - a for a, b in zip([started, *polled], polled, strict=False)]
    for n, gap in enumerate(gaps):
        ceiling = min(2.0 * 2**n, 30.0)
        assert ceiling / 2 - 0.01 <= gap <= ceiling + 0.01, (n, gap)


def test_export_logs_pauses_are_capped() -> None:
    """However long the job runs, no pause exceeds 30 s (the cap), and none falls below 15 s."""
    router, job = job_router(["running"] * 12 + ["succeeded"])
    polled = job.polled

    async def main() -> None:
        with router:
            async with new_client() as sms:
                await sms.export_logs(poll_interval=5.0, max_wait=3600)

    run_virtual(main)
    gaps = [b - a for a, b in itertools.pairwise(polled)]
    assert max(gaps) <= 30.0 + 0.01
    assert min(gaps[4:]) >= 15.0 - 0.01


@pytest.mark.parametrize("state", ["failed", "error", "cancelled"])
def test_export_logs_unsuccessful_final_state_raises(state: str) -> None:
    """failed / error / cancelled raise LogExportError naming the job, its status attached."""
    router, _job = job_router(["running", state])

    async def main() -> None:
        with router:
            async with new_client() as sms:
                await sms.export_logs()

    with pytest.raises(e.LogExportError) as info:
        run_virtual(main)
    assert not isinstance(info.value, e.LogExportTimeoutError)
    assert isinstance(info.value, e.EightXEightError)
    assert info.value.job_id == JOB
    assert info.value.status is not None
    assert info.value.status.status == state
    assert JOB in str(info.value)
    assert state in str(info.value)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.job_id, str(copy)) == (type(info.value), JOB, str(info.value))


def test_export_logs_empty_is_a_result() -> None:
    """An empty export returns its status (no links): nothing to download is not an error."""
    router, _job = job_router(["queued", "empty"])

    async def main() -> e.LogExportStatus:
        with router:
            async with new_client() as sms:
                return await sms.export_logs()

    result = run_virtual(main)
    assert result.status == "empty"
    assert result.links == ()


def test_export_logs_max_wait_names_the_job_and_leaves_it_running() -> None:
    """When max_wait runs out the error names the job, says it was left running, cancels nothing."""
    router, job = job_router(["running"])
    polled = job.polled

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with router:
            async with new_client() as sms:
                started = loop.time()
                try:
                    await sms.export_logs(poll_interval=2.0, max_wait=120.0)
                finally:
                    elapsed = loop.time() - started
        return elapsed

    with pytest.raises(e.LogExportTimeoutError) as info:
        run_virtual(main)
    error = info.value
    assert isinstance(error, e.LogExportError)
    assert error.job_id == JOB
    assert error.status is not None
    assert error.status.status == "running"
    assert JOB in str(error)
    assert "left running" in str(error)
    assert f"cancel_log_export({JOB!r})" in str(error)
    assert job.cancelled == 0
    assert polled[-1] - polled[0] <= 120.0


def test_export_logs_max_wait_bounds_the_elapsed_time() -> None:
    """The last poll comes at max_wait at the latest, and the error follows at once."""
    router, job = job_router(["running"])
    polled = job.polled
    seen: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with router:
            async with new_client() as sms:
                seen.append(loop.time())
                try:
                    await sms.export_logs(poll_interval=7.0, max_wait=100.0)
                finally:
                    seen.append(loop.time())

    with pytest.raises(e.LogExportTimeoutError):
        run_virtual(main)
    assert 100.0 - 0.01 <= seen[1] - seen[0] <= 100.0 + 0.01
    assert polled[-1] == pytest.approx(seen[1], abs=0.01)


def test_export_logs_ends_when_pauses_are_skipped() -> None:
    """In retry_without_waiting() mode the pauses are skipped, and max_wait still ends the loop."""
    router, job = job_router(["running"])
    polled = job.polled

    async def main() -> None:
        with router:
            async with new_client() as sms:
                await sms.export_logs(poll_interval=1.0, max_wait=60.0)

    with retry_without_waiting(), pytest.raises(e.LogExportTimeoutError):
        run_isolated(main())
    assert 2 <= len(polled) <= 60


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": -1.0}, "poll_interval"),
        ({"poll_interval": math.nan}, "poll_interval"),
        ({"poll_interval": True}, "poll_interval"),
        ({"max_wait": 0}, "max_wait"),
        ({"max_wait": math.inf}, "max_wait"),
        ({"max_wait": "60"}, "max_wait"),
        ({"start": datetime(2026, 1, 1)}, "start"),
        ({"limit": -5}, "limit"),
    ],
)
async def test_export_logs_refuses_before_io(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """Polling settings and filters are checked before the job is started."""
    route = respx_mock.route().respond(202, json={"jobId": JOB})
    with pytest.raises(e.ValidationError) as info:
        await client.export_logs(**kwargs)
    assert info.value.field == field
    assert route.call_count == 0


def test_export_logs_poll_errors_propagate() -> None:
    """An error reading the job (here 404, code 4018) ends export_logs with that error."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(EXPORTS).respond(202, json={"jobId": JOB})
    router.get(JOB_URL).respond(
        404,
        json={
            "code": 4018,
            "message": "Invalid jobId",
            "errorId": "x",
            "timestamp": "2020-09-25T07:18:22.78Z",
        },
    )

    async def main() -> None:
        with router:
            async with new_client() as sms:
                await sms.export_logs()

    with pytest.raises(e.NotFoundError) as info:
        run_virtual(main)
    assert info.value.code == 4018


# --- iter_log_records: typed rows, streamed ---------------------------------------------------


async def collect(records: AsyncIterator[e.LogRecord]) -> list[e.LogRecord]:
    return [record async for record in records]


async def test_iter_log_records_types_each_row(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Each CSV row becomes a LogRecord; quoted commas and newlines stay in their field."""
    text = (
        COLUMNS
        + "\r\n"
        + csv_row(1)
        + csv_row(
            2,
            direction="0",
            status_value="undelivered",
            status_details="rejected_by_operator",
            status_errorcode="15",
            status_errormessage='"Invalid destination, see ""docs""\nline two"',
            price_currency="",
            price_persms="",
            price_total="",
            clientbatchid="b-1",
            batchid="f1ea5276-a824-e711-8146-022a22cc1c71",
        )
    )
    route = respx_mock.get(LINK).respond(200, text=text, headers={"Content-Type": "text/csv"})
    records = await collect(client.iter_log_records(LINK))
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert len(records) == 2
    first, second = records
    assert isinstance(first, e.LogRecord)
    assert first.umid == "00000000-0000-0000-0000-000000000001"
    assert first.subaccount_id == SUB
    assert first.direction is e.Direction.OUTBOUND
    assert first.sms_count == 2
    assert first.price_per_sms == Decimal("0.0099171")
    assert first.price_total == Decimal("0.0198342")
    assert first.price_currency == "SGD"
    assert first.client_message_id == "cm-1"
    assert first.created_at == datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    assert first.status == "delivered"
    assert second.direction is e.Direction.INBOUND
    assert second.error_code == 15
    assert second.error_message == 'Invalid destination, see "docs"\nline two'
    assert second.client_batch_id == "b-1"
    assert second.price_total is None
    assert first.body == "**MASKED**"
    assert "**MASKED**" not in repr(first)  # the body never shows in a repr


def chunked(data: bytes, size: int, produced: list[int]) -> Callable[[], AsyncIterator[bytes]]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            produced.append(start)
            yield data[start : start + size]

    return stream


async def test_iter_log_records_streams_rows_before_the_download_ends(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """20,000 rows in 997-byte chunks: the first row comes long before the last chunk is read."""
    data = csv_text(20_000).encode()
    produced: list[int] = []
    respx_mock.get(LINK).mock(
        side_effect=lambda request: httpx.Response(200, content=chunked(data, 997, produced)())
    )
    count = 0
    chunks_at_first_row = 0
    async for record in client.iter_log_records(LINK):
        if count == 0:
            chunks_at_first_row = len(produced)
        assert record.client_message_id == f"cm-{count}"
        count += 1
    assert count == 20_000
    assert chunks_at_first_row <= 2
    assert len(produced) > 1000


async def test_iter_log_records_gzip_bom_and_lf(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A gzip-encoded download with a UTF-8 BOM and bare LF line ends parses the same."""
    text = "\ufeff" + csv_text(50).replace("\r\n", "\n")
    respx_mock.get(LINK).respond(
        200, content=gzip.compress(text.encode()), headers={"Content-Encoding": "gzip"}
    )
    records = await collect(client.iter_log_records(LINK))
    assert [r.client_message_id for r in records] == [f"cm-{i}" for i in range(50)]


async def test_iter_log_records_header_only_is_empty(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A file with the header and no rows yields nothing."""
    respx_mock.get(LINK).respond(200, text=COLUMNS + "\r\n")
    assert await collect(client.iter_log_records(LINK)) == []


async def test_iter_log_records_bounds_memory_on_an_endless_row(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A "row" without end is refused after about 1 MiB, not read whole (8 MiB here)."""
    data = (COLUMNS + "\r\n").encode() + b"x" * (8 * 1024 * 1024)
    produced: list[int] = []
    respx_mock.get(LINK).mock(
        side_effect=lambda request: httpx.Response(
            200, content=chunked(data, 64 * 1024, produced)()
        )
    )
    with pytest.raises(e.ResponseValidationError) as info:
        await collect(client.iter_log_records(LINK))
    assert "row" in str(info.value).lower()
    assert len(produced) < 40  # 1 MiB is 16 chunks; 8 MiB would be 128


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(COLUMNS + "\r\n" + csv_row(1)[:40] + '"unterminated', id="open-quote"),
        pytest.param(COLUMNS + "\r\n" + "a,b,c\r\n", id="too-few-fields"),
        pytest.param(COLUMNS + "\r\n" + csv_row(1).rstrip() + ",extra\r\n", id="too-many-fields"),
    ],
)
async def test_iter_log_records_malformed_csv_is_ours(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, text: str
) -> None:
    """A cut or ragged file raises ResponseValidationError, never csv.Error or a KeyError."""
    respx_mock.get(LINK).respond(200, text=text)
    with pytest.raises(e.ResponseValidationError):
        await collect(client.iter_log_records(LINK))


# --- iter_log_records: from a status ---------------------------------------------------------


async def test_iter_log_records_from_a_status_reads_every_link_in_order(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Given a succeeded status, every linked file is read, in order."""
    respx_mock.get(JOB_URL).respond(200, json=status_body("succeeded", (LINK, LINK2)))
    respx_mock.get(LINK).respond(200, text=COLUMNS + "\r\n" + csv_row(1) + csv_row(2))
    respx_mock.get(LINK2).respond(200, text=COLUMNS + "\r\n" + csv_row(3))
    status = await client.get_log_export(JOB)
    records = await collect(client.iter_log_records(status))
    assert [r.client_message_id for r in records] == ["cm-1", "cm-2", "cm-3"]


async def test_iter_log_records_of_an_empty_export_reads_nothing(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """An empty export has no file: no rows, and no download."""
    respx_mock.get(JOB_URL).respond(200, json=status_body("empty"))
    status = await client.get_log_export(JOB)
    catch = respx_mock.route().respond(500)
    assert await collect(client.iter_log_records(status)) == []
    assert catch.call_count == 0


@pytest.mark.parametrize("state", ["queued", "running", "failed", "cancelled", "error"])
async def test_iter_log_records_of_an_unfinished_export_is_refused(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, state: str
) -> None:
    """Only a succeeded (or empty) export has rows: anything else is refused before any I/O."""
    respx_mock.get(JOB_URL).respond(200, json=status_body(state))
    status = await client.get_log_export(JOB)
    catch = respx_mock.route().respond(500)
    with pytest.raises(e.ValidationError) as info:
        await collect(client.iter_log_records(status))
    assert info.value.field == "source"
    assert catch.call_count == 0


# --- the key rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "keyed"),
    [
        pytest.param(LINK, True, id="same-origin"),
        pytest.param(LINK.replace("sms.8x8.com", "sms.8x8.com:443"), True, id="explicit-443"),
        pytest.param(LINK.replace("sms.8x8.com", "SMS.8x8.COM"), True, id="host-case"),
        pytest.param("https://files.example.net/exports/tok.csv", False, id="other-host"),
        pytest.param(LINK.replace("sms.8x8.com", "sms.8x8.com:8443"), False, id="other-port"),
        pytest.param(LINK.replace("sms.8x8.com", "dl.sms.8x8.com"), False, id="subdomain"),
        pytest.param(LINK.replace("sms.8x8.com", "sms.8x8.com.evil.example"), False, id="suffix"),
        pytest.param(LINK.replace("sms.8x8.com", "sms.us.8x8.com"), False, id="other-region"),
        pytest.param("http://127.0.0.1:8080/exports/tok.csv", False, id="loopback-http"),
    ],
)
async def test_iter_log_records_sends_the_key_only_to_the_clients_origin(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, link: str, keyed: bool
) -> None:
    """The bearer key goes with the download only when the link's origin is the base URL's."""
    route = respx_mock.route().respond(200, text=COLUMNS + "\r\n" + csv_row(1))
    assert len(await collect(client.iter_log_records(link))) == 1
    headers = route.calls.last.request.headers
    assert ("Authorization" in headers) is keyed
    if keyed:
        assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert all(API_KEY not in value for name, value in headers.items() if name != "authorization")


async def test_iter_log_records_plain_http_base_url_keys_its_own_origin(
    respx_mock: respx.MockRouter,
) -> None:
    """A loopback http base URL (the sandbox without TLS) is an origin like any other."""
    route = respx_mock.route().respond(200, text=COLUMNS + "\r\n" + csv_row(1))
    async with new_client(base_url="http://127.0.0.1:8080") as sms:
        await collect(sms.iter_log_records("http://127.0.0.1:8080/dl/tok"))
        await collect(sms.iter_log_records("http://127.0.0.1:8081/dl/tok"))
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Authorization" not in route.calls[1].request.headers


async def test_iter_log_records_injected_client_defaults_stay_home(
    respx_mock: respx.MockRouter,
) -> None:
    """An injected httpx client's default Authorization and cookies never go to another origin."""
    route = respx_mock.route().respond(200, text=COLUMNS + "\r\n" + csv_row(1))
    async with (
        httpx.AsyncClient(
            headers={"Authorization": "Bearer pool-default"}, cookies={"session": "c00kie"}
        ) as http,
        new_client(http_client=http) as sms,
    ):
        await collect(sms.iter_log_records("https://files.example.net/exports/tok.csv"))
    headers = route.calls.last.request.headers
    assert "Authorization" not in headers
    assert "Cookie" not in headers


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("http://files.example.net/exports/tok-secret-9.csv", id="plain-http"),
        pytest.param("http://sms.8x8.com/api/v1/download/tok-secret-9", id="plain-http-own-host"),
        pytest.param("ftp://files.example.net/tok-secret-9.csv", id="ftp"),
        pytest.param("/api/v1/download/tok-secret-9", id="relative"),
        pytest.param("https://user:pw@sms.8x8.com/dl/tok-secret-9", id="userinfo"),
        pytest.param("https://sms.8x8.com/dl/tok-secret-9 x", id="space"),
        pytest.param("", id="empty"),
    ],
)
async def test_iter_log_records_refuses_unsafe_links_before_io(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, link: str
) -> None:
    """Plain http beyond loopback, other schemes, relative links and credentials are refused."""
    route = respx_mock.route().respond(200, text=COLUMNS)
    with pytest.raises(e.ValidationError) as info:
        client.iter_log_records(link)
    assert info.value.field == "source"
    assert "tok-secret-9" not in str(info.value)
    assert route.call_count == 0


async def test_iter_log_records_redirect_to_another_origin_drops_the_key(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A same-origin link that redirects elsewhere: the second request carries no key."""
    respx_mock.get(LINK).respond(302, headers={"Location": "https://blobs.example.net/f.csv?sig=1"})
    other = respx_mock.get("https://blobs.example.net/f.csv").respond(
        200, text=COLUMNS + "\r\n" + csv_row(1)
    )
    assert len(await collect(client.iter_log_records(LINK))) == 1
    assert "Authorization" not in other.calls.last.request.headers


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("http://blobs.example.net/f.csv", id="to-plain-http"),
        pytest.param("https://u:p@blobs.example.net/f.csv", id="to-userinfo"),
    ],
)
async def test_iter_log_records_refuses_unsafe_redirects(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, location: str
) -> None:
    """A redirect to plain http (or to credentials in a URL) is not followed."""
    respx_mock.get(LINK).respond(302, headers={"Location": location})
    followed = respx_mock.route(host="blobs.example.net").respond(200, text=COLUMNS)
    with pytest.raises(e.ResponseValidationError):
        await collect(client.iter_log_records(LINK))
    assert followed.call_count == 0


async def test_iter_log_records_redirect_loop_ends(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A redirect loop ends with our error after a few hops."""
    route = respx_mock.get(LINK).respond(302, headers={"Location": LINK})
    with pytest.raises(e.ResponseValidationError):
        await collect(client.iter_log_records(LINK))
    assert 2 <= route.call_count <= 10


# --- errors are ours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [(404, e.NotFoundError), (401, e.AuthenticationError), (500, e.InternalServerError)],
)
async def test_iter_log_records_status_errors_are_typed(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, status: int, cls: type[e.APIStatusError]
) -> None:
    """An expired or refused download raises the SDK's status error."""
    respx_mock.get(LINK).respond(
        status,
        json={
            "code": 1300,
            "message": "Object wasn't found or is already expired",
            "errorId": "x",
            "timestamp": "2020-08-24T09:32:17.05Z",
        },
    )
    with pytest.raises(cls) as info:
        await collect(client.iter_log_records(LINK))
    assert "tok-secret-1" not in str(info.value)


def failing_stream(data: bytes, error: Exception) -> Callable[[], AsyncIterator[bytes]]:
    async def stream() -> AsyncIterator[bytes]:
        yield data
        raise error

    return stream


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ReadError("reset"), id="reset"),
        pytest.param(httpx.ReadTimeout("slow"), id="timeout"),
        pytest.param(httpx.RemoteProtocolError("peer closed"), id="cut"),
    ],
)
async def test_iter_log_records_transport_failure_mid_stream_is_ours(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, failure: Exception
) -> None:
    """A download that breaks after some rows raises APIConnectionError, the rows before kept."""
    data = csv_text(3).encode()
    respx_mock.get(LINK).mock(
        side_effect=lambda request: httpx.Response(200, content=failing_stream(data, failure)())
    )
    seen: list[e.LogRecord] = []

    async def read_all() -> None:
        async for record in client.iter_log_records(LINK):
            seen.append(record)

    with pytest.raises(e.APIConnectionError) as info:
        await read_all()
    assert len(seen) == 3
    assert not isinstance(info.value, httpx.HTTPError)
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert API_KEY not in repr(info.value.__dict__)


async def test_iter_log_records_connect_failure_is_ours(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A download that cannot connect raises APIConnectionError, not httpx's error."""
    respx_mock.get(LINK).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(e.APIConnectionError) as info:
        await collect(client.iter_log_records(LINK))
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_iter_log_records_stops_cleanly_when_the_caller_breaks(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """Leaving the loop early closes the download (the pool gets its connection back)."""
    closed: list[bool] = []

    class Stream(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for i in range(1000):
                yield (COLUMNS + "\r\n" if i == 0 else "").encode() + csv_row(i).encode()

        async def aclose(self) -> None:
            closed.append(True)

    respx_mock.get(LINK).mock(side_effect=lambda request: httpx.Response(200, stream=Stream()))
    records = client.iter_log_records(LINK)
    async for _record in records:
        break
    assert closed == []
    await records.aclose()
    assert closed == [True]


async def test_iter_log_records_is_stopped_by_aclose(respx_mock: respx.MockRouter) -> None:
    """aclose() during a download that hangs ends the loop with APIConnectionError, at once."""
    started = asyncio.Event()

    class Hanging(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield (COLUMNS + "\r\n" + csv_row(1)).encode()
            started.set()
            await asyncio.Event().wait()  # the server stops sending
            yield b""  # pragma: no cover

    respx_mock.get(LINK).mock(side_effect=lambda request: httpx.Response(200, stream=Hanging()))
    sms = new_client()
    seen: list[e.LogRecord] = []

    async def read_all() -> None:
        async for record in sms.iter_log_records(LINK):
            seen.append(record)

    reader = asyncio.create_task(read_all())
    await started.wait()
    await sms.aclose()
    with pytest.raises(e.APIConnectionError) as info:
        await asyncio.wait_for(reader, 30)  # a guard against a hang, not a measurement
    assert info.value.permanent
    assert "aclose" in str(info.value)
    assert len(seen) == 1


async def test_iter_log_records_after_aclose_is_refused(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A download started after aclose() sends nothing."""
    route = respx_mock.route().respond(200, text=COLUMNS)
    await client.aclose()
    with pytest.raises(RuntimeError):
        await collect(client.iter_log_records(LINK))
    assert route.call_count == 0


async def test_iter_log_records_on_a_closed_derived_client_is_refused(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A with_options() client closed on its own downloads nothing, like its other methods."""
    route = respx_mock.route().respond(200, text=COLUMNS)
    derived = client.with_options(timeout=5)
    await derived.aclose()
    with pytest.raises(RuntimeError):
        await collect(derived.iter_log_records(LINK))
    assert route.call_count == 0
    assert await collect(client.iter_log_records(LINK)) == []  # the parent carries on
