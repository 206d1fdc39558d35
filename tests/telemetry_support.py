"""OpenTelemetry SDK helpers for the telemetry tests: in-memory spans and metrics, secret scans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eightxeight_async import AsyncSmsClient
from eightxeight_async._telemetry import Telemetry


@attrs.define
class Otel:
    """An SDK setup of our own (never the global one): spans and metrics kept in memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    @classmethod
    def create(cls) -> Otel:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        return cls(tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader)

    def telemetry(self) -> Telemetry:
        return Telemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def instrument(self, client: AsyncSmsClient) -> AsyncSmsClient:
        """Point the client's calls at this setup (what a ``tracer_provider=`` option would do)."""
        client._core.telemetry = self.telemetry()
        return client

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def operations(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith("8x8 ")]

    def attempts_of(self, operation: ReadableSpan) -> list[ReadableSpan]:
        assert operation.context is not None
        found = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == operation.context.span_id
        ]
        return sorted(found, key=lambda s: int(attrs_of(s)["eightxeight.attempt"]))

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Every data point, by metric name: (attributes, value), value a HistogramDataPoint's
        ``count`` for a histogram."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # type: ignore[union-attr]
                        found.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), value)
                        )
        return found

    def total(self, name: str, **match: Any) -> Any:
        """The sum of a metric's points whose attributes include ``match`` (dots as ``__``)."""
        wanted = {k.replace("__", "."): v for k, v in match.items()}
        return sum(
            value
            for attributes, value in self.metrics().get(name, [])
            if all(attributes.get(k) == v for k, v in wanted.items())
        )


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes, as a plain dict."""
    return dict(span.attributes or {})


def span_texts(span: ReadableSpan) -> Iterator[str]:
    """Every string a span exports: name, attributes, events, links, status description."""
    yield span.name
    for key, value in (span.attributes or {}).items():
        yield key
        yield from _values(value)
    for event in span.events:
        yield event.name
        for key, value in (event.attributes or {}).items():
            yield key
            yield from _values(value)
    for link in span.links:
        for key, value in (link.attributes or {}).items():
            yield key
            yield from _values(value)
    if span.status.description:
        yield span.status.description


def _values(value: object) -> Iterator[str]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield str(item)
    else:
        yield str(value)


def secrets_found(otel: Otel, secrets: Sequence[str]) -> list[str]:
    """Where any secret (or a phone number's digits) shows in a span or a metric point."""
    needles = set(secrets)
    needles |= {s.lstrip("+") for s in secrets if s.startswith("+")}
    found: list[str] = []
    for span in otel.spans():
        found += [f"span {span.name}: {t!r}" for t in span_texts(span) if _holds(t, needles)]
    for name, points in otel.metrics().items():
        for attributes, _ in points:
            texts: Iterable[str] = [*attributes, *map(str, attributes.values())]
            found += [f"metric {name}: {t!r}" for t in texts if _holds(t, needles)]
    return found


def _holds(text: str, needles: set[str]) -> bool:
    return any(needle in text for needle in needles)
