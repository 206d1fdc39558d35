"""Regressions from a stranger's try of the issue-9 build: client-side defects, one test each.

Each test here failed on the build the stranger tried (commit 109bc0c); the docstrings say what
it did then.
"""

from __future__ import annotations

import inspect
import json
import pickle
import typing
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient, RateLimits, RetryPolicy
from eightxeight_async._cli_errors import describe
from eightxeight_async._converters import converter
from eightxeight_async._models_batch import BatchRequest
from eightxeight_async._raw import RawResponse

from .conftest import API_KEY, BASE_URL, PHONE, reference_examples
from .test_exports_logs import COLUMNS, LINK, collect, csv_row

SUB = "acme_hq"
SUBS = f"{BASE_URL}/api/v1/subaccounts/{SUB}"
ACCOUNT = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
BATCH_CMID = f"b-2026/{PHONE}"  # what 8x8 names a batch message sent with destinations=
MASKED = "+65******67"


@pytest.fixture
async def client() -> AsyncIterator[AsyncSmsClient]:
    async with AsyncSmsClient(
        api_key=API_KEY, subaccount_id=SUB, rate_limits=RateLimits.unlimited()
    ) as sms:
        yield sms


# --- 1. wrong types for settings are refused when the client is made --------------------------


class _NotALimiter:
    async def acquire(self, key: str) -> None:  # no pause, no aclose
        return None


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("retry", 3),
        ("retry", {"max_attempts": 1}),
        ("rate_limits", "unlimited"),
        ("rate_limits", RetryPolicy()),
        ("rate_limiter", object()),
        ("rate_limiter", _NotALimiter()),
        ("http_client", httpx.Client()),
        ("http_client", "https://sms.8x8.com"),
        ("subaccount_id", ""),
    ],
)
def test_constructor_refuses_wrong_types_up_front(argument: str, value: object) -> None:
    """retry=3 or rate_limits="x" was accepted and crashed with AttributeError on the first call,
    after the request went out; a rate_limiter or http_client of the wrong type likewise."""
    kwargs: dict[str, Any] = {"api_key": API_KEY, "subaccount_id": SUB, argument: value}
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(**kwargs)
    assert info.value.field == argument


@pytest.mark.parametrize(
    ("argument", "value"),
    [("retry", 3), ("rate_limits", "x"), ("timeout", "5"), ("subaccount_id", "")],
)
async def test_with_options_refuses_wrong_types_up_front(
    client: AsyncSmsClient, argument: str, value: object
) -> None:
    """with_options(retry=3) returned a client that crashed later (AttributeError)."""
    with pytest.raises(e.ValidationError) as info:
        client.with_options(**{argument: value})  # type: ignore[arg-type]
    assert info.value.field == argument


# --- 2. numbers inside client ids are masked wherever ids are shown ---------------------------


def _sms_response(**overrides: Any) -> e.SmsResponse:
    body = {**reference_examples()["send-sms"][0], "clientMessageId": BATCH_CMID, **overrides}
    return converter.structure(body, e.SmsResponse)


def test_reprs_mask_numbers_in_client_ids_and_keep_the_values() -> None:
    """repr(SmsResponse/BatchResponse/MessageDetails) showed "b-2026/+6591234567" whole."""
    sms = _sms_response()
    batch = e.BatchResponse(
        batch_id="f1ea5276",
        accepted_count=1,
        rejected_count=0,
        client_batch_id="+6598765432",
        messages=(sms,),
    )
    details_body = {**reference_examples()["get-message-details"][1], "clientMessageId": BATCH_CMID}
    details = converter.structure(details_body, e.MessageDetails)
    for value in (sms, batch, details):
        text = repr(value)
        assert "91234567" not in text, type(value).__name__
    assert f"b-2026/{MASKED}" in repr(sms)
    assert "+6598765432" not in repr(batch)
    assert sms.client_message_id == BATCH_CMID  # the value itself is intact
    assert details.client_message_id == BATCH_CMID
    assert batch.client_batch_id == "+6598765432"


def test_request_reprs_mask_numbers_in_client_ids() -> None:
    """The request classes' client ids were shown whole too."""
    request = BatchRequest.build(
        destinations=[PHONE], template={"text": "hi"}, client_batch_id="6591234567"
    )
    assert "6591234567" not in repr(request)
    message = e.BatchMessage(destination=PHONE, text="hi", client_message_id=BATCH_CMID)
    assert "6591234567" not in repr(message)


async def test_log_record_repr_masks_numbers_in_client_ids(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """repr(LogRecord) showed clientmessageid "{batch}/{number}" whole."""
    row = csv_row(1, clientmessageid=BATCH_CMID, clientbatchid="6591234567")
    respx_mock.get(LINK).respond(200, text=COLUMNS + "\r\n" + row)
    (record,) = await collect(client.iter_log_records(LINK))
    assert record.client_message_id == BATCH_CMID
    assert "6591234567" not in repr(record)


def test_send_outcome_unknown_message_masks_the_ids() -> None:
    """SendOutcomeUnknownError's message quoted client_message_id (and client_batch_id) whole."""
    error = e.SendOutcomeUnknownError(client_message_id=BATCH_CMID)
    assert "6591234567" not in str(error)
    assert MASKED in str(error)
    assert error.client_message_id == BATCH_CMID
    batch_error = e.SendOutcomeUnknownError(client_batch_id="6591234567")
    assert "6591234567" not in str(batch_error)
    assert "6591234567" not in repr(pickle.loads(pickle.dumps(error)))


def test_cli_status_output_masks_numbers_in_client_message_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`eightxeight status UMID` printed client_message_id "{batch}/{number}" whole."""
    from eightxeight_async import _cli_app

    example = reference_examples()["get-message-details"][1]
    details_body = {
        **example,
        "clientMessageId": BATCH_CMID,
        "status": {
            **example["status"],
            "state": "undelivered",
            "errorCode": 5,
            "errorMessage": f"Unknown subscriber {PHONE}",
        },
    }
    details = converter.structure(details_body, e.MessageDetails)
    failure = _cli_app._status_failure(details, wait=False, timeout=1)
    assert failure is not None
    assert "91234567" not in failure.message
    _cli_app._print_details(details)
    text = capsys.readouterr().out
    assert "client_message_id" in text
    assert "6591234567" not in text
    data = _cli_app._to_data(details, masked=("msisdn",))
    assert "6591234567" not in json.dumps(data)


def test_cli_send_outcome_hint_masks_the_id() -> None:
    """The CLI's hint and --json field for SendOutcomeUnknownError held the id whole."""
    _code, message, hints, fields = describe(
        e.SendOutcomeUnknownError(client_message_id=BATCH_CMID), None
    )
    assert "6591234567" not in message + " ".join(hints) + json.dumps(fields)


# --- 3. EIGHTXEIGHT_ACCOUNT_ID is checked only when an account operation needs it -------------


async def test_bad_account_variable_breaks_only_account_operations(
    monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter
) -> None:
    """A bad EIGHTXEIGHT_ACCOUNT_ID made AsyncSmsClient() itself fail, naming "account_id"."""
    monkeypatch.setenv("EIGHTXEIGHT_ACCOUNT_ID", "not-a-guid")
    route = respx_mock.route().respond(200, json=reference_examples()["send-sms"][0])
    async with AsyncSmsClient(api_key=API_KEY, subaccount_id=SUB) as sms:
        await sms.send_sms(destination=PHONE, text="hi")  # no account operation: fine
        assert route.call_count == 1
        with pytest.raises(e.ValidationError) as info:
            await sms.get_balance()
    assert route.call_count == 1  # nothing sent for the account call
    assert info.value.field == "EIGHTXEIGHT_ACCOUNT_ID"
    assert str(info.value).startswith("Invalid EIGHTXEIGHT_ACCOUNT_ID: must be a GUID")


def test_explicit_bad_account_id_is_still_refused_at_construction() -> None:
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key=API_KEY, account_id="not-a-guid")
    assert info.value.field == "account_id"


async def test_good_account_variable_is_used(
    monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter
) -> None:
    monkeypatch.setenv("EIGHTXEIGHT_ACCOUNT_ID", ACCOUNT)
    route = respx_mock.get(f"{BASE_URL}/api/v1/accounts/{ACCOUNT}/balance").respond(
        200, json={"balance": 1.5, "currency": "USD"}
    )
    async with AsyncSmsClient(api_key=API_KEY) as sms:
        assert (await sms.get_balance()).currency == "USD"
    assert route.called


@pytest.mark.parametrize(
    ("field", "option"),
    [
        ("account_id", "EIGHTXEIGHT_ACCOUNT_ID"),
        ("EIGHTXEIGHT_ACCOUNT_ID", "EIGHTXEIGHT_ACCOUNT_ID"),
    ],
)
def test_cli_names_the_account_variable_not_an_option(field: str, option: str) -> None:
    """The CLI's --json error said "option": "account_id", an option that does not exist."""
    _code, message, _hints, fields = describe(e.ValidationError(field, "a GUID"), None)
    assert fields == {"option": option}
    assert message.startswith(f"Invalid {option}:")


def test_cli_never_invents_an_option_for_an_unknown_field() -> None:
    _code, _message, _hints, fields = describe(
        e.ValidationError("rate_limits", "a RateLimits"), None
    )
    assert fields == {"field": "rate_limits"}


# --- 4. nested objects validate when made, and name their fields with the parent's -------------


async def test_set_webhook_oauth_fields_are_named_under_oauth(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """set_webhook(oauth={"url": "ftp://..."}) reported field "url", not "oauth.url"."""
    route = respx_mock.route().respond(200)
    oauth = {"url": "ftp://idp.example.com/token", "client_id": "a", "client_secret": "b"}
    with pytest.raises(e.ValidationError) as info:
        await client.set_webhook(url="https://hooks.example.com/x", oauth=oauth, account_id=ACCOUNT)
    assert info.value.field == "oauth.url"
    bad_scope = {**oauth, "url": "https://idp.example.com/token", "scope": ""}
    with pytest.raises(e.ValidationError) as info:
        await client.set_webhook(
            url="https://hooks.example.com/x", oauth=bad_scope, account_id=ACCOUNT
        )
    assert info.value.field == "oauth.scope"
    assert not route.called


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "x", "client_id": "a", "client_secret": "b"}, "url"),
        ({"url": "https://idp.example.com/t", "client_id": "", "client_secret": "b"}, "client_id"),
        (
            {"url": "https://idp.example.com/t", "client_id": "a", "client_secret": "\n"},
            "client_secret",
        ),
    ],
)
def test_webhook_oauth_validates_on_construction(kwargs: dict[str, str], field: str) -> None:
    """WebhookOAuth(url="x", ...) was made without any check, unlike the other model classes."""
    with pytest.raises(e.ValidationError) as info:
        e.WebhookOAuth(**kwargs)
    assert info.value.field == field


def test_listed_webhook_with_masked_secret_still_parses() -> None:
    """8x8 lists the secret as "***": a listing parses; sending it back is refused."""
    listed = converter.structure(
        {
            "subAccountId": SUB,
            "url": "https://hooks.example.com/x",
            "oauth": {
                "url": "https://idp.example.com/t",
                "clientId": "a",
                "clientSecret": "***",
                "credentialsLocation": "header",
            },
        },
        e.Webhook,
    )
    assert listed.oauth is not None
    assert listed.oauth.client_secret == "***"


# --- 5. path ids: unreserved characters only, refused before any request ----------------------

ODD_IDS = ["a/b", "a b", "é", "%2F", "?x=1", "#frag", ".", "..", "a" * 129]


@pytest.mark.parametrize("value", ODD_IDS)
@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda c, i: c.cancel_message(i), "umid", id="cancel_message"),
        pytest.param(lambda c, i: c.get_log_export(i), "job_id", id="get_log_export"),
        pytest.param(lambda c, i: c.cancel_log_export(i), "job_id", id="cancel_log_export"),
        pytest.param(lambda c, i: c.cancel_batch(i), "batch_id", id="cancel_batch"),
        pytest.param(
            lambda c, i: c.send_survey(i, destination=PHONE), "survey_id", id="send_survey"
        ),
    ],
)
async def test_odd_path_ids_are_refused_before_any_request(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, call: Any, field: str, value: str
) -> None:
    """They were percent-encoded and sent (send_survey("a/b") even got 200 QUEUED)."""
    route = respx_mock.route().respond(200, json=reference_examples()["send-sms"][0])
    with pytest.raises(e.ValidationError) as info:
        await call(client, value)
    assert info.value.field == field
    assert not route.called


# --- 6. a closed client cannot be revived through with_options --------------------------------


async def test_with_options_on_a_closed_derived_client_raises() -> None:
    """d.aclose(); d.with_options().send_sms() used to send."""
    async with AsyncSmsClient(api_key=API_KEY, subaccount_id=SUB) as parent:
        derived = parent.with_options(timeout=3)
        grandchild = derived.with_options(timeout=4)  # made before derived was closed
        await derived.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            derived.with_options(timeout=5)
        assert grandchild.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await grandchild.send_sms(destination=PHONE, text="hi")
        assert not parent.is_closed
        parent.with_options(timeout=5)  # the parent carries on
    with pytest.raises(RuntimeError, match="closed"):
        parent.with_options(timeout=5)


# --- 7. download tokens never appear in reprs or errors ---------------------------------------


def test_log_export_status_repr_hides_the_download_tokens() -> None:
    """repr(LogExportStatus) showed .../messages/download/<token>."""
    status = e.LogExportStatus(
        status="succeeded",
        links=(LINK, "https://blobs.example.net/exports/f.csv?sig=SECRETSIG"),
    )
    text = repr(status)
    assert "tok-secret-1" not in text
    assert "SECRETSIG" not in text
    assert f"{BASE_URL}/api/v1/subaccounts/{SUB}/messages/download/***" in text
    assert "https://blobs.example.net/exports/***?***" in text
    assert status.links[0] == LINK


async def test_download_error_keeps_no_token(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """An expired link's NotFoundError kept the link, token included, on .request (and pickle)."""
    respx_mock.get(LINK).respond(404, json={"code": 1300, "message": "expired"})
    with pytest.raises(e.NotFoundError) as info:
        await collect(client.iter_log_records(LINK))
    error = info.value
    for shown in (str(error), repr(error.request), repr(error.response.request)):
        assert "tok-secret-1" not in shown
    assert b"tok-secret-1" not in pickle.dumps(error)


# --- 8. server text in error messages: no echoed key, token or number -------------------------


async def test_error_message_masks_what_a_server_echoes(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """{"message": "bad Bearer HOOKSECRET"} or an echoed key or number went into the message."""
    respx_mock.route().respond(
        400,
        json={
            "code": 1000,
            "message": f"bad Bearer HOOKSECRET, basic dXNlcjpw, key {API_KEY} for {PHONE}",
            "errorId": "b4478860-0000",
        },
    )
    with pytest.raises(e.BadRequestError) as info:
        await client.send_sms(destination=PHONE, text="hi")
    text = str(info.value)
    for secret in ("HOOKSECRET", "dXNlcjpw", API_KEY, PHONE, "91234567"):
        assert secret not in text, secret
    assert "Bearer ***" in text
    assert "[errorId b4478860-0000]" in text


# --- 9. iter_log_records: the key goes only where the chain started and stayed ----------------


async def test_foreign_link_redirecting_home_gets_no_key(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """A third-party link redirecting to the client's origin made the client send its key."""
    foreign = "https://evil.example.net/export.csv"
    home = f"{SUBS}/messages/exports"  # any path the third party chooses
    respx_mock.get(foreign).respond(302, headers={"Location": home})
    landed = respx_mock.get(home).respond(200, text=COLUMNS + "\r\n" + csv_row(1))
    assert len(await collect(client.iter_log_records(foreign))) == 1
    assert "Authorization" not in landed.calls.last.request.headers


async def test_own_link_that_left_and_came_back_gets_no_key(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    away = "https://blobs.example.net/hop"
    back = f"{SUBS}/messages/download/back"
    first = respx_mock.get(LINK).respond(302, headers={"Location": away})
    respx_mock.get(away).respond(302, headers={"Location": back})
    landed = respx_mock.get(back).respond(200, text=COLUMNS + "\r\n" + csv_row(1))
    assert len(await collect(client.iter_log_records(LINK))) == 1
    assert first.calls.last.request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Authorization" not in landed.calls.last.request.headers


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://blobs.example.net/f.csv"])
async def test_redirect_to_another_scheme_says_so(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, location: str
) -> None:
    """A redirect to file:/// was reported as "plain http or credentials"."""
    respx_mock.get(LINK).respond(302, headers={"Location": location})
    with pytest.raises(e.ResponseValidationError) as info:
        await collect(client.iter_log_records(LINK))
    assert "scheme other than https" in str(info.value)
    assert info.value.__context__ is None


# --- 10. log export defaults: a start after today with no end is refused ----------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": date.today() + timedelta(days=3)}, "start"),
        ({"start": datetime.now(timezone.utc) + timedelta(days=2)}, "start"),
        ({"end": date.today() - timedelta(days=30)}, "end"),
    ],
)
async def test_log_export_bound_beyond_the_default_other_bound_is_refused(
    respx_mock: respx.MockRouter, client: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    """start=<future> without end was sent, and 8x8 answered 400/1010 "from is after to"."""
    route = respx_mock.route().respond(202, json={"jobId": "j1"})
    with pytest.raises(e.ValidationError) as info:
        await client.start_log_export(**kwargs)
    assert info.value.field == field
    assert not route.called


async def test_log_export_start_today_without_end_is_sent(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    route = respx_mock.route().respond(202, json={"jobId": "j1"})
    started = await client.start_log_export(start=datetime.now(timezone.utc).date())
    assert started.job_id == "j1"
    assert route.called


# --- 11. with_raw_response: exact docstring, and signatures that say RawResponse --------------


def test_raw_wrappers_show_raw_response_in_signature_and_help() -> None:
    """inspect.signature(client.with_raw_response.send_batch) said -> 'BatchResponse'."""
    client = AsyncSmsClient(api_key=API_KEY, subaccount_id=SUB)
    wrapper = client.with_raw_response.send_batch
    returned = inspect.signature(wrapper).return_annotation
    assert returned == RawResponse[e.BatchResponse]
    assert typing.get_type_hints(wrapper)["return"] == RawResponse[e.BatchResponse]
    assert typing.get_type_hints(client.send_batch)["return"] is e.BatchResponse  # untouched
    assert "RawResponse" in (wrapper.__doc__ or "")
    doc = type(client).with_raw_response.__doc__ or ""
    assert "The same methods" not in doc
    assert "iter_log_records" in doc


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EIGHTXEIGHT_SUBACCOUNT_ID", "x"),
        ("EIGHTXEIGHT_BASE_URL", "http://sms.example.com"),
        ("EIGHTXEIGHT_API_KEY", "key with spaces"),
    ],
)
def test_bad_variable_is_named_as_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A bad value read from a variable was reported as the argument the caller never passed."""
    monkeypatch.setenv("EIGHTXEIGHT_API_KEY", API_KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient()
    assert info.value.field == variable
    assert str(info.value).startswith(f"Invalid {variable}: must be")


def test_explicit_empty_base_url_is_refused() -> None:
    """base_url="" silently fell back to the region's host."""
    with pytest.raises(e.ValidationError) as info:
        AsyncSmsClient(api_key=API_KEY, base_url="")
    assert info.value.field == "base_url"


def test_cli_send_output_masks_a_number_in_the_client_message_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`eightxeight send` echoed a client_message_id holding a number whole."""
    from eightxeight_async import _cli_app

    _cli_app._echo_sms(_sms_response())
    text = capsys.readouterr().out
    assert "91234567" not in text
    assert f"b-2026/{MASKED}" in text


def test_proxy_reason_in_a_message_is_masked() -> None:
    """A proxy's reason went into the message as sent: a "Basic <token>" it echoed included."""
    from eightxeight_async._transport_errors import map_transport_error

    request = httpx.Request("POST", "https://sms.8x8.com/api/v1/x")
    exc = httpx.ProxyError("407 denied Basic dXNlcjpwYXNz for 6591234567")
    error = map_transport_error(exc, request, send=None, kind="proxy")
    assert "dXNlcjpwYXNz" not in str(error)
    assert "6591234567" not in str(error)


async def test_export_failure_status_text_is_masked() -> None:
    """A failed export's status text from the server went into the message unmasked."""
    from eightxeight_async._exports import wait_for_export
    from eightxeight_async.testing import retry_without_waiting

    async def status() -> e.LogExportStatus:
        return e.LogExportStatus(status="failed", job_id="job-1")

    async def odd_status() -> e.LogExportStatus:
        return e.LogExportStatus(status=f"error Bearer SECRETTOKEN {PHONE}", job_id="job-1")

    with retry_without_waiting(), pytest.raises(e.LogExportTimeoutError) as info:
        await wait_for_export("job-1234567", odd_status, poll_interval=1, max_wait=2)
    assert "SECRETTOKEN" not in str(info.value)
    assert "91234567" not in str(info.value)
    assert "job-1234567" in str(info.value)  # the id to quote back stays whole
    with retry_without_waiting(), pytest.raises(e.LogExportError):
        await wait_for_export("job-1", status, poll_interval=1, max_wait=2)


async def test_log_record_repr_masks_an_inbound_sender_and_error_text(
    respx_mock: respx.MockRouter, client: AsyncSmsClient
) -> None:
    """An inbound record's source is the end user's number; error text may quote a number."""
    row = csv_row(1, direction="0", source="6591234567", status_errormessage=f"Unknown {PHONE}")
    respx_mock.get(LINK).respond(200, text=COLUMNS + "\r\n" + row)
    (record,) = await collect(client.iter_log_records(LINK))
    assert record.source == "6591234567"
    assert "91234567" not in repr(record)
    example = reference_examples()["get-message-details"][1]
    status = {**example["status"], "errorMessage": f"Unknown {PHONE}"}
    details = converter.structure({**example, "status": status}, e.MessageDetails)
    assert "91234567" not in repr(details)
