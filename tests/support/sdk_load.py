"""Sustained load from the real OpenTelemetry SDK: a ``BatchSpanProcessor`` and
the OTLP span exporter (gRPC and HTTP/protobuf), as an instrumented app sends,
with a record of which spans each exporter saw acknowledged.

Every span is one turn of a GenAI conversation (``gen_ai.input.messages``
carries the history, as instrumentation libraries send it). A generator thread
per protocol keeps a few sessions open and starts a new one once a session has
:data:`TURNS_PER_SESSION` turns. :class:`AckedExporter` wraps the SDK exporter
and records the spans of every batch it returned ``SUCCESS`` for, after the
exporter's own retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GRPCSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from tests.support.genai_chat import MODEL, Turn, turn_attributes

TURNS_PER_SESSION = 5
OPEN_SESSIONS = 4
#: seconds one SDK export may take, its retries included: longer than any outage here
EXPORT_TIMEOUT = 45.0
PROTOCOLS = ("grpc", "http")

#: (session id, turn index): one span
SpanKey = tuple[str, int]


def turn(session_id: str, index: int) -> Turn:
    """Turn ``index`` of a load session: its texts name both, so each is unique."""
    return Turn(f"{session_id}: request {index}", f"{session_id}: answer {index}")


@dataclass
class Ledger:
    """What the load made and what the exporters saw acknowledged (thread-safe)."""

    made: list[SpanKey] = field(default_factory=list)
    acked: list[SpanKey] = field(default_factory=list)
    failed: list[SpanKey] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)  # monotonic, one per acked batch
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _acked_change: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._acked_change = threading.Condition(self._lock)

    def record_made(self, key: SpanKey) -> None:
        with self._lock:
            self.made.append(key)

    def record_export(self, keys: Sequence[SpanKey], ok: bool) -> None:
        with self._lock:
            if ok:
                self.acked.extend(keys)
                self.acked_at.append(time.monotonic())
            else:
                self.failed.extend(keys)
            self._acked_change.notify_all()

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_acked(self, count: int, timeout: float) -> bool:
        """Block until ``count`` spans are acknowledged; False after ``timeout``."""
        with self._acked_change:
            return self._acked_change.wait_for(lambda: len(self.acked) >= count, timeout)

    def first_ack_after(self, moment: float) -> float | None:
        with self._lock:
            return next((t for t in self.acked_at if t > moment), None)


def span_key(span: ReadableSpan) -> SpanKey:
    attrs = span.attributes or {}
    return str(attrs["gen_ai.conversation.id"]), int(str(attrs["load.turn"]))


class AckedExporter(SpanExporter):
    """The SDK exporter, recording each batch's outcome in a :class:`Ledger`."""

    def __init__(self, inner: SpanExporter, ledger: Ledger) -> None:
        self._inner = inner
        self._ledger = ledger

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        self._ledger.record_export([span_key(s) for s in spans], result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def sdk_exporter(protocol: str, grpc_endpoint: str, http_endpoint: str) -> SpanExporter:
    if protocol == "grpc":
        return GRPCSpanExporter(endpoint=grpc_endpoint, insecure=True, timeout=EXPORT_TIMEOUT)
    return HTTPSpanExporter(endpoint=f"http://{http_endpoint}/v1/traces", timeout=EXPORT_TIMEOUT)


class _Generator(threading.Thread):
    """Makes ``rate`` spans a second over :data:`OPEN_SESSIONS` open sessions."""

    def __init__(self, provider: TracerProvider, prefix: str, rate: float, ledger: Ledger) -> None:
        super().__init__(name=f"load-{prefix}", daemon=True)
        self._tracer = provider.get_tracer("tasktrace-fault-load")
        self._prefix, self._interval, self._ledger = prefix, 1.0 / rate, ledger
        self.stop = threading.Event()

    def run(self) -> None:
        opened, n = 0, 0
        slots: list[tuple[str, list[Turn]]] = []
        while not self.stop.wait(self._interval):
            slot = n % OPEN_SESSIONS
            if slot == len(slots) or len(slots[slot][1]) == TURNS_PER_SESSION:
                fresh: tuple[str, list[Turn]] = (f"{self._prefix}{opened}", [])
                opened += 1
                if slot == len(slots):
                    slots.append(fresh)
                else:
                    slots[slot] = fresh
            name, turns = slots[slot]
            index = len(turns)
            turns.append(turn(name, index))
            attributes: dict[str, str | int] = {
                **turn_attributes(name, turns, index),
                "load.turn": index,
            }
            self._tracer.start_span(
                f"chat {MODEL}", kind=SpanKind.CLIENT, attributes=attributes
            ).end()
            self._ledger.record_made((name, index))
            n += 1


@dataclass
class Load:
    ledger: Ledger
    providers: list[TracerProvider]
    generators: list[_Generator]

    def stop(self, flush_timeout: float = 60.0) -> None:
        """Stop making spans; export what the processors hold; shut them down."""
        for generator in self.generators:
            generator.stop.set()
        for generator in self.generators:
            generator.join()
        for provider in self.providers:
            provider.force_flush(int(flush_timeout * 1000))
            provider.shutdown()


@contextmanager
def sdk_load(
    grpc_endpoint: str, http_endpoint: str, prefix: str, *, rate: float = 25.0
) -> Iterator[Load]:
    """Load from one SDK pipeline per protocol, ``rate`` spans a second each.
    Sessions are named ``<prefix><protocol>-<n>``. Stopped (and flushed) on exit
    unless :meth:`Load.stop` ran already."""
    ledger = Ledger()
    providers, generators = [], []
    for protocol in PROTOCOLS:
        provider = TracerProvider(resource=Resource.create({"service.name": "fault-load"}))
        exporter = AckedExporter(sdk_exporter(protocol, grpc_endpoint, http_endpoint), ledger)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=100_000,
                schedule_delay_millis=100,
                max_export_batch_size=20,
            )
        )
        providers.append(provider)
        generators.append(_Generator(provider, f"{prefix}{protocol}-", rate, ledger))
    load = Load(ledger, providers, generators)
    for generator in generators:
        generator.start()
    try:
        yield load
    finally:
        if not all(g.stop.is_set() for g in generators):
            load.stop()
