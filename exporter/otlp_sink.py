"""Task spans to one OTLP backend: a bounded queue drained by one background worker.

Retries of task spans live in exactly one place, the SDK exporter
(``opentelemetry-exporter-otlp`` 1.45): one deadline per export (we give it
``retry_on_failure.max_elapsed_time``), exponential backoff with jitter, the
server's gRPC ``RetryInfo`` / HTTP ``Retry-After`` honoured, connection errors
retried over both protocols, and its backoff wait is an Event that
``exporter.shutdown()`` sets. This sink never retries a batch the exporter gave up on:
it counts the spans as failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GRPCSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HTTPCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.durations import Every
from tasktrace.exporter.send_queue import SendQueue
from tasktrace.exporter.task_spans import SourceTrace, task_spans
from tasktrace.model import Task
from tasktrace.redaction import Redaction, redact_task

_log = logging.getLogger(__name__)

#: spans per export request; OTLP requests stay far below gRPC's 4 MiB default
BATCH_SIZE = 256
#: a condition at a limit (queue full, exports failing) is logged at most this often
LOG_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counts in spans. ``failed``: the exporter gave up on them (retries
    included); ``dropped``: never sent (queue full, or still queued at the
    shutdown deadline)."""

    queued: int = 0
    exported: int = 0
    failed: int = 0
    dropped: int = 0


def build_exporter(config: OTLPExporterConfig) -> SpanExporter:
    """The SDK exporter for ``config``: its ``timeout`` is the whole export's
    deadline, retries included (see ``OTLPExporterConfig.export_deadline``).

    Over gRPC a disabled ``retry_on_failure`` makes no status code retryable;
    the HTTP exporter has no such switch, so there it retries within ``timeout``.
    """
    headers = dict(config.headers)
    gzip = config.compression == "gzip"
    if config.protocol == "grpc":
        # StatusCode.OK is never an error: a set that retries nothing (an empty set means default)
        no_retry = None if config.retry_on_failure.enabled else frozenset({grpc.StatusCode.OK})
        return GRPCSpanExporter(
            endpoint=config.url,
            insecure=config.insecure,
            credentials=None if config.insecure else config.tls.grpc_credentials(),
            headers=headers,
            timeout=config.export_deadline,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            retryable_error_codes=no_retry,
        )
    tls = config.tls
    return HTTPSpanExporter(
        endpoint=config.url,
        headers=headers,
        certificate_file=tls.ca_file or None,
        client_certificate_file=tls.cert_file or None,
        client_key_file=tls.key_file or None,
        session=_PinnedCA(tls.ca_file) if tls.ca_file else None,
        timeout=config.export_deadline,
        compression=HTTPCompression.Gzip if gzip else HTTPCompression.NoCompression,
    )


class _PinnedCA(requests.Session):
    """A session that verifies with ``ca_file`` whatever the environment says:
    plain ``requests`` lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace a
    session's CA file, which would make ``tls.ca_file`` a no-op on such hosts."""

    def __init__(self, ca_file: str) -> None:
        super().__init__()
        self._ca_file = ca_file

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self._ca_file
        return settings


class TaskSpanSink:
    """Task changes in (``offer``), task spans out to one OTLP endpoint.

    Lifecycle: ``start`` / ``shutdown`` (or ``async with``); restartable;
    ``shutdown`` is idempotent and safe without ``start``. Call ``offer`` from
    the event loop's thread. The exporter runs in a worker thread, so a slow
    backend never blocks the loop.
    """

    def __init__(
        self,
        config: OTLPExporterConfig,
        *,
        exporter_factory: Callable[[OTLPExporterConfig], SpanExporter] = build_exporter,
        batch_size: int = BATCH_SIZE,
        log_interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        redaction: Redaction | None = None,
    ) -> None:
        self._config = config
        self._redaction = redaction
        self._factory = exporter_factory
        self._clock = clock
        queue = config.sending_queue
        self._queue: SendQueue[ReadableSpan] = SendQueue(
            queue.queue_size if queue.enabled else 0, batch_size
        )
        self._refusal_log = Every(log_interval)
        self._failure_log = Every(log_interval)
        self._exporter: SpanExporter | None = None

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    async def __aenter__(self) -> TaskSpanSink:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def start(self) -> None:
        """Build the exporter (no network I/O yet) and start the worker. Idempotent."""
        if self._queue.running:
            return
        if unapplied := self._config.retry_on_failure.unapplied:
            _log.warning(
                "exporter %s: retry_on_failure.%s not applied: the OTLP SDK exporter backs off "
                "from 1s, doubling, with jitter (max_elapsed_time is applied)",
                self._config.endpoint,
                ", ".join(unapplied),
            )
        exporter = self._exporter = self._factory(self._config)

        async def send(batch: list[ReadableSpan]) -> bool:
            return await asyncio.to_thread(_export, exporter, batch)

        self._queue.start(send, name="tasktrace-otlp", on_failure=self._log_failure)

    def offer(self, task: Task, sources: Sequence[SourceTrace], source_service: str) -> bool:
        """Queue the spans of one task change; never blocks.

        Returns False, and counts the spans as dropped, when the queue has no
        room for all of them (a change is queued whole or not at all). An empty
        queue always takes one change. With ``redaction``, the task's text is
        redacted first.
        """
        if self._redaction is not None:
            task = redact_task(task, self._redaction)
        spans = task_spans(
            task, sources=sources, source_service=source_service, mode=self._config.output.mode
        )
        if self._queue.offer(spans):
            return True
        if self._refusal_log.due(self._clock()):
            _log.warning(
                "task span queue for %s is full (%d spans): refusing task changes; "
                "%d spans dropped so far",
                self._config.endpoint,
                self._queue.queued,
                self._queue.dropped,
            )
        return False

    def stats(self) -> SinkStats:
        queue = self._queue
        return SinkStats(queue.queued, queue.sent, queue.failed, queue.dropped)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Export what is queued within ``timeout`` seconds, then stop.

        At the deadline the exporter is shut down, which interrupts its retry
        wait; a batch then in flight counts as failed, spans still queued as
        dropped. Without ``start``, spans offered so far are flushed all the same.
        """
        if not self._queue.running:
            if not self._queue.queued:
                return
            await self.start()
        exporter, self._exporter = self._exporter, None
        assert exporter is not None
        dropped = self._queue.dropped
        if await self._queue.stop(timeout, at_deadline=exporter.shutdown):
            exporter.shutdown()
            return
        _log.warning(
            "task spans to %s: shutdown deadline (%.1fs) passed, %d queued spans dropped",
            self._config.endpoint,
            timeout,
            self._queue.dropped - dropped,
        )

    def _log_failure(self) -> None:
        if self._failure_log.due(self._clock()):
            _log.warning(
                "task spans to %s: export failed after retries; %d spans failed so far",
                self._config.endpoint,
                self._queue.failed,
            )


def _export(exporter: SpanExporter, batch: list[ReadableSpan]) -> bool:
    """Runs in a worker thread. An exporter that raises counts as a failed export."""
    try:
        return exporter.export(batch) is SpanExportResult.SUCCESS
    except Exception:
        _log.exception("task span exporter raised")
        return False
