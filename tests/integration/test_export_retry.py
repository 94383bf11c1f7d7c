"""Task spans survive a backend that refuses them at first or is not up yet.

The backends are the small fakes of ``tests.support.fake_otlp`` (they stand for
failures a real backend will not produce on demand); the client side is the real
sink with the real SDK exporters, which own the retries.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.http.transport._requests import RequestsHTTPTransport
from opentelemetry.exporter.otlp.proto.grpc import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.exporter.otlp_sink import SinkStats, TaskSpanSink
from tasktrace.exporter.task_spans import SourceTrace
from tasktrace.model import Task, TaskStatus
from tests.support.fake_otlp import FlakyHTTPTraces, FlakyTraceService, serving_grpc, serving_http
from tests.support.ports import free_port

AT = datetime(2025, 5, 1, tzinfo=UTC)
ARRIVAL_TIMEOUT = 20.0


def make_task(order: int) -> Task:
    status = TaskStatus.FAILED if order % 3 == 0 else TaskStatus.SUCCESS
    return Task(
        id=f"task-{order}",
        session_id="s",
        order=order,
        description=f"task {order}",
        status=status,
        created_at=AT,
        updated_at=AT,
    )


def source(order: int) -> SourceTrace:
    return SourceTrace(trace_id=f"{order:032x}", root_span_id=f"{order + 100:016x}")


def make_sink(endpoint: str, protocol: str = "grpc", **values: Any) -> TaskSpanSink:
    defaults = {"retry_on_failure": {"max_elapsed_time": "15s"}}
    values = defaults | {"endpoint": endpoint, "protocol": protocol} | values
    return TaskSpanSink(OTLPExporterConfig.model_validate(values), batch_size=5)


def offer_tasks(sink: TaskSpanSink, count: int) -> None:
    for order in range(1, count + 1):
        assert sink.offer(make_task(order), [source(order)], "travel-agent")


def task_ids(spans: list[OTLPSpan]) -> list[str]:
    return sorted(
        attr.value.string_value
        for span in spans
        for attr in span.attributes
        if attr.key == "tasktrace.task.id"
    )


def expected_ids(count: int) -> list[str]:
    return sorted(f"task-{order}" for order in range(1, count + 1))


async def test_spans_refused_with_unavailable_and_retry_info_all_arrive_once() -> None:
    service = FlakyTraceService(failures=3, retry_delay=0.05, expected=12)
    async with serving_grpc(service) as port:
        sink = make_sink(f"127.0.0.1:{port}")
        await sink.start()
        offer_tasks(sink, 12)
        await asyncio.wait_for(service.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(service.spans) == expected_ids(12)
    assert service.calls == 3 + 3  # three refusals, then batches of 5, 5 and 2
    assert sink.stats() == SinkStats(queued=0, exported=12, failed=0, dropped=0)
    links = {span.links[0].trace_id.hex() for span in service.spans}
    assert links == {source(order).trace_id for order in range(1, 13)}


async def test_spans_refused_with_http_503_and_retry_after_all_arrive_once() -> None:
    traces = FlakyHTTPTraces(failures=2, retry_after=0, expected=4)
    async with serving_http(traces) as port:
        sink = make_sink(f"http://127.0.0.1:{port}", "http")
        await sink.start()
        offer_tasks(sink, 4)
        await asyncio.wait_for(traces.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(traces.spans) == expected_ids(4)
    assert traces.calls == 3
    assert sink.stats() == SinkStats(exported=4)


@pytest.fixture
def first_grpc_failure(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set when an Export call of the SDK gRPC exporter fails (here: connection
    refused), so a test brings the backend up exactly then, without sleeping."""
    failed = threading.Event()

    class ObservedStub:
        def __init__(self, channel: grpc.Channel) -> None:
            self._stub = TraceServiceStub(channel)

        def Export(self, *args: Any, **kwargs: Any) -> Any:  # the gRPC method name
            try:
                return self._stub.Export(*args, **kwargs)
            except grpc.RpcError:
                failed.set()
                raise

    monkeypatch.setattr(trace_exporter, "TraceServiceStub", ObservedStub)
    yield failed


@pytest.fixture
def first_http_failure(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set when a request of the SDK HTTP exporter's transport fails to connect."""
    failed = threading.Event()
    request = RequestsHTTPTransport.request

    def observed(self: RequestsHTTPTransport, *args: Any, **kwargs: Any) -> Any:
        result = request(self, *args, **kwargs)
        if result.error is not None:
            failed.set()
        return result

    monkeypatch.setattr(RequestsHTTPTransport, "request", observed)
    yield failed


async def test_spans_wait_for_a_grpc_backend_that_comes_up_later(
    first_grpc_failure: threading.Event,
) -> None:
    port = free_port()
    service = FlakyTraceService(expected=3)
    sink = make_sink(f"127.0.0.1:{port}")
    await sink.start()
    offer_tasks(sink, 3)

    assert await asyncio.to_thread(first_grpc_failure.wait, ARRIVAL_TIMEOUT)
    async with serving_grpc(service, port):
        await asyncio.wait_for(service.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(service.spans) == expected_ids(3)
    assert sink.stats() == SinkStats(exported=3)


async def test_spans_wait_for_an_http_backend_that_comes_up_later(
    first_http_failure: threading.Event,
) -> None:
    port = free_port()
    traces = FlakyHTTPTraces(expected=3)
    sink = make_sink(f"http://127.0.0.1:{port}", "http")
    await sink.start()
    offer_tasks(sink, 3)

    assert await asyncio.to_thread(first_http_failure.wait, ARRIVAL_TIMEOUT)
    async with serving_http(traces, port):
        await asyncio.wait_for(traces.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(traces.spans) == expected_ids(3)
    assert sink.stats() == SinkStats(exported=3)


async def test_an_export_still_refused_at_max_elapsed_time_counts_its_spans_failed() -> None:
    service = FlakyTraceService(failures=1_000, retry_delay=0.2)
    async with serving_grpc(service) as port:
        sink = make_sink(f"127.0.0.1:{port}", retry_on_failure={"max_elapsed_time": "500ms"})
        await sink.start()
        offer_tasks(sink, 2)
        started = time.monotonic()
        await sink.shutdown(10)
        elapsed = time.monotonic() - started

    assert sink.stats() == SinkStats(failed=2)
    assert service.spans == []
    assert 2 <= service.calls <= 4
    assert elapsed < 3


async def test_shutdown_interrupts_a_retry_wait() -> None:
    service = FlakyTraceService(failures=1_000, retry_delay=20)
    async with serving_grpc(service) as port:
        sink = make_sink(f"127.0.0.1:{port}", retry_on_failure={"max_elapsed_time": "60s"})
        await sink.start()
        offer_tasks(sink, 1)
        await asyncio.wait_for(service.called.wait(), ARRIVAL_TIMEOUT)
        started = time.monotonic()
        await sink.shutdown(0.2)
        elapsed = time.monotonic() - started

    assert elapsed < 2
    assert sink.stats() == SinkStats(failed=1)
