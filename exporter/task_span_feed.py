"""Committed task changes to the OTLP task-span sinks, with the root spans of
the traces each task came from (looked up in Postgres)."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.otlp_sink import TaskSpanSink
from tasktrace.exporter.postgres import fetch
from tasktrace.exporter.task_spans import SourceTrace
from tasktrace.model import Task


class TaskSpanConsumer:
    """Feeds committed task changes to the OTLP task-span sinks, with the
    root spans of the traces each task came from."""

    def __init__(self, pool: AsyncConnectionPool, sinks: Sequence[TaskSpanSink]) -> None:
        self._pool = pool
        self._sinks = list(sinks)

    async def consume(self, tasks: Sequence[Task], service: str) -> None:
        trace_ids = sorted({t for task in tasks for t in task.trace_ids})
        rows = await fetch(
            self._pool,
            "SELECT trace_id, root_span_id, last_span_id FROM traces WHERE trace_id = ANY(%s)",
            (trace_ids,),
        )
        known = {r[0]: SourceTrace(r[0], r[1] or r[2], r[2]) for r in rows}
        for task in tasks:
            sources = [known[t] for t in task.trace_ids if t in known]
            for sink in self._sinks:
                sink.offer(task, sources, service)
