"""The service's own metrics as Prometheus families, from one snapshot of the
counts the stages keep (the same counts ``GET /api/v1/telemetry`` shows).

Pure: :func:`families` turns a :class:`MetricsSnapshot` into metric families;
:func:`render` writes them in the Prometheus text format. Gathering the
snapshot (store queries included) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tasktrace.exporter.otlp_forward import ForwardStats
from tasktrace.exporter.otlp_sink import SinkStats
from tasktrace.exporter.store_health import TaskCounts
from tasktrace.extractor.scheduler import ExtractionStats
from tasktrace.model import StatusReason
from tasktrace.receiver.service import Counters
from tasktrace.receiver.traffic import Traffic

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REASONS = frozenset(r.value for r in StatusReason)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    receiver: Counters = field(default_factory=Counters)
    traffic: Traffic = field(default_factory=Traffic)
    extraction: ExtractionStats = field(default_factory=ExtractionStats)
    #: by exporter endpoint / name
    task_spans: Mapping[str, SinkStats] = field(default_factory=dict)
    pass_through: Mapping[str, ForwardStats] = field(default_factory=dict)
    #: None when the store did not answer (the families are then left out)
    tasks: TaskCounts | None = None


def families(snap: MetricsSnapshot) -> list[Metric]:
    return [*_receiver(snap), *_extraction(snap), *_tasks(snap), *_exports(snap)]


def render(snap: MetricsSnapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families(snap)))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def _receiver(snap: MetricsSnapshot) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "tasktrace_receiver_requests",
        "OTLP export requests answered, by protocol, signal and result"
        " (accepted, invalid, overloaded, unavailable).",
        labels=["protocol", "signal", "result"],
    )
    for (protocol, signal, result), count in sorted(snap.traffic.requests.items()):
        requests.add_metric([protocol, signal, result], count)
    yield requests
    items = CounterMetricFamily(
        "tasktrace_receiver_items",
        "Spans and log records received, by protocol, signal, dialect and result"
        " (accepted, refused with their request, dropped for invalid ids).",
        labels=["protocol", "signal", "dialect", "result"],
    )
    for key, count in sorted(snap.traffic.items.items()):
        items.add_metric(list(key), count)
    yield items
    written = CounterMetricFamily(
        "tasktrace_receiver_messages", "Transcript messages written to the store."
    )
    written.add_metric([], snap.receiver.messages)
    yield written
    kept = CounterMetricFamily(
        "tasktrace_receiver_kept_in_part",
        "Values or items kept in part or skipped, by kind.",
        labels=["kind"],
    )
    for kind in ("unclaimed", "unreadable", "invalid_utf8", "cut_values", "unparsed_json"):
        kept.add_metric([kind], getattr(snap.receiver, kind))
    yield kept


def _extraction(snap: MetricsSnapshot) -> Iterator[Metric]:
    ext = snap.extraction
    yield _counter("tasktrace_extraction_runs", "Extractor runs over a session batch.", ext.runs)
    yield _counter(
        "tasktrace_extraction_errors", "Extractor runs that failed (retried).", ext.errors
    )
    yield _gauge(
        "tasktrace_extraction_lag_seconds",
        "How long the oldest due session has waited for extraction.",
        ext.lag_seconds,
    )
    yield _gauge(
        "tasktrace_sessions_buffered",
        "Sessions with messages waiting for extraction.",
        ext.buffered_sessions,
    )


def _tasks(snap: MetricsSnapshot) -> Iterator[Metric]:
    if snap.tasks is None:
        return
    yield _gauge(
        "tasktrace_sessions_open",
        "Sessions with a pending or running task.",
        snap.tasks.open_sessions,
    )
    tasks = GaugeMetricFamily(
        "tasktrace_tasks",
        "Tasks in the store by status and reason (a StatusReason value, else 'other').",
        labels=["status", "reason"],
    )
    counts: dict[tuple[str, str], int] = {}
    for (status, reason), count in snap.tasks.by_status.items():
        key = (status, reason_label(reason))
        counts[key] = counts.get(key, 0) + count
    for (status, reason), count in sorted(counts.items()):
        tasks.add_metric([status, reason], count)
    yield tasks


def reason_label(reason: str) -> str:
    """``reason`` as a label value: one of :class:`~tasktrace.model.StatusReason`,
    ``""`` for none, ``other`` for free text (labels must stay few)."""
    return reason if not reason or reason in _REASONS else "other"


def _exports(snap: MetricsSnapshot) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "tasktrace_export_queue_depth",
        "Items queued for an OTLP exporter (task spans: spans; pass-through: requests).",
        labels=["exporter", "kind"],
    )
    done = CounterMetricFamily(
        "tasktrace_export_items",
        "Items an OTLP exporter sent (exported), gave up on (failed) or never sent (dropped).",
        labels=["exporter", "kind", "result"],
    )
    queues = [
        (name, "task_spans", s.queued, s.exported, s.failed, s.dropped)
        for name, s in sorted(snap.task_spans.items())
    ] + [
        (name, "pass_through", f.queued, f.forwarded, f.failed, f.dropped)
        for name, f in sorted(snap.pass_through.items())
    ]
    for name, kind, queued, exported, failed, dropped in queues:
        depth.add_metric([name, kind], queued)
        for result, count in (("exported", exported), ("failed", failed), ("dropped", dropped)):
            done.add_metric([name, kind, result], count)
    yield depth
    yield done


def _counter(name: str, doc: str, value: float) -> Metric:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _gauge(name: str, doc: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family
