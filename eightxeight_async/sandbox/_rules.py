"""8x8's request rules and error bodies, as the sandbox applies them.

The rules follow 8x8's OpenAPI file (``SmsRequest``, ``SurveyRequest``, ``SmsFeedback``) and its
reference pages: a body the schema forbids is refused with 8x8's error body and code (HTTP 400),
except where the pages document a REJECTED answer in an HTTP 200 instead (text missing, source
longer than 16 characters, expiry already reached). JSON ``null`` is a value of the wrong type, as
the schema says (no field is ``nullable``); leave a field out instead.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from .._errors import ValidationError
from .._validators import check_path_id

__all__ = [
    "JSONResponse",
    "Rejected",
    "authorized",
    "check_client_ip",
    "check_feedback",
    "check_sms",
    "check_survey",
    "error",
    "now",
    "parse_rfc3339",
    "path_id",
    "web_url",
    "read_any_json",
    "read_json",
    "refuse",
    "stamp_2",
    "stamp_7",
]

SUBACCOUNT_RE = re.compile(r"[A-Za-z0-9\-._&]{3,50}")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
DESTINATION_RE = re.compile(r"\+?[1-9][0-9]{6,14}")
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
# RFC 3986's characters, so that a URL with a space, a "{" or a non-ASCII letter is refused.
_URI_RE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_SCHEDULE_HORIZON = timedelta(days=7)
_ENCODINGS = ("AUTO", "GSM7", "UCS2")


class JSONResponse(_StarletteJSONResponse):
    r"""A JSON answer that can always be written: non-ASCII as ``\u`` escapes.

    JSON may carry a lone surrogate (``"\udc80"``); echoed back (``clientMessageId``,
    ``clientBatchId``) it cannot be encoded as UTF-8, and starlette's rendering would fail with
    a 500. Escaped, the answer holds exactly what the request did.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("ascii")


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(timezone.utc)


def stamp_2(value: datetime) -> str:
    """``2020-06-17T04:17:21.06Z``: the form of message details and receipts."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 10000:02d}Z"


def stamp_7(value: datetime) -> str:
    """``2017-04-19T02:31:19.4297387+00:00``: the form of error bodies (7 digits)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0+00:00"


def parse_rfc3339(value: object) -> datetime | None:
    """``value`` as an aware datetime if it is an RFC 3339 date-time string, else None."""
    if not isinstance(value, str):
        return None
    match = _RFC3339_RE.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
    except ValueError:  # 2024-02-30, 25:00, an offset of 24 hours or more
        return None


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An 8x8 error response: ``code``, ``message``, ``errorId`` (a UUID) and ``timestamp``."""
    body = {
        "code": code,
        "message": message,
        "errorId": str(uuid.uuid4()),
        "timestamp": stamp_7(now()),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def authorized(header: str, api_key: str) -> bool:
    """Whether an ``Authorization`` header carries ``api_key`` as a bearer token.

    The scheme is case-insensitive (RFC 9110, section 11.1); the token is compared in constant
    time.
    """
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), api_key.encode())


class Rejected(Exception):
    """Raised by a check: answer with ``response`` (an 8x8 error body) and stop.

    ``code`` and ``message`` repeat the body's, for a batch that turns some refusals of one
    message into a REJECTED result.
    """

    def __init__(self, response: Response, code: int | None = None, message: str = "") -> None:
        self.response = response
        self.code = code
        self.message = message


def refuse(code: int, message: str, status: int = 400) -> Rejected:
    """A :class:`Rejected` answering ``status`` with 8x8's error body of ``code``."""
    return Rejected(error(status, code, message), code, message)


def path_id(raw: str, name: str) -> str:
    """A path id (``umid``, ``surveyId``, ``batchId``, ``jobId``, a download token), or 400 / 1000.

    ``raw`` is the segment as sent, percent-decoded here once. The id must then follow the
    client's rule (``check_path_id``): 1 to 128 of ``A-Z a-z 0-9 - . _ ~``, not ``.`` or ``..``;
    so an encoded ``/``, space, ``?``, ``#``, ``%`` or non-ASCII letter is refused on every
    route, never taken as an id that is merely not found.
    """
    try:
        return check_path_id(unquote(raw), name)
    except ValidationError:
        raise refuse(1000, f"Invalid {name}.") from None


def web_url(value: str) -> SplitResult | None:
    """``value`` split as an http(s) URL with a host and RFC 3986's characters only, else None.

    ``urlsplit`` raises on some malformed hosts (``http://[::1``), and httpx, which posts the
    receipts, on others (``http://xn--/``, ``http://[v1.x]/``): those are refusals too, rather
    than a receipt task failing later.
    """
    if not _URI_RE.fullmatch(value):
        return None
    try:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        _ = parts.port  # raises on a port that is not a number from 0 to 65535
        _ = httpx.URL(value).host  # the host is decoded (IDNA) on first use
    except (ValueError, httpx.InvalidURL):  # IDNA errors are ValueErrors
        return None
    return parts


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity; 8x8's JSON reader does not.
    raise ValueError(name)


def read_any_json(raw: bytes) -> Any:
    """The request body as any JSON value, or a 400 / code 1000 refusal."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, NaN, or nested too deep
        raise refuse(1000, "Invalid request body: not JSON.") from None


def read_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 / code 1000 refusal."""
    body = read_any_json(raw)
    if not isinstance(body, dict):
        raise refuse(1000, "Invalid request body: not a JSON object.")
    return body


def _string(
    body: dict[str, Any], key: str, code: int, *, limit: int | None = None, long_code: int = 0
) -> str | None:
    """An optional string field; a wrong type is ``code``, a too long one ``long_code``."""
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, str):
        raise refuse(code, f"Invalid {key} value.")
    if limit is not None and len(value) > limit:
        raise refuse(long_code or code, f"Invalid {key} value. Reached max allowed limit")
    return value


def _check_common(body: dict[str, Any], *, survey: bool, current: datetime) -> dict[str, Any]:
    """The rules SMS and survey sends share; returns the cleaned fields."""
    destination = body.get("destination")
    if not isinstance(destination, str) or not DESTINATION_RE.fullmatch(destination):
        raise refuse(1002, "Invalid MSISDN format (not E.164 international number)")
    country = _string(body, "country", 1009)
    if country is not None and (len(country) > 2 or (survey and len(country) != 2)):
        raise refuse(1009, "Invalid Country Code.")
    encoding = body.get("encoding", "AUTO")
    if encoding not in _ENCODINGS:
        raise refuse(1003, "Invalid Encoding.")
    scheduled = None
    if "scheduled" in body:
        scheduled = parse_rfc3339(body["scheduled"])
        if scheduled is None or scheduled < current or scheduled > current + _SCHEDULE_HORIZON:
            raise refuse(1011, "Invalid Schedule Time.")
    expiry = None
    if "expiry" in body:
        expiry = parse_rfc3339(body["expiry"])
        if expiry is None:
            raise refuse(1006, "Invalid Expiry.")
    url = _string(body, "dlrCallbackUrl", 3020)
    if url is not None and web_url(url) is None:
        raise refuse(3020, "Invalid DR Callback URL.")
    source = body.get("source")
    # Too long is a REJECTED in a 200 (documented); a wrong type or an empty sender is a 400.
    if "source" in body and (not isinstance(source, str) or not source):
        raise refuse(1005, "Invalid Source.")
    client_message_id = _string(body, "clientMessageId", 1000, limit=350, long_code=3009)
    return {
        "destination": destination,
        "country": country,
        "encoding": encoding,
        "scheduled": scheduled,
        "expiry": expiry,
        "source": source,
        "client_message_id": client_message_id,
        "dlr_callback_url": url,
    }


def check_sms(
    body: dict[str, Any], current: datetime | None = None
) -> tuple[dict[str, Any], str | None]:
    """Check an ``SmsRequest``; returns the cleaned fields and the text (None when missing).

    ``current`` is the time ``scheduled`` must lie in the 7 days after: real time by default,
    the clock clients stamp it with, however far the sandbox's own clock was advanced.
    """
    fields = _check_common(body, survey=False, current=current or now())
    text = body.get("text")
    if "text" in body and not isinstance(text, str):
        raise refuse(1004, "Invalid Text.")
    if "track" in body and body["track"] not in ("None", "Outcome"):
        raise refuse(1000, "Invalid track value.")
    if "clientIp" in body:
        check_client_ip(body["clientIp"])
    return fields, text


def check_client_ip(client_ip: object) -> None:
    """Refuse a ``clientIp`` that is not an IP address string (400 / 1012)."""
    # ipaddress also takes ints (and so True): 8x8's field is a string.
    if not isinstance(client_ip, str):
        raise refuse(1012, "Invalid Ip Address.")
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        raise refuse(1012, "Invalid Ip Address.") from None


def check_survey(
    body: dict[str, Any], short_url: str, current: datetime | None = None
) -> tuple[dict[str, Any], str]:
    """Check a ``SurveyRequest``; returns the cleaned fields and the text as it would be sent."""
    fields = _check_common(body, survey=True, current=current or now())
    template = body.get("templateBody", "Take our survey: {{url:}}")
    if not isinstance(template, str) or "{{url:" not in template:
        raise refuse(1007, "Invalid SMS Template.")
    variables = body.get("templateVariables", {})
    if not isinstance(variables, dict):
        raise refuse(1007, "Invalid SMS Template: templateVariables must be an object.")
    text = re.sub(r"\{\{url:[^}]*\}\}", short_url, template)
    for name, value in variables.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("{{" + name + "}}", shown)
    return fields, text


def check_feedback(body: dict[str, Any]) -> dict[str, Any]:
    """Check an ``SmsFeedback``; returns what the sandbox records."""
    outcome = body.get("outcome")
    if outcome not in ("success", "failure"):
        raise refuse(1000, "Invalid outcome: must be success or failure.")
    timestamp = body.get("timestamp")
    if "timestamp" in body and parse_rfc3339(timestamp) is None:
        raise refuse(1000, "Invalid timestamp.")
    return {"outcome": outcome, "timestamp": timestamp}
