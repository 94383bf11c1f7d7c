"""Task spans survive a backend that refuses them at first or is not up yet.

The backends here are small fakes on 127.0.0.1 because they stand for failures a
real backend will not produce on demand: OTLP/gRPC ``UNAVAILABLE`` with
``RetryInfo``, OTLP/HTTP 503 with ``Retry-After``. The client side is the real
sink with the real SDK exporters, which own the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from aiohttp import web
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    TraceServiceStub,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

from tasktrace.exporter.otlp_config import OTLPExporterConfig
from tasktrace.exporter.otlp_sink import SinkStats, TaskSpanSink
from tasktrace.exporter.task_spans import SourceTrace
from tasktrace.model import Task, TaskStatus
from tests.support.ports import free_port

AT = datetime(2025, 5, 1, tzinfo=UTC)
ARRIVAL_TIMEOUT = 20.0


def make_task(order: int) -> Task:
    status = TaskStatus.FAILED if order % 3 == 0 else TaskStatus.SUCCESS
    return Task(
        id=f"task-{order}", session_id="s", order=order, description=f"task {order}",
        status=status, created_at=AT, updated_at=AT,
    )


def source(order: int) -> SourceTrace:
    return SourceTrace(trace_id=f"{order:032x}", root_span_id=f"{order + 100:016x}")


def offer_tasks(sink: TaskSpanSink, count: int) -> None:
    for order in range(1, count + 1):
        assert sink.offer(make_task(order), [source(order)], "travel-agent")


def make_config(endpoint: str, protocol: str = "grpc", **values: Any) -> OTLPExporterConfig:
    defaults = {"retry_on_failure": {"max_elapsed_time": "15s"}}
    values = defaults | {"endpoint": endpoint, "protocol": protocol} | values
    return OTLPExporterConfig.model_validate(values)


def task_ids(spans: list[OTLPSpan]) -> list[str]:
    return sorted(
        attr.value.string_value
        for span in spans
        for attr in span.attributes
        if attr.key == "tasktrace.task.id"
    )


def spans_of(request: ExportTraceServiceRequest) -> list[OTLPSpan]:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


class FlakyTraceService(TraceServiceServicer):
    """Answers the first ``failures`` calls UNAVAILABLE with a ``RetryInfo`` of
    ``retry_delay`` seconds, then accepts; records what it accepted."""

    def __init__(self, *, failures: int = 0, retry_delay: float = 0.05, expected: int = 0) -> None:
        self.failures = failures
        self.retry_info = RetryInfo()
        self.retry_info.retry_delay.FromNanoseconds(int(retry_delay * 1e9))
        self.expected = expected
        self.calls = 0
        self.spans: list[OTLPSpan] = []
        self.called = asyncio.Event()
        self.all_arrived = asyncio.Event()

    async def Export(
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        self.calls += 1
        self.called.set()
        if self.calls <= self.failures:
            metadata = (("google.rpc.retryinfo-bin", self.retry_info.SerializeToString()),)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up", metadata)
        self.spans.extend(spans_of(request))
        if len(self.spans) >= self.expected:
            self.all_arrived.set()
        return ExportTraceServiceResponse()


@contextlib.asynccontextmanager
async def serving(service: FlakyTraceService, port: int = 0) -> AsyncIterator[int]:
    """A gRPC server for ``service`` on 127.0.0.1; yields its port."""
    server = grpc.aio.server()
    add_TraceServiceServicer_to_server(service, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(None)


async def test_spans_refused_with_unavailable_and_retry_info_all_arrive_once() -> None:
    service = FlakyTraceService(failures=3, retry_delay=0.05, expected=12)
    async with serving(service) as port:
        sink = TaskSpanSink(make_config(f"127.0.0.1:{port}"), batch_size=5)
        await sink.start()
        offer_tasks(sink, 12)
        await asyncio.wait_for(service.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(service.spans) == sorted(f"task-{i}" for i in range(1, 13))
    assert service.calls == 3 + 3  # three refusals, then batches of 5, 5 and 2
    assert sink.stats() == SinkStats(queued=0, exported=12, failed=0, dropped=0)
    links = {span.links[0].trace_id.hex() for span in service.spans}
    assert links == {source(i).trace_id for i in range(1, 13)}


@pytest.fixture
def first_refused_attempt(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set when the SDK gRPC exporter's first Export call fails (here: connection
    refused), so a test can bring the backend up exactly then, without sleeping."""
    refused = threading.Event()

    class ObservedStub:
        def __init__(self, channel: grpc.Channel) -> None:
            self._stub = TraceServiceStub(channel)

        def Export(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return self._stub.Export(*args, **kwargs)
            except grpc.RpcError:
                refused.set()
                raise

    monkeypatch.setattr(trace_exporter, "TraceServiceStub", ObservedStub)
    yield refused


async def test_spans_wait_for_a_grpc_backend_that_comes_up_later(
    first_refused_attempt: threading.Event,
) -> None:
    port = free_port()
    service = FlakyTraceService(expected=3)
    sink = TaskSpanSink(make_config(f"127.0.0.1:{port}"))
    await sink.start()
    offer_tasks(sink, 3)

    assert await asyncio.to_thread(first_refused_attempt.wait, ARRIVAL_TIMEOUT)
    async with serving(service, port):
        await asyncio.wait_for(service.all_arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)

    assert task_ids(service.spans) == ["task-1", "task-2", "task-3"]
    assert sink.stats() == SinkStats(exported=3)


async def test_an_export_still_refused_at_max_elapsed_time_counts_its_spans_failed() -> None:
    service = FlakyTraceService(failures=1_000, retry_delay=0.2)
    async with serving(service) as port:
        config = make_config(f"127.0.0.1:{port}", retry_on_failure={"max_elapsed_time": "500ms"})
        sink = TaskSpanSink(config)
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
    async with serving(service) as port:
        config = make_config(f"127.0.0.1:{port}", retry_on_failure={"max_elapsed_time": "60s"})
        sink = TaskSpanSink(config)
        await sink.start()
        offer_tasks(sink, 1)
        await asyncio.wait_for(service.called.wait(), ARRIVAL_TIMEOUT)
        started = time.monotonic()
        await sink.shutdown(0.2)
        elapsed = time.monotonic() - started

    assert elapsed < 2
    assert sink.stats() == SinkStats(failed=1)


async def test_spans_refused_with_http_503_and_retry_after_all_arrive_once() -> None:
    received: list[OTLPSpan] = []
    calls = 0
    arrived = asyncio.Event()

    async def traces(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return web.Response(status=503, headers={"Retry-After": "0"})
        received.extend(spans_of(ExportTraceServiceRequest.FromString(await request.read())))
        if len(received) >= 4:
            arrived.set()
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        sink = TaskSpanSink(make_config(f"http://127.0.0.1:{port}", "http"))
        await sink.start()
        offer_tasks(sink, 4)
        await asyncio.wait_for(arrived.wait(), ARRIVAL_TIMEOUT)
        await sink.shutdown(5)
    finally:
        await runner.cleanup()

    assert task_ids(received) == ["task-1", "task-2", "task-3", "task-4"]
    assert calls == 3
    assert sink.stats() == SinkStats(exported=4)
