"""The task span sink's queue and lifecycle, with an in-memory exporter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.exporter.otlp_sink import SinkStats, TaskSpanSink
from tasktrace.exporter.task_spans import SourceTrace
from tasktrace.model import Task, TaskStatus

AT = datetime(2025, 5, 1, tzinfo=UTC)
TURN = SourceTrace(trace_id="1" * 32, root_span_id="a" * 16)


def make_task(order: int = 1) -> Task:
    return Task(
        id=f"task-{order}",
        session_id="s",
        order=order,
        description=f"task {order}",
        status=TaskStatus.RUNNING,
        created_at=AT,
        updated_at=AT,
    )


def make_config(**values: Any) -> OTLPExporterConfig:
    return OTLPExporterConfig.model_validate({"endpoint": "127.0.0.1:4317"} | values)


class RecordingExporter(SpanExporter):
    """Records batches; while ``gate`` is clear, each export blocks on it."""

    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.batches: list[list[str]] = []
        self.result = result
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.shut_down = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.gate.wait(30)
        self.batches.append([str((s.attributes or {})["tasktrace.task.id"]) for s in spans])
        return self.result

    def shutdown(self) -> None:
        self.shut_down += 1
        self.gate.set()


def make_sink(exporter: RecordingExporter, **config: Any) -> TaskSpanSink:
    return TaskSpanSink(make_config(**config), exporter_factory=lambda _: exporter)


async def test_offered_task_changes_are_exported_and_counted() -> None:
    exporter = RecordingExporter()
    async with make_sink(exporter) as sink:
        assert all(sink.offer(make_task(i), [TURN], "agent") for i in range(1, 4))

    assert [task for batch in exporter.batches for task in batch] == ["task-1", "task-2", "task-3"]
    assert sink.stats() == SinkStats(queued=0, exported=3, failed=0, dropped=0)
    assert exporter.shut_down == 1


async def test_a_full_queue_refuses_task_changes_and_counts_them_dropped() -> None:
    exporter = RecordingExporter()
    sink = make_sink(exporter, sending_queue={"queue_size": 2})

    accepted = [sink.offer(make_task(i), [TURN], "agent") for i in range(1, 5)]

    assert accepted == [True, True, False, False]
    assert sink.stats() == SinkStats(queued=2, dropped=2)
    await sink.shutdown(5)


async def test_shutdown_without_start_flushes_what_was_offered() -> None:
    exporter = RecordingExporter()
    sink = make_sink(exporter)
    sink.offer(make_task(), [TURN], "agent")

    await sink.shutdown(5)

    assert exporter.batches == [["task-1"]]
    assert sink.stats().exported == 1


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    exporter = RecordingExporter()
    sink = make_sink(exporter)

    await sink.shutdown(1)
    await sink.start()
    await sink.shutdown(1)
    await sink.shutdown(1)

    assert exporter.shut_down == 1


async def test_the_sink_can_be_started_and_stopped_twice() -> None:
    exporter = RecordingExporter()
    sink = make_sink(exporter)
    for order in (1, 2):
        await sink.start()
        sink.offer(make_task(order), [TURN], "agent")
        await sink.shutdown(5)

    assert exporter.batches == [["task-1"], ["task-2"]]
    assert exporter.shut_down == 2


async def test_a_failed_export_counts_its_spans_as_failed_and_is_not_retried() -> None:
    exporter = RecordingExporter(SpanExportResult.FAILURE)
    async with make_sink(exporter) as sink:
        sink.offer(make_task(), [TURN], "agent")

    assert exporter.batches == [["task-1"]]
    assert sink.stats() == SinkStats(failed=1)


async def test_at_the_shutdown_deadline_the_exporter_is_interrupted_and_the_rest_dropped() -> None:
    exporter = RecordingExporter()
    exporter.gate.clear()
    sink = make_sink(exporter, sending_queue={"queue_size": 10})
    await sink.start()
    sink.offer(make_task(1), [TURN], "agent")
    await asyncio.to_thread(exporter.entered.wait, 10)
    sink.offer(make_task(2), [TURN], "agent")

    await sink.shutdown(0.1)

    assert exporter.shut_down == 1
    assert sink.stats() == SinkStats(queued=0, exported=0, failed=1, dropped=1)


async def test_with_the_queue_disabled_only_one_change_waits() -> None:
    exporter = RecordingExporter()
    sink = make_sink(exporter, sending_queue={"enabled": False})

    accepted = [sink.offer(make_task(i), [TURN], "agent") for i in (1, 2)]

    assert accepted == [True, False]
    await sink.shutdown(5)
    assert exporter.batches == [["task-1"]]
