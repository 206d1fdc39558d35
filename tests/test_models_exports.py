"""Log export: the request's rules and wire form, the job status, and the CSV rows as records."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eightxeight_async._converters import structure_response
from eightxeight_async._errors import ResponseValidationError, ValidationError
from eightxeight_async._models import Direction, Encoding, MessageState, StatusDetail
from eightxeight_async._models_exports import (
    LogExportRequest,
    LogExportStarted,
    LogExportState,
    LogExportStatus,
    LogRecord,
    aparse_log_records,
    log_record_from_row,
    parse_log_records,
)
from tests.isolated_loop import run_isolated

from .conftest import PHONE
from .models_wire_check import check, component, operation, wire

EXPORTS = "/api/v1/subaccounts/{subAccountId}/messages/exports"
UTC = timezone.utc

# --- the request -------------------------------------------------------------------------------


def test_request_on_the_wire() -> None:
    request = LogExportRequest(
        start=date(2026, 1, 1),
        end=datetime(2026, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        phone_number=PHONE,
        countries=["SG", "us"],
        limit=0,
    )
    assert wire(request) == {
        "from": "2026-01-01",
        "to": "2026-01-02T01:30:00Z",
        "phoneNumber": PHONE,
        "countries": ["SG", "us"],
        "limit": 0,
    }
    assert request.countries == ("SG", "us")
    assert wire(LogExportRequest()) == {}
    assert PHONE not in repr(request)


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        pytest.param({"start": datetime(2026, 1, 1)}, "start", "timezone-aware", id="naive-start"),
        pytest.param({"end": datetime(2026, 1, 1)}, "end", "timezone-aware", id="naive-end"),
        pytest.param({"start": "2026-01-01"}, "start", "a date", id="string-date"),
        pytest.param(
            {"start": date(2026, 1, 3), "end": date(2026, 1, 2)}, "start", "no later", id="order"
        ),
        pytest.param(
            {"start": datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC), "end": date(2026, 1, 2)},
            "start",
            "no later",
            id="order-mixed",
        ),
        pytest.param({"phone_number": "0123456789"}, "phone_number", "E.164", id="phone-0"),
        pytest.param({"phone_number": "+65 9123 4567"}, "phone_number", "E.164", id="phone-sp"),
        pytest.param({"phone_number": 6591234567}, "phone_number", "E.164", id="phone-int"),
        pytest.param({"countries": "SG"}, "countries", "a list", id="countries-str"),
        pytest.param({"countries": ["SG", "SGP"]}, "countries[1]", "alpha-2", id="country-idx"),
        pytest.param({"countries": ["S1"]}, "countries[0]", "alpha-2", id="country-digit"),
        pytest.param({"limit": -1}, "limit", "from 0", id="limit-negative"),
        pytest.param({"limit": True}, "limit", "integer", id="limit-bool"),
        pytest.param({"limit": 1.5}, "limit", "integer", id="limit-float"),
        pytest.param({"limit": 2**60}, "limit", "integer", id="limit-huge"),
    ],
)
def test_request_rules(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    with pytest.raises(ValidationError) as info:
        LogExportRequest(**kwargs)
    assert info.value.field == field
    assert rule_part in info.value.rule
    assert "9123" not in str(info.value)


def test_equal_bounds_and_mixed_types_are_fine() -> None:
    day = date(2026, 1, 2)
    assert LogExportRequest(start=day, end=day).start == day
    assert LogExportRequest(start=day, end=datetime(2026, 1, 2, tzinfo=UTC)).end is not None
    assert LogExportRequest(phone_number="6511111111").phone_number == "6511111111"


def export_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """LogExportRequest as 8x8 documents it: ``from``/``to`` are "date-time" in the schema, and
    its own description adds ``yyyy-MM-dd``, which is what a ``date`` becomes."""
    schema = component("LogExportRequest")
    for key in ("from", "to"):
        schema["properties"][key] = {
            "type": "string",
            "anyOf": [{"format": "date-time"}, {"format": "date"}],
        }
    return schema, {}


AWARE = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), None]),
)
WHEN = st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)) | AWARE
EXPORT_ARGS = st.fixed_dictionaries(
    {},
    optional={
        "start": WHEN,
        "end": WHEN,
        "phone_number": st.none()
        | st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True)
        | st.text(max_size=8),
        "countries": st.none() | st.lists(st.sampled_from(["SG", "us", "GBR", "1A"]), max_size=3),
        "limit": st.none() | st.integers(min_value=-2, max_value=2**54),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPORT_ARGS)
def test_every_accepted_export_request_is_json_8x8_accepts(args: dict[str, Any]) -> None:
    try:
        request = LogExportRequest(**args)
    except ValidationError as exc:
        event(f"refused: {exc.field}")
        return
    event("accepted")
    body = wire(request)
    schema, _ = export_schema()
    assert check(schema, body) == []
    if "from" in body and "to" in body:
        assert body["from"][:10] <= body["to"][:10]


def test_the_export_schema_check_can_fail() -> None:
    schema, _ = export_schema()
    assert check(schema, {"from": "yesterday"})
    assert check(schema, {"countries": ["SGP"]})
    assert check(schema, {"limit": "10"})


# --- job answers -------------------------------------------------------------------------------


def test_openapi_start_answer_parses() -> None:
    example = operation("post", EXPORTS)["responses"]["202"]["content"]["application/json"]
    started = structure_response(example["example"], LogExportStarted)
    assert started.job_id.startswith("F1T6z9")


def test_openapi_status_answer_parses() -> None:
    responses = operation("get", EXPORTS + "/{jobId}")["responses"]
    status = structure_response(
        responses["200"]["content"]["application/json"]["example"], LogExportStatus
    )
    assert status.status is LogExportState.SUCCEEDED
    assert status.succeeded
    assert status.is_final
    assert status.links == (
        "https://sms.8x8.com/api/v1/subaccounts/your_subAccountId/messages/download/"
        "long-unique-token-here",
    )
    assert status.expires == datetime(2020, 10, 25, 6, 58, 41, 740000, tzinfo=UTC)
    assert status.job_id is None
    assert attrs.evolve(status, job_id="J1").job_id == "J1"
    # The schema's own example of "expires".
    expires = component("LogExportJobStatus")["properties"]["expires"]["example"]
    parsed = structure_response({"status": "succeeded", "expires": expires}, LogExportStatus)
    assert parsed.expires == datetime(2020, 7, 1, 6, 58, 41, 740000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "final", "succeeded"),
    [
        ({"status": "queued"}, False, False),
        ({"status": "running", "data": None}, False, False),
        ({"status": "failed"}, True, False),
        ({"status": "cancelled"}, True, False),
        ({"status": "empty"}, True, False),
        ({"status": "error"}, True, False),
        ({"status": "archived"}, False, False),
    ],
)
def test_status_states(body: dict[str, Any], final: bool, succeeded: bool) -> None:
    status = structure_response(body, LogExportStatus)
    assert status.is_final is final
    assert status.succeeded is succeeded
    assert status.links == ()
    if body["status"] == "archived":
        assert status.status == "archived"


def test_unreadable_expiry_does_not_hide_the_links() -> None:
    body = {"status": "succeeded", "data": ["https://x/1"], "expires": "next month"}
    status = structure_response(body, LogExportStatus)
    assert status.links == ("https://x/1",)
    assert status.expires is None


@pytest.mark.parametrize(
    "body",
    [{"data": []}, {"status": 3}, {"status": "succeeded", "data": "https://x"}],
)
def test_status_of_the_wrong_shape_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError):
        structure_response(body, LogExportStatus)


# --- CSV ---------------------------------------------------------------------------------------

HEADER = (
    "umid,subaccountid,direction,country,operator,mcc,mnc,status_value,status_details,"
    "status_errorcode,status_errormessage,status_timestamp,msisdn,source,encoding,createdat,"
    "smscount,price_currency,price_persms,price_total,clientmessageid,clientbatchid,batchid,body"
)
ROW = (
    "u-1,acme_hq,1,SG,SingTel,525,01,delivered,delivered_to_recipient,0,No reason code,"
    "2020-07-01T06:58:41.74Z,+6591234567,Brand,GSM7,2020-07-01 06:58:40,2,SGD,0.0099171,"
    '0.0198342,cm-1,cb-1,b-1,"Hello, ""friend""\nline two"'
)
RECORD = LogRecord(
    umid="u-1",
    subaccount_id="acme_hq",
    direction=Direction.OUTBOUND,
    country="SG",
    operator="SingTel",
    mcc="525",
    mnc="01",
    status=MessageState.DELIVERED,
    status_detail=StatusDetail.DELIVERED_TO_RECIPIENT,
    error_code=0,
    error_message="No reason code",
    status_timestamp=datetime(2020, 7, 1, 6, 58, 41, 740000, tzinfo=UTC),
    msisdn=PHONE,
    source="Brand",
    encoding=Encoding.GSM7,
    created_at=datetime(2020, 7, 1, 6, 58, 40, tzinfo=UTC),
    sms_count=2,
    price_currency="SGD",
    price_per_sms=Decimal("0.0099171"),
    price_total=Decimal("0.0198342"),
    client_message_id="cm-1",
    client_batch_id="cb-1",
    batch_id="b-1",
    body='Hello, "friend"\nline two',
)


async def _aiter(lines: Iterable[str]) -> AsyncIterator[str]:
    for line in lines:
        await asyncio.sleep(0)
        yield line


def both(lines: list[str]) -> list[LogRecord]:
    """Parse with the sync and the async parser; they must agree."""
    sync = list(parse_log_records(lines))

    async def collect() -> list[LogRecord]:
        return [record async for record in aparse_log_records(_aiter(lines))]

    assert run_isolated(collect()) == sync
    return sync


def test_every_documented_column_is_typed() -> None:
    text = f"{HEADER}\r\n{ROW}\r\n"
    assert both(text.splitlines(keepends=True)) == [RECORD]
    # Lines without their endings (httpx's iter_lines): the body's line break is kept.
    assert both(text.splitlines()) == [RECORD]


def test_the_documented_column_list_is_what_the_parser_knows() -> None:
    """The column names come from 8x8's own description of the CSV in the OpenAPI file."""
    description = operation("get", EXPORTS + "/{jobId}")["responses"]["200"]["description"]
    documented = [c for c in HEADER.split(",") if f"**{c}**" in description]
    assert documented == HEADER.split(",")


def test_header_order_case_and_unknown_columns() -> None:
    lines = [
        "\ufeffBody,Extra Column,UMID,Direction,Status_Value,SMSCount\n",
        "x,whatever,u-2,0,Read,3\n",
        "\n",
        ",,u-3,,weird_state,\n",
    ]
    first, second = both(lines)
    assert first == LogRecord(
        umid="u-2", body="x", direction=Direction.INBOUND, status=MessageState.READ, sms_count=3
    )
    assert second == LogRecord(umid="u-3", status="weird_state")


def test_other_timestamp_forms() -> None:
    lines = [
        "umid,createdat,status_timestamp\n",
        "u,7/1/2020 6:58:41 PM,2020-07-01T13:00:00+07:00\n",
        "v,12/31/2020 12:05:00 AM,2020-07-01T06:58:41.4297387Z\n",
    ]
    first, second = both(lines)
    assert first.created_at == datetime(2020, 7, 1, 18, 58, 41, tzinfo=UTC)
    assert first.status_timestamp == datetime(2020, 7, 1, 6, tzinfo=UTC)
    assert second.created_at == datetime(2020, 12, 31, 0, 5, tzinfo=UTC)


def test_record_repr_hides_the_number_and_body() -> None:
    shown = repr(RECORD)
    assert PHONE not in shown
    assert "friend" not in shown
    assert "'+65******67'" in shown


@pytest.mark.parametrize(
    ("row", "path", "problem"),
    [
        pytest.param("u,+6591234567,notanumber,,", "row[1].smscount", "an integer", id="int"),
        pytest.param("u,+6591234567,,0.1.2,", "row[1].price_total", "a number", id="decimal"),
        pytest.param("u,+6591234567,,NaN,", "row[1].price_total", "a finite", id="nan"),
        pytest.param("u,+6591234567,,,+6591234567", "row[1].createdat", "date and", id="time"),
        pytest.param("u,+6591234567,,,13/45/2020 1:00", "row[1].createdat", "date", id="us-bad"),
        pytest.param("u,+6591234567,1" + "0" * 30 + ",,", "row[1].smscount", "integer", id="huge"),
        pytest.param(",+6591234567,,,", "row[1].umid", "no umid", id="no-umid"),
        pytest.param("u,+6591234567,1,", "row[1]", "4 cells", id="short-row"),
        pytest.param('u,"+6591234567,,,', "row[2]", "quoted cell", id="unterminated-quote"),
    ],
)
def test_malformed_rows_name_row_and_column_not_the_value(
    row: str, path: str, problem: str
) -> None:
    lines = ["umid,msisdn,smscount,price_total,createdat\n", "u,+6591234500,1,0.1,\n", row]
    lines = [lines[0], row] if path == "row[1]" or "row[1]." in path else lines
    with pytest.raises(ResponseValidationError) as info:
        both(lines)
    assert info.value.path == path
    assert problem in str(info.value)
    assert "9123" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_a_file_without_umid_column_is_refused() -> None:
    with pytest.raises(ResponseValidationError) as info:
        list(parse_log_records(["msisdn,body\n", "+6591234567,hi\n"]))
    assert info.value.path == "header"


def test_an_empty_file_has_no_records() -> None:
    assert both([]) == []
    assert both([HEADER + "\n"]) == []


def test_dict_reader_rows() -> None:
    reader = csv.DictReader(io.StringIO(f"{HEADER},extra\r\n{ROW},x,overflow\r\n"))
    assert [log_record_from_row(row, row_number=1) for row in reader] == [RECORD]
    short = {"umid": "u", "msisdn": None, "smscount": "", None: ["overflow"], 3: "x"}
    assert log_record_from_row(short) == LogRecord(umid="u")
    with pytest.raises(ResponseValidationError) as info:
        log_record_from_row({"umid": "u", "body": ["not", "text"]}, row_number=4)
    assert info.value.path == "row[4].body"
    with pytest.raises(ResponseValidationError) as info:
        log_record_from_row({"umid": "u", "SmsCount": "x"})
    assert info.value.path == "row.SmsCount"


# Any text but NUL (csv.writer before 3.11 cannot write it) and line separators other than \n,
# which a line reader would split at (and which csv.writer does not quote).
CELL = st.text(
    st.characters(
        exclude_categories=["Cs"],
        exclude_characters="\x00\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    )
    | st.sampled_from(['"', ",", "\n", " "]),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"umid": CELL.filter(bool)},
            optional={
                "body": CELL,
                "source": CELL,
                "smscount": st.integers(0, 10**6).map(str),
                "price_total": st.decimals(allow_nan=False, allow_infinity=False, places=6).map(
                    str
                ),
            },
        ),
        max_size=5,
    ),
    st.booleans(),
    st.sampled_from(["\r\n", "\n"]),
)
def test_any_csv_the_csv_module_writes_reads_back(
    rows: list[dict[str, str]], keep_ends: bool, newline: str
) -> None:
    """Whatever ``csv.writer`` writes (quotes, commas, line breaks in cells) reads back, cell by
    cell, with the sync and the async parser alike."""
    out = io.StringIO(newline="")
    columns = ["umid", "body", "source", "smscount", "price_total", "unknown"]
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    lines = out.getvalue().splitlines(keepends=keep_ends)
    records = both(lines)
    assert len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        assert record.umid == row["umid"]
        assert record.body == (row.get("body") or None)
        assert record.source == (row.get("source") or None)
        assert record.sms_count == (int(row["smscount"]) if row.get("smscount") else None)
        if row.get("price_total"):
            assert record.price_total == Decimal(row["price_total"])


def test_a_whole_file_as_one_string() -> None:
    assert list(parse_log_records(f"{HEADER}\r\n{ROW}\r\n")) == [RECORD]
