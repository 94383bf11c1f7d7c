"""Task spans over OTLP/HTTP into a real backend, Arize Phoenix, read back
through Phoenix's own REST API."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.exporter.otlp_sink import SinkStats, TaskSpanSink
from tasktrace.exporter.task_spans import SourceTrace
from tasktrace.model import StatusChange, Task, TaskStatus
from tests.support.phoenix import get_spans

pytestmark = pytest.mark.phoenix

PROJECT = "tasktrace"
READ_BACK_TIMEOUT = 60.0  # Phoenix ingests about 110 spans/s; we send tens
AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)

Span = dict[str, Any]


def make_task(
    session: str, order: int, status: TaskStatus, *, revision: int = 1, reason: str = ""
) -> Task:
    return Task(
        id=f"{session}-task-{order}",
        session_id=session,
        order=order,
        description=f"task {order} of {session}",
        status=status,
        created_at=AT,
        updated_at=AT + timedelta(seconds=revision),
        progress=tuple(f"step {i}" for i in range(revision)),
        history=(StatusChange(status, AT, reason),),
        revision=revision,
        extractor="heuristic",
    )


def make_source(session: str, order: int) -> SourceTrace:
    salt = int.from_bytes(session.encode()[:4], "big")
    return SourceTrace(
        trace_id=f"{salt:08x}{order:024x}",
        root_span_id=f"{order:016x}",
        last_span_id=f"{order + 0x100:016x}",
    )


def read_back(base_url: str, attributes: dict[str, str], count: int) -> list[Span]:
    """Poll Phoenix until it finds ``count`` spans with ``attributes`` (there is no
    event to await), bounded by ``READ_BACK_TIMEOUT``."""
    deadline = time.monotonic() + READ_BACK_TIMEOUT
    while True:
        spans = get_spans(base_url, PROJECT, attributes=attributes)
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.25)


def attr(span: Span, key: str) -> Any:
    return span["attributes"].get(key)


@dataclass(frozen=True)
class Exported:
    base_url: str
    session: str
    stats: SinkStats


async def export_changes(base_url: str, session: str) -> SinkStats:
    """Seven task changes of six tasks (task 2 in revisions 1 and 2), each sent as a
    linked span and a child span; task 2's revision 2 is sent twice."""
    changes = [
        make_task(session, 1, TaskStatus.SUCCESS),
        make_task(session, 2, TaskStatus.RUNNING),
        make_task(session, 2, TaskStatus.FAILED, revision=2, reason="card declined"),
        make_task(session, 3, TaskStatus.PENDING),
        make_task(session, 4, TaskStatus.FAILED, reason="no seats left"),
        make_task(session, 5, TaskStatus.EXPIRED),
    ]
    repeated = changes[2]
    # last: once Phoenix shows it, it has taken everything sent before
    sentinel = make_task(session, 6, TaskStatus.SUCCESS)
    config = OTLPExporterConfig(
        endpoint=base_url,
        protocol="http",
        output={"mode": "both"},
        retry_on_failure={"max_elapsed_time": "20s"},
    )
    async with TaskSpanSink(config) as sink:
        for task in [*changes, repeated, sentinel]:
            assert sink.offer(task, [make_source(session, task.order)], "travel-agent")
    return sink.stats()


@pytest.fixture(scope="module")
def exported(phoenix: str) -> Iterator[Exported]:
    session = f"s{os.getpid()}-{time.monotonic_ns()}"
    stats = asyncio.run(export_changes(phoenix, session))
    sentinel = read_back(phoenix, {"tasktrace.task.id": f"{session}-task-6"}, 2)
    assert len(sentinel) == 2, "Phoenix did not show the last task change in time"
    yield Exported(phoenix, session, stats)


def session_spans(exported: Exported, **attributes: str) -> list[Span]:
    attributes = {"session.id": exported.session, **attributes}
    return get_spans(exported.base_url, PROJECT, attributes=attributes)


def test_every_span_is_exported_and_phoenix_keeps_a_repeated_revision_once(
    exported: Exported,
) -> None:
    spans = session_spans(exported)

    assert exported.stats == SinkStats(exported=16)
    assert len(spans) == 14
    assert len({s["context"]["span_id"] for s in spans}) == 14


def test_failed_tasks_are_found_by_status_with_error_status_and_reason(
    exported: Exported,
) -> None:
    failed = session_spans(exported, **{"tasktrace.task.status": "failed"})

    assert sorted((attr(s, "tasktrace.task.order"), s["parent_id"] is None) for s in failed) == [
        (2, False),
        (2, True),
        (4, False),
        (4, True),
    ]
    assert {s["status_code"] for s in failed} == {"ERROR"}
    assert {s["status_message"] for s in failed} == {"card declined", "no seats left"}
    others = session_spans(exported, **{"tasktrace.task.status": "success"})
    assert len(others) == 4
    assert {s["status_code"] for s in others} == {"OK"}


def test_task_spans_name_their_source_turns(exported: Exported) -> None:
    own = [s for s in session_spans(exported) if s["parent_id"] is None]

    assert len(own) == 7
    for span in own:
        turn = make_source(exported.session, attr(span, "tasktrace.task.order"))
        assert attr(span, "tasktrace.source.trace_ids") == [turn.trace_id]
        assert attr(span, "tasktrace.source.service.name") == "travel-agent"
        assert span["context"]["trace_id"] != turn.trace_id


def test_child_spans_sit_under_the_last_span_of_their_source_turn(exported: Exported) -> None:
    children = [s for s in session_spans(exported) if s["parent_id"] is not None]

    assert len(children) == 7
    for child in children:
        turn = make_source(exported.session, attr(child, "tasktrace.task.order"))
        assert child["context"]["trace_id"] == turn.trace_id
        assert child["parent_id"] == turn.last_span_id


def test_every_revision_of_a_task_lands_in_one_trace_with_its_progress_events(
    exported: Exported,
) -> None:
    revisions = [
        s
        for s in session_spans(exported, **{"tasktrace.task.id": f"{exported.session}-task-2"})
        if s["parent_id"] is None
    ]

    by_revision = {attr(s, "tasktrace.task.revision"): s for s in revisions}
    assert sorted(by_revision) == [1, 2]
    assert len({s["context"]["trace_id"] for s in revisions}) == 1
    steps = [e["attributes"]["tasktrace.progress.step"] for e in by_revision[2]["events"]]
    assert steps == ["step 0", "step 1"]
