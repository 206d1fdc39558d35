"""OpenTelemetry spans and measurements of each call: the only module that touches OpenTelemetry.

Everything goes through ``opentelemetry-api`` (the ``otel`` extra); what records the spans and
measurements, and where they go, is the application's SDK setup. The SDK never imports
OpenTelemetry on its own: a call looks at ``sys.modules`` and records only once the application has
imported ``opentelemetry.trace`` (spans) or ``opentelemetry.metrics`` (measurements), which setting
up a provider, or ``opentelemetry-instrument``, always does. So a process without OpenTelemetry, or
with it installed but unused, pays two dictionary look-ups per call and no import; with the API but
no SDK (nothing records), a call starts one non-recording span and stops there.

Spans, per operation call (not for a call refused by a ``ValidationError``: it is raised before
anything is sent, and makes no span and no measurement):

- ``8x8 {operation}`` (INTERNAL), from the first token request to the parsed answer;
- under it, one ``{METHOD} {url.template}`` (CLIENT) per attempt, from the moment the attempt has
  its rate-limit token to its answer or failure; the limiter wait and the retry wait before it are
  attributes.

Attributes hold what is safe to export: the operation, the HTTP method and status, 8x8's error
code, the path template (never the URL), the server, ids that name the call's subaccount, account
and path objects (umid, batch, survey, export job), attempt numbers and waits, and the error's
class name. Never the API key, a body, message text, a phone number, a ``clientMessageId`` (it may
hold a number) or an error message (8x8's text can echo the request): the span status says only
the error class and HTTP status. Exceptions are not recorded as span events for the same reason.

Measurements (low-cardinality attributes only: operation, HTTP status code, error class):
``eightxeight.client.requests``, ``eightxeight.client.retries``,
``eightxeight.client.rate_limited``, ``eightxeight.client.send_outcome_unknown`` (counters) and
``eightxeight.client.operation.duration`` (a histogram, seconds).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from ._errors import APIStatusError, SendOutcomeUnknownError, ValidationError
from ._version import __version__

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._operations import Operation
else:
    # Never imported at run time (see the module's docstring); the names resolve for
    # typing.get_type_hints() on a signature that uses them.
    MeterProvider = TracerProvider = Any

__all__ = [
    "ATTEMPT",
    "ATTEMPTS",
    "ERROR_CODE",
    "GLOBAL",
    "LIMITER_WAIT",
    "OPERATION",
    "RATE_LIMIT_PAUSE",
    "RETRY_WAIT",
    "CallRecord",
    "MeterProvider",
    "Telemetry",
    "TracerProvider",
    "telemetry_for",
]

#: The instrumentation scope of every tracer and meter: the package, at its version.
SCOPE = "eightxeight_async"

_TRACE_MODULE = "opentelemetry.trace"
_METRICS_MODULE = "opentelemetry.metrics"

# Attribute names of our own, under the package's namespace (OpenTelemetry's naming rules).
OPERATION = "eightxeight.operation"
"""The operation, e.g. ``send_sms``: spans and every measurement."""
ERROR_CODE = "eightxeight.error.code"
"""8x8's error code from an error answer's body, e.g. ``1002``."""
ATTEMPT = "eightxeight.attempt"
"""The attempt's number, from 1."""
ATTEMPTS = "eightxeight.attempts"
"""How many attempts a call made (operation span)."""
RETRY_WAIT = "eightxeight.retry.wait"
"""Seconds the retry loop waited before this attempt (backoff or ``Retry-After``)."""
LIMITER_WAIT = "eightxeight.rate_limiter.wait"
"""Seconds this attempt waited for its rate-limit token."""
RATE_LIMIT_PAUSE = "eightxeight.rate_limit.pause"
"""Seconds a 429 paused the attempt's bucket for every call on it."""

# OpenTelemetry's semantic conventions for HTTP clients (stable since 1.23; url.template is not
# yet: it stands in for url.full, which would carry ids and the query).
_METHOD = "http.request.method"
_STATUS = "http.response.status_code"
_RESEND = "http.request.resend_count"
_TEMPLATE = "url.template"
_ADDRESS = "server.address"
_PORT = "server.port"
_ERROR_TYPE = "error.type"

#: The ids an operation's path may carry, as span attributes (all 8x8's ids, never a number).
_PATH_IDS = {
    "umid": "eightxeight.umid",
    "batch_id": "eightxeight.batch_id",
    "survey_id": "eightxeight.survey_id",
    "job_id": "eightxeight.job_id",
}
_OWNERS = {"subaccount_id": "eightxeight.subaccount_id", "account_id": "eightxeight.account_id"}

# Seconds: the HTTP semantic conventions' advice (the SDK's default buckets are milliseconds).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


class _Instruments:
    """The meter's instruments, made once per :class:`Telemetry`."""

    __slots__ = ("duration", "rate_limited", "requests", "retries", "unknown")

    def __init__(self, provider: MeterProvider | None) -> None:
        # Imported here, never at the top: only once the application has imported it.
        from opentelemetry import metrics

        meter = metrics.get_meter(SCOPE, __version__, meter_provider=provider)
        self.requests: Counter = meter.create_counter(
            "eightxeight.client.requests",
            unit="{request}",
            description="HTTP requests made to 8x8 (every attempt, retries included).",
        )
        self.retries: Counter = meter.create_counter(
            "eightxeight.client.retries",
            unit="{retry}",
            description="Failed attempts that the SDK tried again, by the error that ended them.",
        )
        self.rate_limited: Counter = meter.create_counter(
            "eightxeight.client.rate_limited",
            unit="{response}",
            description="HTTP 429 answers from 8x8.",
        )
        self.unknown: Counter = meter.create_counter(
            "eightxeight.client.send_outcome_unknown",
            unit="{call}",
            description="Sends that ended in SendOutcomeUnknownError (maybe accepted, maybe not).",
        )
        name = "eightxeight.client.operation.duration"
        description = "Duration of an operation call, retries and waits included."
        try:
            self.duration: Histogram = meter.create_histogram(
                name,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
            )
        except TypeError:  # opentelemetry-api before 1.23 takes no advice
            self.duration = meter.create_histogram(name, unit="s", description=description)


def _loaded(module: str) -> bool:
    # None in sys.modules means an import was blocked on purpose: treated as absent.
    return sys.modules.get(module) is not None


class Telemetry:
    """Where one client's spans and measurements go: the global providers, or the ones given.

    Shared by a client and the clients derived from it. Tracer and meter are made on the first
    call that finds OpenTelemetry imported, then kept.

    Args:
        tracer_provider: The provider of spans; None for the global one.
        meter_provider: The provider of measurements; None for the global one.
    """

    __slots__ = ("_instruments", "_meter_provider", "_tracer", "_tracer_provider")

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer: Tracer | None = None
        self._instruments: _Instruments | None = None

    def start(
        self,
        op: Operation[Any],
        base_url: str,
        owner: str,
        path: Mapping[str, object] | None,
    ) -> CallRecord | None:
        """Begin recording one call; None when nothing could record it (the usual case).

        Args:
            op: The operation.
            base_url: The calling client's base URL (for ``server.address`` and ``server.port``).
            owner: The call's subaccount or account id.
            path: The path parameters' values (checked already).
        """
        tracer = self._tracer
        if tracer is None and (self._tracer_provider is not None or _loaded(_TRACE_MODULE)):
            tracer = self._tracer = self._make_tracer()
        instruments = self._instruments
        if instruments is None and (self._meter_provider is not None or _loaded(_METRICS_MODULE)):
            instruments = self._instruments = _Instruments(self._meter_provider)
        if tracer is None and instruments is None:
            return None
        return CallRecord(tracer, instruments, op, base_url, owner, path)

    def _make_tracer(self) -> Tracer:
        from opentelemetry import trace

        # A tracer of the global provider follows it even when the app sets it after this.
        return trace.get_tracer(SCOPE, __version__, tracer_provider=self._tracer_provider)


#: The instance every client uses unless it is given providers of its own.
GLOBAL = Telemetry()


def telemetry_for(tracer_provider: object, meter_provider: object) -> Telemetry:
    """The telemetry of a client given ``tracer_provider=`` / ``meter_provider=`` (or neither).

    The providers are checked by what they do, so that the client's signature needs no import of
    OpenTelemetry.

    Raises:
        ValidationError: When a provider given has no ``get_tracer`` / ``get_meter``.
    """
    if tracer_provider is None and meter_provider is None:
        return GLOBAL
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise ValidationError(
            "tracer_provider", "an OpenTelemetry TracerProvider (or None for the global one)"
        )
    if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
        raise ValidationError(
            "meter_provider", "an OpenTelemetry MeterProvider (or None for the global one)"
        )
    return Telemetry(
        tracer_provider=cast("TracerProvider | None", tracer_provider),
        meter_provider=cast("MeterProvider | None", meter_provider),
    )


@functools.lru_cache(maxsize=16)  # a client has one base URL: with_options cannot change it
def _server(base_url: str) -> tuple[str, int]:
    # base_url was checked by the client: an http(s) URL with a host.
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _error_type(error: BaseException) -> str:
    return type(error).__name__


def _description(error: BaseException) -> str:
    # Facts only: an error's message may quote 8x8's text, which can echo the request.
    if isinstance(error, APIStatusError):
        code = f", code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__}: HTTP {error.status_code}{code}"
    return type(error).__name__


class CallRecord:
    """The spans and measurements of one call in progress.

    ``_calls`` drives it: :meth:`begin_attempt` / :meth:`end_attempt` around each attempt,
    :meth:`retry` when the retry loop is about to wait, :meth:`finish` once, whatever happens.
    """

    __slots__ = (
        "_attempt_span",
        "_attempt_token",
        "_attempts",
        "_base_url",
        "_instruments",
        "_named_umid",
        "_op",
        "_retry_wait",
        "_span",
        "_started",
        "_status",
        "_token",
        "_tracer",
    )

    def __init__(
        self,
        tracer: Tracer | None,
        instruments: _Instruments | None,
        op: Operation[Any],
        base_url: str,
        owner: str,
        path: Mapping[str, object] | None,
    ) -> None:
        self._op = op
        self._instruments = instruments
        self._tracer: Tracer | None = None
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._attempt_span: Span | None = None
        self._attempt_token: Token[Context] | None = None
        self._attempts = 0
        self._retry_wait: float | None = None
        self._status: int | None = None
        self._named_umid = False
        self._started = time.perf_counter() if instruments is not None else 0.0
        self._base_url = base_url
        if tracer is None:
            return
        from opentelemetry import context, trace

        # The HTTP facts (method, server) are the attempts'; this span names the call.
        attributes = {OPERATION: op.name, _OWNERS[op.scope.value]: owner}
        if path:
            for name, value in path.items():
                key = _PATH_IDS.get(name)
                if key is not None and isinstance(value, str):
                    attributes[key] = value
                    self._named_umid |= name == "umid"
        span = tracer.start_span(
            f"8x8 {op.name}", kind=trace.SpanKind.INTERNAL, attributes=attributes
        )
        if not span.is_recording():
            return  # no SDK, or sampled out: the attempts would not record either
        self._tracer = tracer
        self._span = span
        # Current while the call runs, so that spans made under it (a Redis limiter's, httpx
        # instrumentation's) nest under it.
        self._token = context.attach(trace.set_span_in_context(span))

    def begin_attempt(self, number: int, limiter_wait: float) -> None:
        """An attempt got its rate-limit token after ``limiter_wait`` seconds and is going out."""
        self._attempts = number
        tracer = self._tracer
        if tracer is None or self._span is None:
            return
        from opentelemetry import context, trace

        self._end_attempt_span(None)  # never two at once, even if an end was missed
        address, port = _server(self._base_url)
        attributes: dict[str, str | int | float] = {
            OPERATION: self._op.name,
            _METHOD: self._op.method,
            _TEMPLATE: self._op.path,
            _ADDRESS: address,
            _PORT: port,
            ATTEMPT: number,
            LIMITER_WAIT: limiter_wait,
        }
        if number > 1:
            attributes[_RESEND] = number - 1
        if self._retry_wait is not None:
            attributes[RETRY_WAIT] = self._retry_wait
            self._retry_wait = None
        span = tracer.start_span(
            f"{self._op.method} {self._op.path}",
            context=trace.set_span_in_context(self._span),
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
        )
        self._attempt_span = span
        self._attempt_token = context.attach(trace.set_span_in_context(span))

    def end_attempt(
        self, status: int | None, error: BaseException | None, *, pause: float = 0.0
    ) -> None:
        """The attempt ended: answered ``status`` (None if unanswered), or failed with ``error``.

        Args:
            status: The HTTP status of the answer, or None when there was none.
            error: What the attempt raised (an error answer's error included), or None.
            pause: Seconds a 429 paused the bucket for.
        """
        instruments = self._instruments
        if instruments is not None:
            measured: dict[str, str | int] = {OPERATION: self._op.name}
            if status is not None:
                measured[_STATUS] = status
            if error is not None:
                measured[_ERROR_TYPE] = _error_type(error)
            instruments.requests.add(1, measured)
            if status == 429:
                instruments.rate_limited.add(1, {OPERATION: self._op.name})
        self._status = status  # the call's status is its last attempt's, if it had one
        span = self._attempt_span
        if span is None:
            return
        if status is not None:
            span.set_attribute(_STATUS, status)
        if pause:
            span.set_attribute(RATE_LIMIT_PAUSE, pause)
        self._end_attempt_span(error)

    def _end_attempt_span(self, error: BaseException | None) -> None:
        span = self._attempt_span
        if span is None:
            return
        from opentelemetry import context

        self._attempt_span = None
        if error is not None:
            _mark_failed(span, error)
        token, self._attempt_token = self._attempt_token, None
        if token is not None:
            context.detach(token)
        span.end()

    def retry(self, error: BaseException, wait: float) -> None:
        """The retry loop will wait ``wait`` seconds after ``error``, then try again."""
        self._retry_wait = wait
        if self._instruments is not None:
            self._instruments.retries.add(
                1, {OPERATION: self._op.name, _ERROR_TYPE: _error_type(error)}
            )

    def finish(self, error: BaseException | None, result: object = None) -> None:
        """The call ended with ``result``, or with ``error``; ends every span it still holds.

        Args:
            error: What the call raised, or None.
            result: What it returned (a send's ``umid`` is noted on the span).
        """
        instruments = self._instruments
        if instruments is not None:
            measured = {OPERATION: self._op.name}
            if error is not None:
                measured[_ERROR_TYPE] = _error_type(error)
                if isinstance(error, SendOutcomeUnknownError):
                    instruments.unknown.add(1, {OPERATION: self._op.name})
            instruments.duration.record(time.perf_counter() - self._started, measured)
        span = self._span
        if span is None:
            return
        from opentelemetry import context

        self._end_attempt_span(error)
        span.set_attribute(ATTEMPTS, self._attempts)
        if self._status is not None:
            span.set_attribute(_STATUS, self._status)
        if error is not None:
            _mark_failed(span, error)
        elif not self._named_umid:  # a send: the umid 8x8 gave the new message
            umid = getattr(result, "umid", None)
            if isinstance(umid, str):
                span.set_attribute(_PATH_IDS["umid"], umid)
        self._span = None
        token, self._token = self._token, None
        if token is not None:
            context.detach(token)
        span.end()


def _mark_failed(span: Span, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute(_ERROR_TYPE, _error_type(error))
    if isinstance(error, APIStatusError):
        span.set_attribute(_STATUS, error.status_code)
        if error.code is not None:
            span.set_attribute(ERROR_CODE, error.code)
    span.set_status(Status(StatusCode.ERROR, _description(error)))
