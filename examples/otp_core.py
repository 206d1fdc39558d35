"""The OTP flow both example apps share, with no web framework in it.

``OtpService`` holds one ``AsyncSmsClient`` and one ``DeliveryTracker`` while the app runs
(:meth:`OtpService.running`, entered in the app's lifespan), the codes it sent (in memory, each
with an expiry, never logged), and the three operations the apps expose:

- :meth:`OtpService.send`: a random 6-digit code to a phone, tracked for its delivery;
- :meth:`OtpService.delivery`: wait for the message's final state, from the delivery receipt
  8x8 posts to the webhook (the tracker polls ``get_message`` only when a receipt is late);
- :meth:`OtpService.verify`: check a code, then tell 8x8 whether the OTP did its job
  (``send_feedback``, outcome ``success`` or ``failure``), which feeds 8x8's conversion reports.

Each returns a :class:`Reply` (an HTTP status and a JSON object) that the app sends as it is.
:meth:`OtpService.receiver` is the ``WebhookReceiver`` whose handler feeds the tracker.

Configuration comes from the environment only (:meth:`OtpSettings.from_env`): the client's
``EIGHTXEIGHT_*`` variables, which ``eightxeight sandbox`` prints, and:

==============================  ==================================================================
``OTP_WEBHOOK_AUTHORIZATION``   Required. The ``Authorization`` value 8x8 sends with each webhook
                                post (a long random value; ``Basic ...`` or anything ASCII).
``OTP_WEBHOOK_URL``             The public URL of the receiver, e.g.
                                ``https://otp.example.com/webhooks/8x8/``. When set, the app
                                registers it with ``set_webhook`` at startup (needs
                                ``EIGHTXEIGHT_ACCOUNT_ID``); else register it yourself.
``OTP_WEBHOOK_ALLOWED_IPS``     8x8's region (``APAC``, ``EU``, ``NA``, ``ID``: its published
                                addresses) or a comma-separated list of addresses and networks.
                                Unset: any address (the sandbox posts from 127.0.0.1).
``OTP_SOURCE``                  The sender id of the SMS (8x8's default when unset).
``OTP_DEMO_CODE``               Six digits every OTP uses instead of a random code, to try the
                                app by hand: the sandbox keeps no message text, so there is no
                                phone to read the code from. Refused unless
                                ``EIGHTXEIGHT_BASE_URL`` is a loopback address (the sandbox).
``OTP_HOST``, ``OTP_PORT``      Where ``python -m examples.fastapi_otp`` (or ``aiohttp_otp``)
                                listens: 127.0.0.1 and 8000 by default.
==============================  ==================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import sys
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from eightxeight_async import (
    APIConnectionError,
    AsyncSmsClient,
    AuthenticationError,
    EightXEightError,
    PermissionDeniedError,
    ValidationError,
)
from eightxeight_async.tracking import Delivery, DeliveryTimeoutError, DeliveryTracker
from eightxeight_async.webhooks import (
    WEBHOOK_SOURCE_IPS,
    DeliveryReceipt,
    WebhookEvent,
    WebhookReceiver,
)

__all__ = [
    "ConfigError",
    "OtpService",
    "OtpSettings",
    "Reply",
    "configure_logging",
    "json_object",
    "listen_address",
    "mask",
    "settings_from_env",
]

logger = logging.getLogger("otp_example")

#: How long a code can be used, in seconds.
CODE_TTL = 300.0
#: How long an expired code is remembered (to answer 410, and give 8x8 its failure feedback
#: within the 15 minutes 8x8 allows), in seconds.
KEEP = 2 * CODE_TTL
#: Wrong codes allowed per OTP before it is spent.
MAX_ATTEMPTS = 3
#: The largest request body the OTP routes read (the webhook has the receiver's own limit).
MAX_BODY = 4 * 1024
#: The most OTPs kept at once (sent within CODE_TTL); beyond it, sending answers 503.
MAX_PENDING = 10_000
#: The longest a client may ask ``delivery`` to wait, in seconds.
MAX_WAIT = 30.0

#: What the client itself needs; the base URL and the CA bundle have defaults (8x8, certifi).
CLIENT_VARIABLES = ("EIGHTXEIGHT_API_KEY", "EIGHTXEIGHT_SUBACCOUNT_ID")
#: The hosts of a local sandbox, the only ones OTP_DEMO_CODE may be used with.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfigError(Exception):
    """The environment does not configure the app; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The OTP example cannot start:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class OtpSettings:
    """The app's own settings (the client reads its ``EIGHTXEIGHT_*`` variables itself)."""

    webhook_authorization: str = field(repr=False)
    """The ``Authorization`` value 8x8 sends; a secret, kept out of the repr."""
    webhook_url: str | None = None
    """Where 8x8 posts events; registered at startup when set."""
    allowed_ips: tuple[str, ...] | None = None
    """The addresses allowed to post; ``None`` allows any."""
    source: str | None = None
    """The sender id."""
    demo_code: str | None = field(default=None, repr=False)
    """The code every OTP uses (the local sandbox only); ``None``: a random one each time."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OtpSettings:
        """Read and check the settings.

        Args:
            environ: The environment, e.g. ``os.environ``.

        Returns:
            The settings.

        Raises:
            ConfigError: Naming every missing or bad variable (never echoing a secret).
        """
        problems = [
            f"{name} is not set: `eightxeight sandbox` prints it (for 8x8: your account's)."
            for name in CLIENT_VARIABLES
            if not environ.get(name)
        ]
        authorization = environ.get("OTP_WEBHOOK_AUTHORIZATION", "")
        if not authorization.strip():
            problems.append(
                "OTP_WEBHOOK_AUTHORIZATION is not set: the Authorization value 8x8 sends with"
                " each webhook post (a long random value, e.g. from `openssl rand -hex 24`)."
            )
        elif not authorization.isascii() or not authorization.isprintable():
            problems.append("OTP_WEBHOOK_AUTHORIZATION must be printable ASCII.")
        elif authorization != authorization.strip():
            # Servers strip a header value's ends: such a value could never match.
            problems.append("OTP_WEBHOOK_AUTHORIZATION must not start or end with a space.")
        url = environ.get("OTP_WEBHOOK_URL") or None
        if url is not None:
            if not url.startswith(("https://", "http://")):
                problems.append("OTP_WEBHOOK_URL must be an http(s) URL.")
            if not environ.get("EIGHTXEIGHT_ACCOUNT_ID"):
                problems.append(
                    "EIGHTXEIGHT_ACCOUNT_ID is not set: OTP_WEBHOOK_URL is registered with"
                    " set_webhook, an account operation."
                )
        allowed, problem = _allowed_ips(environ.get("OTP_WEBHOOK_ALLOWED_IPS", ""))
        if problem:
            problems.append(problem)
        port = environ.get("OTP_PORT") or "8000"
        if not (port.isascii() and port.isdigit() and int(port) <= 65535):
            problems.append("OTP_PORT must be a port number, 0 to 65535.")
        demo_code = environ.get("OTP_DEMO_CODE") or None
        if demo_code is not None:
            if not (len(demo_code) == 6 and demo_code.isascii() and demo_code.isdigit()):
                problems.append("OTP_DEMO_CODE must be 6 digits.")
            base_url = environ.get("EIGHTXEIGHT_BASE_URL", "")
            if urllib.parse.urlsplit(base_url).hostname not in LOOPBACK:
                problems.append(
                    "OTP_DEMO_CODE is for the local sandbox only: EIGHTXEIGHT_BASE_URL must be"
                    " a loopback URL (https://127.0.0.1:PORT) when it is set."
                )
        if problems:
            raise ConfigError(problems)
        return cls(
            webhook_authorization=authorization,
            webhook_url=url,
            allowed_ips=allowed,
            source=environ.get("OTP_SOURCE") or None,
            demo_code=demo_code,
        )


def _allowed_ips(value: str) -> tuple[tuple[str, ...] | None, str | None]:
    """OTP_WEBHOOK_ALLOWED_IPS read: a region's addresses or a list; or the problem."""
    value = value.strip()
    if not value:
        return None, None
    if value.upper() in WEBHOOK_SOURCE_IPS:
        return WEBHOOK_SOURCE_IPS[value.upper()], None
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    try:
        for item in items:
            ipaddress.ip_network(item, strict=False)
    except ValueError:
        regions = ", ".join(WEBHOOK_SOURCE_IPS)
        return None, (
            f"OTP_WEBHOOK_ALLOWED_IPS must be a region ({regions}) or a comma-separated list"
            " of IP addresses and networks."
        )
    return items, None


def listen_address(environ: Mapping[str, str]) -> tuple[str, int]:
    """Where the example servers listen: ``OTP_HOST`` (127.0.0.1) and ``OTP_PORT`` (8000).

    Raises:
        ConfigError: ``OTP_PORT`` is not a port number.
    """
    host = environ.get("OTP_HOST") or "127.0.0.1"
    port = environ.get("OTP_PORT") or "8000"
    if not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise ConfigError(["OTP_PORT must be a port number, 0 to 65535."])
    return host, int(port)


def settings_from_env(environ: Mapping[str, str]) -> OtpSettings:
    """:meth:`OtpSettings.from_env`, or the list of problems on stderr and exit status 2.

    For ``create_app``, which a server calls (``uvicorn --factory``): a traceback there would
    bury the list.
    """
    try:
        return OtpSettings.from_env(environ)
    except ConfigError as exc:
        cannot_start(exc)


def cannot_start(problem: ConfigError) -> NoReturn:
    """Print what stops the app, then exit with status 2 (a configuration error)."""
    print(problem, file=sys.stderr, flush=True)
    raise SystemExit(2)


def configure_logging() -> None:
    """The app's INFO lines on stderr, also under a server that configures only its own logs.

    httpx's own request lines are left out.
    """
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # if nothing else did
    logger.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def json_object(raw: bytes) -> dict[str, Any] | None:
    """A request body's JSON object, or None for anything else (not JSON, too deep, a list)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return None
    return data if isinstance(data, dict) else None


def seconds(value: str) -> float | None:
    """A ``?timeout=`` value in seconds, or None when it is not a finite number."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def mask(phone: str) -> str:
    """A phone number for logs: its first 3 and last 2 characters (``+65******67``)."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]


class Reply(NamedTuple):
    """What the app answers: an HTTP status and a JSON object."""

    status: int
    body: dict[str, Any]


@dataclass
class _Otp:
    """One code sent: kept until it expires, never logged or answered."""

    code: str = field(repr=False)
    expires: float
    attempts_left: int = MAX_ATTEMPTS
    outcome: str | None = None
    """``success`` or ``failure`` once feedback was given: the code is spent."""
    delivery: Delivery | None = None
    """The final state once known (the tracker hands it to one wait; it is kept here)."""


class OtpService:
    """The OTP flow: send, wait for delivery, verify and give feedback (see the module)."""

    def __init__(self, settings: OtpSettings) -> None:
        """Prepare the service; the client and the tracker exist only inside :meth:`running`.

        Args:
            settings: From :meth:`OtpSettings.from_env`.
        """
        self.settings = settings
        self._client: AsyncSmsClient | None = None
        self._tracker: DeliveryTracker | None = None
        # Insertion order is expiry order (one TTL for all): the oldest are purged first.
        self._otps: OrderedDict[str, _Otp] = OrderedDict()
        self._feedbacks: set[asyncio.Task[None]] = set()  # for expired codes, sent in background
        self._receiver = WebhookReceiver(
            self.on_event,
            authorization=settings.webhook_authorization,
            allowed_ips=settings.allowed_ips,
        )

    @property
    def receiver(self) -> WebhookReceiver:
        """The webhook receiver to serve (an ASGI app, or ``respond`` for aiohttp)."""
        return self._receiver

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OtpService]:
        """Run the client and the tracker (enter it in the app's lifespan).

        Registers ``OTP_WEBHOOK_URL`` with ``set_webhook`` when it is set. On the way out,
        waits for the webhook handlers and feedback calls still running, then closes the tracker
        and the client.

        Raises:
            ConfigError: The client's settings are refused, or registering the webhook failed
                (the message names the variable to check).
        """
        try:
            client = AsyncSmsClient()
        except ValidationError as exc:  # names the variable (EIGHTXEIGHT_BASE_URL, ...)
            raise ConfigError([str(exc)]) from None
        async with client, DeliveryTracker(client) as tracker:
            if self.settings.webhook_url is not None:
                await self._register(client, self.settings.webhook_url)
            self._client, self._tracker = client, tracker
            try:
                yield self
            finally:
                await self._receiver.drain()
                await asyncio.gather(*self._feedbacks)
                self._client = self._tracker = None

    async def _register(self, client: AsyncSmsClient, url: str) -> None:
        """``set_webhook`` for OTP_WEBHOOK_URL; a failure as the setting to check."""
        try:
            await client.set_webhook(
                url=url, http_authorization=self.settings.webhook_authorization
            )
        except AuthenticationError:
            problem = "8x8 refused EIGHTXEIGHT_API_KEY (401): check the key."
        except PermissionDeniedError:
            problem = (
                "8x8 refused set_webhook (403): check EIGHTXEIGHT_ACCOUNT_ID and that the key"
                " belongs to that account."
            )
        except APIConnectionError as exc:
            problem = (
                f"8x8 could not be reached ({type(exc).__name__}): check EIGHTXEIGHT_BASE_URL,"
                " EIGHTXEIGHT_CA_BUNDLE and the network (is the sandbox running?)."
            )
        except EightXEightError as exc:
            problem = f"OTP_WEBHOOK_URL could not be registered with set_webhook: {exc}"
        else:
            logger.info("webhook registered: %s", url)
            return
        raise ConfigError([problem])

    def _running(self) -> tuple[AsyncSmsClient, DeliveryTracker]:
        if self._client is None or self._tracker is None:
            msg = "The OTP service is not running (enter OtpService.running() first)."
            raise RuntimeError(msg)
        return self._client, self._tracker

    async def on_event(self, event: WebhookEvent) -> None:
        """The receiver's handler: delivery receipts go to the tracker."""
        if self._tracker is None:
            return  # shutting down: 8x8 has its 200; a wait no longer exists to resolve
        if isinstance(event, DeliveryReceipt):
            logger.info("receipt: %s %s", event.umid, event.state)
        await self._tracker.handle(event)

    async def send(self, phone: object, *, client_ip: str | None = None) -> Reply:
        """Send a new code to ``phone``.

        Args:
            phone: The number, international (``+6591234567``).
            client_ip: The end user's address, for 8x8's per-address limit on OTP traffic.

        Returns:
            201 with the ``umid`` and ``expires_in``; 422 for a number 8x8 cannot take
            (checked before any request, or REJECTED by 8x8); 503 when too many codes are
            pending; 502 when 8x8 could not be reached.
        """
        client, tracker = self._running()
        if not isinstance(phone, str):
            return Reply(422, {"error": "phone must be a string"})
        now = time.monotonic()
        self._purge(now)
        if len(self._otps) >= MAX_PENDING:
            return Reply(503, {"error": "too many codes pending; try again later"})
        code = self.settings.demo_code or f"{secrets.randbelow(1_000_000):06d}"
        try:
            sent = await client.send_sms(
                destination=phone,
                text=f"Your verification code is {code}. It expires in 5 minutes.",
                source=self.settings.source,
                track="Outcome",  # conversion tracking: feedback follows in verify()
                client_ip=client_ip,
            )
        except ValidationError as exc:  # the SDK's sentence names the field, never the number
            return Reply(422, {"error": str(exc)})
        except AuthenticationError:
            # The setting to fix, not a traceback: nothing in the code failed.
            logger.error("8x8 refused EIGHTXEIGHT_API_KEY (401): check the key")  # noqa: TRY400
            return Reply(502, {"error": "the SMS service is misconfigured"})
        except EightXEightError as exc:
            logger.warning("sending to %s failed: %s", mask(phone), type(exc).__name__)
            return Reply(502, {"error": "the SMS could not be sent; try again"})
        if sent.rejected:
            logger.info("8x8 rejected the OTP to %s: %s", mask(phone), sent.umid)
            return Reply(422, {"error": f"8x8 rejected the number: {sent.status.description}"})
        tracker.track(sent.umid)  # the late-receipt clock starts now
        self._otps[sent.umid] = _Otp(code=code, expires=now + CODE_TTL)
        logger.info("OTP sent to %s: umid %s", mask(phone), sent.umid)
        return Reply(201, {"umid": sent.umid, "expires_in": int(CODE_TTL)})

    async def delivery(self, umid: str, *, timeout: float = 10.0) -> Reply:
        """Wait up to ``timeout`` seconds (at most ``MAX_WAIT``) for the OTP's final state.

        Returns:
            200 with ``state`` (``delivered``, ``undelivered``...), ``via`` (``receipt`` or
            ``poll``) and the delivery error, if any; 202 with the last state known when the
            wait ran out; 404 for a umid this app did not send (or forgot: it expired).
        """
        _, tracker = self._running()
        if not math.isfinite(timeout):
            return Reply(422, {"error": "timeout must be a number of seconds"})
        otp = self._otps.get(umid)
        if otp is None:
            return Reply(404, {"error": "no such OTP (or it expired over 10 minutes ago)"})
        if otp.delivery is None:
            try:
                wait = min(max(timeout, 0.0), MAX_WAIT)
                otp.delivery = await tracker.wait(umid, timeout=wait)
            except DeliveryTimeoutError as exc:
                last = None if exc.last_status is None else str(exc.last_status.state)
                return Reply(202, {"umid": umid, "final": False, "state": last})
            logger.info("delivery: %s %s via %s", umid, otp.delivery.state, otp.delivery.via)
        status = otp.delivery.status
        return Reply(
            200,
            {
                "umid": umid,
                "final": True,
                "state": str(status.state),
                "via": otp.delivery.via,
                "error_code": status.error_code,
            },
        )

    async def verify(self, umid: object, code: object) -> Reply:
        """Check ``code`` against the one sent in ``umid``; give 8x8 feedback once it is settled.

        The right code is ``success``; the last wrong attempt and an expired code are
        ``failure``. Each OTP gets one feedback call, within 8x8's 15 minutes.

        Returns:
            200 with ``verified`` (and ``attempts_left`` when wrong); 404 for an unknown umid;
            410 when the code expired, was already used, or had too many wrong attempts; 422
            for a malformed request.
        """
        client, _ = self._running()
        if not isinstance(umid, str) or not isinstance(code, str):
            return Reply(422, {"error": "umid and code must be strings"})
        if not code.isascii():  # the digits sent are ASCII; this also keeps encode() safe
            return Reply(422, {"error": "code must be the digits received"})
        self._purge(time.monotonic())
        otp = self._otps.get(umid)
        if otp is None:
            return Reply(404, {"error": "no such OTP (or it expired over 10 minutes ago)"})
        if otp.outcome is not None or time.monotonic() >= otp.expires:
            if otp.outcome is None:
                await self._feedback(client, umid, otp, "failure")
            return Reply(410, {"verified": False, "error": _spent(otp)})
        # Constant time: the comparison must not tell an attacker how many digits matched.
        if hmac.compare_digest(code.encode(), otp.code.encode()):
            await self._feedback(client, umid, otp, "success")
            return Reply(200, {"verified": True})
        otp.attempts_left -= 1
        if otp.attempts_left == 0:
            await self._feedback(client, umid, otp, "failure")
        return Reply(200, {"verified": False, "attempts_left": otp.attempts_left})

    async def _feedback(self, client: AsyncSmsClient, umid: str, otp: _Otp, outcome: str) -> None:
        """Spend the code and tell 8x8 the outcome; a failed call is logged, not raised."""
        otp.outcome = outcome
        try:
            await client.send_feedback(umid, outcome=outcome)
        except EightXEightError as exc:  # the user's answer must not depend on it
            logger.warning("feedback for %s failed: %s", umid, exc)
            return
        logger.info("feedback: %s %s", umid, outcome)

    def _purge(self, now: float) -> None:
        """Forget codes sent over KEEP seconds ago, the oldest first (insertion order is age order).

        One never settled (expired unused) gets its ``failure`` feedback, in the background.
        """
        while self._otps:
            umid, otp = next(iter(self._otps.items()))
            if otp.expires - CODE_TTL + KEEP > now:
                return
            del self._otps[umid]
            if otp.outcome is None and self._client is not None:
                task = asyncio.create_task(self._feedback(self._client, umid, otp, "failure"))
                self._feedbacks.add(task)
                task.add_done_callback(self._feedbacks.discard)


def _spent(otp: _Otp) -> str:
    """Why a code can no longer be used."""
    if otp.outcome == "success":
        return "this code was already used"
    if otp.attempts_left == 0:
        return "too many wrong codes: request a new one"
    return "this code expired: request a new one"
