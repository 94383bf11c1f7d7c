"""Ingest CPU per span in process: no senders, no network, new data.

The requests of ``bench/ingest.py``'s load (3 senders x 20 active sessions of 12
four-span turns, 512 spans per request, every session new) are made first with
the real SDK and its OTLP encoder; then the receiver (decode, dialects, merge,
PostgreSQL write) takes them, three at a time, from an embedded PostgreSQL of
its own. Reports CPU per span of the event-loop thread (ingest planning and
the PostgreSQL client), of the other threads (the reader thread: protobuf
decode and the dialects), and of PostgreSQL's processes, and spans/s of wall
time. Since nothing else of tasktrace runs and the load costs no CPU while it
is measured, these figures move less with the machine's load than
``bench/ingest.py``'s.

    python bench/ingest_cpu.py [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
from common import print_table, write_result
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from workload import SessionState, tool_turn

SENDERS = 3
ACTIVE = 20
TURNS = 12
SESSIONS = 60  # per sender
BATCH = 512


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def sender_spans(index: int, tag: str) -> list[ReadableSpan]:
    """The spans one sender of the load makes: sessions of ``TURNS`` turns,
    ``ACTIVE`` at a time, until ``SESSIONS`` have started."""
    keep = _Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": f"cpu-{index}"}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("bench.cpu")
    rng = random.Random(index)
    names = (f"cpu-{tag}-{index}-{n}" for n in range(1, 10**9))
    active = [SessionState(next(names), random.Random(rng.random())) for _ in range(ACTIVE)]
    started, slot = ACTIVE, 0
    while started <= SESSIONS:
        session = active[slot % ACTIVE]
        tool_turn(tracer, session)
        if session.turns >= TURNS:
            active[slot % ACTIVE] = SessionState(next(names), random.Random(rng.random()))
            started += 1
        slot += 1
    return keep.spans


def make_requests(tag: str) -> tuple[list[bytes], int]:
    """The encoded export requests of the load, and how many spans they hold."""
    requests: list[bytes] = []
    count = 0
    for index in range(SENDERS):
        spans = sender_spans(index, tag)
        count += len(spans)
        requests += [
            encode_spans(spans[i : i + BATCH]).SerializeToString()
            for i in range(0, len(spans), BATCH)
        ]
    return requests, count


def _postgres_cpu(postmaster: psutil.Process) -> float:
    return sum(
        float(p.cpu_times().user + p.cpu_times().system)
        for p in [postmaster, *postmaster.children()]
    )


async def measure(requests: list[bytes], spans: int) -> dict[str, Any]:
    from tasktrace.exporter.postgres import migrate, open_pool
    from tasktrace.exporter.transcripts import PostgresTranscripts
    from tasktrace.receiver.ingest import Ingestor
    from tasktrace.receiver.service import Receiver
    from tasktrace.server.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="tasktrace-cpu-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        dsn = server.start()
        try:
            await migrate(dsn, "tasktrace")
            pool = open_pool(dsn, "tasktrace", max_size=4, timeout=30)
            await pool.open()
            receiver = Receiver(Ingestor(PostgresTranscripts(pool)))
            await receiver.start()
            queue = list(requests)

            async def sender() -> None:
                while queue:
                    await receiver.export_traces(queue.pop(0))

            pid = server.pid()
            assert pid is not None
            postmaster = psutil.Process(pid)
            pg0, cpu0, loop0 = _postgres_cpu(postmaster), time.process_time(), time.thread_time()
            wall0 = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(SENDERS)))
            wall = time.perf_counter() - wall0
            loop = time.thread_time() - loop0
            cpu = time.process_time() - cpu0
            pg = _postgres_cpu(postmaster) - pg0
            await receiver.shutdown()
            await pool.close()
        finally:
            server.stop()
    return {
        "spans": spans,
        "loop_us_per_span": 1e6 * loop / spans,
        "other_threads_us_per_span": 1e6 * (cpu - loop) / spans,
        "postgres_us_per_span": 1e6 * pg / spans,
        "spans_per_s_wall": spans / wall,
    }


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    repeats = repeats or (1 if quick else 3)
    runs = []
    for rep in range(repeats):
        requests, spans = make_requests(f"{time.time_ns()}-{rep}")
        runs.append(asyncio.run(measure(requests, spans)))
    table = print_table(
        f"Ingest CPU per span in process ({runs[0]['spans']:,} spans of new sessions per run)",
        ["run", "event loop us", "other threads us", "postgres us", "spans/s (wall)"],
        [
            [
                i + 1,
                r["loop_us_per_span"],
                r["other_threads_us_per_span"],
                r["postgres_us_per_span"],
                r["spans_per_s_wall"],
            ]
            for i, r in enumerate(runs)
        ],
    )
    result = {"runs": runs, "table": table, "load_average": list(psutil.getloadavg())}
    write_result("ingest_cpu", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    run(repeats=args.repeats)


if __name__ == "__main__":
    main()
