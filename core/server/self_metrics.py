"""The service's own metrics over OTLP (``service.telemetry.metrics.readers``),
as the collector sends its own: the same families and labels as ``/metrics``
(:func:`tasktrace.server.metrics.families`), observed by the OpenTelemetry SDK and
pushed by one periodic reader per configured exporter.

The SDK reads the instruments on its own threads; they observe the last
snapshot, which a task on the event loop refreshes every (shortest) interval,
so store queries stay on the loop. Lifecycle: ``start`` / ``shutdown``;
``shutdown`` exports a last time, is idempotent and safe without ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client.core import Metric

from tasktrace import __version__
from tasktrace.config.telemetry import MetricReaderConfig, OTLPMetricExporterConfig
from tasktrace.exporter.store_health import TaskCounts
from tasktrace.server.metrics import MetricsSnapshot, families

_log = logging.getLogger(__name__)
_METRICS_PATH = "/v1/metrics"
RESOURCE = Resource({"service.name": "tasktrace", "service.version": __version__})

Snapshot = Callable[[], Awaitable[MetricsSnapshot]]


def build_metric_exporter(config: OTLPMetricExporterConfig) -> MetricExporter:
    headers = dict(config.headers)
    parts = urlsplit(config.endpoint)
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GRPCMetricExporter,
        )

        endpoint = parts.netloc if parts.scheme in ("http", "https") else config.endpoint
        return GRPCMetricExporter(
            endpoint=endpoint,
            insecure=parts.scheme != "https",
            headers=headers,
            timeout=config.timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HTTPMetricExporter,
    )

    url = config.endpoint
    if parts.path in ("", "/"):
        url = f"{parts.scheme}://{parts.netloc}{_METRICS_PATH}"
    return HTTPMetricExporter(endpoint=url, headers=headers, timeout=config.timeout)


class OTLPMetricsReporter:
    def __init__(self, readers: Sequence[MetricReaderConfig], snapshot: Snapshot) -> None:
        self._readers = tuple(readers)
        self._snapshot = snapshot
        self._latest: dict[str, Metric] = {}
        self._provider: MeterProvider | None = None
        self._refresh: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._provider is not None or not self._readers:
            return
        await self._update()
        readers = [
            PeriodicExportingMetricReader(
                build_metric_exporter(r.periodic.exporter.otlp),
                export_interval_millis=r.periodic.interval * 1000,
            )
            for r in self._readers
        ]
        self._provider = MeterProvider(metric_readers=readers, resource=RESOURCE)
        meter = self._provider.get_meter("tasktrace", __version__)
        # every family, the store's included, whatever the first snapshot held
        for family in families(MetricsSnapshot(tasks=TaskCounts({}, 0))):
            make = (
                meter.create_observable_counter
                if family.type == "counter"
                else meter.create_observable_gauge
            )
            make(family.name, callbacks=[self._observer(family)], description=family.documentation)
        interval = min(r.periodic.interval for r in self._readers)
        self._refresh = asyncio.create_task(self._refresh_every(interval))

    async def shutdown(self, timeout: float = 5.0) -> None:
        refresh, self._refresh = self._refresh, None
        provider, self._provider = self._provider, None
        if refresh is not None:
            refresh.cancel()
            await asyncio.gather(refresh, return_exceptions=True)
        if provider is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._update(), timeout / 2)
        await asyncio.to_thread(provider.shutdown, timeout_millis=timeout * 500)

    def _observer(self, family: Metric) -> Callable[[CallbackOptions], Iterable[Observation]]:
        name, sample_name = (
            family.name,
            family.name + ("_total" if family.type == "counter" else ""),
        )

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            current = self._latest.get(name)
            if current is None:
                return []
            return [
                Observation(s.value, dict(s.labels))
                for s in current.samples
                if s.name == sample_name
            ]

        return observe

    async def _update(self) -> None:
        snap = await self._snapshot()
        self._latest = {f.name: f for f in families(snap)}

    async def _refresh_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._update()
            except Exception:
                _log.exception("self metrics: snapshot failed")
