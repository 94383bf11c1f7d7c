"""The Prometheus families built from a snapshot of the stages' counts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tasktrace.exporter.otlp_forward import ForwardStats
from tasktrace.exporter.otlp_sink import SinkStats
from tasktrace.exporter.store_health import TaskCounts
from tasktrace.extractor.scheduler import ExtractionStats
from tasktrace.receiver.traffic import Traffic
from tasktrace.server.metrics import MetricsSnapshot, render


def parsed(snap: MetricsSnapshot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = render(snap).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_refused_request_counts_its_items_refused_and_dropped_spans_apart() -> None:
    traffic = Traffic()
    traffic.record("grpc", "traces", "accepted", {"genai": 3, "none": 1}, dropped=2)
    traffic.record("http", "traces", "overloaded", {"openinference": 4})
    got = parsed(MetricsSnapshot(traffic=traffic))
    items = "tasktrace_receiver_items_total"

    def item(protocol: str, dialect: str, result: str) -> float:
        labels = {"protocol": protocol, "signal": "traces", "dialect": dialect, "result": result}
        return got[(items, frozenset(labels.items()))]

    assert item("grpc", "genai", "accepted") == 3
    assert item("grpc", "none", "accepted") == 1
    assert item("grpc", "unknown", "dropped") == 2
    assert item("http", "openinference", "refused") == 4
    overloaded = {"protocol": "http", "signal": "traces", "result": "overloaded"}
    assert got[("tasktrace_receiver_requests_total", frozenset(overloaded.items()))] == 1


def test_tasks_extraction_and_export_queues_become_labelled_families() -> None:
    snap = MetricsSnapshot(
        extraction=ExtractionStats(runs=5, errors=1, buffered_sessions=2, lag_seconds=1.5),
        task_spans={"http://jaeger:4317": SinkStats(queued=7, exported=10, failed=2)},
        pass_through={"otlp/backend": ForwardStats(queued=1, forwarded=9, dropped=4)},
        tasks=TaskCounts(
            {
                ("failed", "tool_error"): 3,
                ("success", "completed"): 4,
                ("success", "assistant: done, see you"): 2,
                ("success", "assistant: booked it"): 1,
            },
            1,
        ),
    )
    got = parsed(snap)
    failed = frozenset({("status", "failed"), ("reason", "tool_error")})
    assert got[("tasktrace_tasks", failed)] == 3
    other = frozenset({("status", "success"), ("reason", "other")})
    assert got[("tasktrace_tasks", other)] == 3, "free-text reasons share one label value"
    assert got[("tasktrace_sessions_open", frozenset())] == 1
    assert got[("tasktrace_extraction_runs_total", frozenset())] == 5
    assert got[("tasktrace_extraction_errors_total", frozenset())] == 1
    assert got[("tasktrace_extraction_lag_seconds", frozenset())] == 1.5
    sink = {("exporter", "http://jaeger:4317"), ("kind", "task_spans")}
    assert got[("tasktrace_export_queue_depth", frozenset(sink))] == 7
    assert got[("tasktrace_export_items_total", frozenset({*sink, ("result", "failed")}))] == 2
    forward = {("exporter", "otlp/backend"), ("kind", "pass_through")}
    assert got[("tasktrace_export_queue_depth", frozenset(forward))] == 1
    assert got[("tasktrace_export_items_total", frozenset({*forward, ("result", "exported")}))] == 9
    assert got[("tasktrace_export_items_total", frozenset({*forward, ("result", "dropped")}))] == 4


def test_without_store_counts_the_task_families_are_left_out() -> None:
    names = {name for name, _ in parsed(MetricsSnapshot())}
    assert "tasktrace_tasks" not in names
    assert "tasktrace_receiver_requests_total" not in names  # no request yet: no sample
    assert "tasktrace_extraction_runs_total" in names
