"""Receive 8x8's webhooks: typed events, and an ASGI receiver for any ASGI app.

:func:`parse_event` reads one body 8x8 posted into a :class:`DeliveryReceipt`, an
:class:`InboundMessage`, a :class:`SurveyResponse`, or an :class:`UnknownEvent` (a namespace or
event type this SDK does not know, such as ChatApps: not an error). :class:`WebhookReceiver` is an
ASGI app that checks and parses each post, answers 8x8 at once and runs your handler after::

    from eightxeight_async.webhooks import WEBHOOK_SOURCE_IPS, WebhookReceiver

    async def on_event(event):
        ...

    receiver = WebhookReceiver(
        on_event,
        authorization="Basic dXNlcjpwYXNz",      # what you gave set_webhook(http_authorization=)
        allowed_ips=WEBHOOK_SOURCE_IPS["APAC"],  # your account's region
    )
    app.mount("/webhooks/8x8", receiver)         # Starlette / FastAPI; or uvicorn.run(receiver)
    # then set_webhook(url="https://example.com/webhooks/8x8/", http_authorization=...)

The handler may be async (awaited in a task of its own) or a plain function (called in that
task, on the event loop: keep it quick, e.g. put the event on a queue). A handler that is not
callable is refused at once (``ValidationError("handler", ...)``).

``authorization`` must be the exact value, printable ASCII, neither empty nor blank, without
leading or trailing whitespace: ``WebhookReceiver(h, authorization=os.environ.get("X", ""))``
with X unset raises ``ValidationError("authorization", ...)`` instead of letting a post with an
empty ``Authorization:`` header in. ``authorization=None`` is the one way to check nothing.

``receiver.answers`` counts the posts answered per HTTP status (e.g. ``answers[401]``: posts with
a wrong ``Authorization``).

Servers that are not ASGI (aiohttp.web) call ``await receiver.respond(method=, headers=, body=,
client_host=)`` and send the returned :class:`WebhookAnswer`: the same checks and answers.

Give ``set_webhook`` a mounted receiver's URL with its trailing slash: Starlette answers the bare
path with a redirect, which is not the receiver.

**8x8 does not sign SMS webhooks.** There is no signature or HMAC to verify (8x8 Contact Center's
``x-8x8-signature`` does not apply to SMS). A post is authentic only as far as these hold: the
static ``Authorization`` value you set with ``set_webhook(http_authorization=...)`` (compared in
constant time; use a long random value and HTTPS), or OAuth client credentials on 8x8's side
(``set_webhook(oauth=...)``, checked by your gateway, with ``authorization=None`` here), and the
source-address allow-list (:data:`WEBHOOK_SOURCE_IPS`).

What the receiver answers:

======  ===========================================================================================
Status  When
======  ===========================================================================================
200     A parsed event (the handler runs after the answer), a duplicate (dropped), an unknown event
400     A body that is not JSON or not of the documented shape, or a legacy Wavecell body
401     A missing or wrong ``Authorization`` header: the body is not read, no handler runs
403     A source address outside ``allowed_ips``
405     Any method but POST
413     A body over ``max_body_bytes`` (read as a stream, stopped at the limit)
======  ===========================================================================================

8x8 retries any 4xx and 5xx (after 1, 10, 30 and 90 seconds). A 400 is still the right answer to
garbage: the same bytes fail the same way on each retry (five posts, then 8x8 stops), and the 400
shows in 8x8's delivery logs, where a 200 would hide a legacy format or a broken proxy.

Those retries, and a retry after an answer lost on the way back, deliver an event twice. The
receiver drops the second one through a :class:`DedupeStore`: a receipt is identified by (umid,
state), an inbound SMS and a survey response by umid. The default :class:`InMemoryDedupe` works for
one process; when several receive, give them one shared store: :class:`RedisDedupe`
(``RedisDedupe.from_url("redis://...")``, extra ``[redis]``), or any object with ``async
first_seen(key) -> bool``. A store that fails is logged and the event handed on (fail open).

The source address is the connection's (ASGI ``scope["client"]``). ``X-Forwarded-For`` is not
trusted, since anyone can send it; pass ``trust_forwarded=True`` only behind your own reverse
proxy, and the last address it appended is used.
"""

from __future__ import annotations

from types import MappingProxyType

from ._webhook_models import (
    MIGRATION_GUIDE,
    DeliveryReceipt,
    InboundMessage,
    LegacyWebhookError,
    SurveyAnswer,
    SurveyResponse,
    TemplateVariable,
    UnknownEvent,
    WebhookEvent,
    WebhookFormatError,
    parse_event,
)
from ._webhook_receiver import (
    DedupeStore,
    InMemoryDedupe,
    WebhookAnswer,
    WebhookReceiver,
    dedupe_key,
)
from ._webhook_redis import RedisDedupe

__all__ = [
    "MIGRATION_GUIDE",
    "WEBHOOK_SOURCE_IPS",
    "DedupeStore",
    "DeliveryReceipt",
    "InMemoryDedupe",
    "InboundMessage",
    "LegacyWebhookError",
    "RedisDedupe",
    "SurveyAnswer",
    "SurveyResponse",
    "TemplateVariable",
    "UnknownEvent",
    "WebhookAnswer",
    "WebhookEvent",
    "WebhookFormatError",
    "WebhookReceiver",
    "dedupe_key",
    "parse_event",
]

#: The addresses 8x8 posts webhooks from, per region (8x8's ``ip-address-list``, 2025-10-13).
#: Allow-list your account's region: ``WebhookReceiver(..., allowed_ips=WEBHOOK_SOURCE_IPS["EU"])``.
WEBHOOK_SOURCE_IPS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "APAC": ("52.220.117.120", "52.220.109.9", "18.136.13.204"),
        "ID": ("34.101.157.207", "34.101.215.77", "34.34.217.244", "34.101.109.67"),
        "EU": ("34.142.20.188", "34.142.64.178", "34.39.69.103", "34.39.114.155"),
        "NA": ("50.112.250.190", "100.21.170.42", "52.10.10.63"),
    }
)

# Public names report this module, not the private one they live in; the errors belong to the
# package's error tree (importable from eightxeight_async), which names them itself.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and not issubclass(_value, Exception):
        _value.__module__ = __name__
del _name, _value
