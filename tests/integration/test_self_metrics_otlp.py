"""``service.telemetry.metrics``: a running tasktrace pushes the ``/metrics``
families over OTLP/HTTP, and what arrives counts what it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tasktrace.config.telemetry import MetricReaderConfig
from tasktrace.extractor.scheduler import ExtractionStats
from tasktrace.server.metrics import MetricsSnapshot
from tasktrace.server.self_metrics import OTLPMetricsReporter
from tests.support.otlp_traffic import export_grpc, fixture
from tests.support.service import running_service

Points = dict[tuple[str, frozenset[tuple[str, str]]], float]


class MetricsRecorder:
    """Records the data points of the OTLP/HTTP metric exports it receives; ``wanted``
    is set once a point satisfies ``until``."""

    def __init__(self) -> None:
        self.points: Points = {}
        self.wanted = asyncio.Event()
        self.resources: list[dict[str, str]] = []

    def until(self, points: Points) -> bool:
        key = (
            "tasktrace_receiver_requests",
            frozenset({("protocol", "grpc"), ("signal", "traces"), ("result", "accepted")}),
        )
        return points.get(key, 0) >= 1

    async def handle(self, request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest.FromString(await request.read())
        for rm in message.resource_metrics:
            self.resources.append({a.key: a.value.string_value for a in rm.resource.attributes})
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    data = metric.sum if metric.HasField("sum") else metric.gauge
                    for point in data.data_points:
                        labels = frozenset((a.key, a.value.string_value) for a in point.attributes)
                        value = point.as_int if point.HasField("as_int") else point.as_double
                        self.points[(metric.name, labels)] = value
        if self.until(self.points):
            self.wanted.set()
        body = ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")


@asynccontextmanager
async def recorder_server() -> AsyncIterator[tuple[MetricsRecorder, str]]:
    recorder = MetricsRecorder()
    app = web.Application()
    app.router.add_post("/v1/metrics", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield recorder, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_serve_pushes_its_own_metrics_over_otlp_like_the_collector(pg_dsn: str) -> None:
    async with recorder_server() as (recorder, url):
        exporter = f"{{otlp: {{protocol: http/protobuf, endpoint: '{url}'}}}}"
        readers = f"[{{periodic: {{interval: 0.2s, exporter: {exporter}}}}}]"
        overrides = [f"service.telemetry.metrics.readers={readers}"]
        async with running_service(pg_dsn, overrides=overrides) as service:
            answer = await export_grpc(service.endpoints.grpc, fixture("three-tools"))
            assert answer.code.name == "OK"
            await asyncio.wait_for(recorder.wanted.wait(), timeout=20)
    assert recorder.resources[0]["service.name"] == "tasktrace"
    names = {name for name, _ in recorder.points}
    assert {"tasktrace_receiver_items", "tasktrace_extraction_runs",
            "tasktrace_extraction_lag_seconds"} <= names  # fmt: skip
    spans = sum(
        v for (n, labels), v in recorder.points.items()
        if n == "tasktrace_receiver_items" and ("result", "accepted") in labels
    )  # fmt: skip
    assert spans == 7  # the three-tools fixture holds 7 spans (as /metrics counts them)


async def test_the_reporter_exports_a_last_time_at_shutdown_and_restarts_cleanly() -> None:
    runs = 0

    async def snapshot() -> MetricsSnapshot:
        return MetricsSnapshot(extraction=ExtractionStats(runs=runs))

    async with recorder_server() as (recorder, url):
        config = MetricReaderConfig.model_validate(
            {"periodic": {"interval": "1h", "exporter": {"otlp": {
                "protocol": "http/protobuf", "endpoint": url}}}}
        )  # fmt: skip
        reporter = OTLPMetricsReporter([config], snapshot)
        await reporter.shutdown()  # safe without start
        for expected in (3, 5):
            runs = expected
            await reporter.start()
            await reporter.start()  # idempotent
            runs = expected + 1  # the last export reads a fresh snapshot
            await reporter.shutdown()
            await reporter.shutdown()
            assert recorder.points[("tasktrace_extraction_runs", frozenset())] == expected + 1


async def test_without_readers_the_reporter_does_nothing() -> None:
    calls = 0

    async def snapshot() -> MetricsSnapshot:
        nonlocal calls
        calls += 1
        return MetricsSnapshot()

    reporter = OTLPMetricsReporter([], snapshot)
    await reporter.start()
    await reporter.shutdown()
    assert calls == 0
