"""Tasks -> OTLP task spans (the pure codec)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import StatusCode

from tasktrace.exporter.task_spans import SourceTrace, task_spans
from tasktrace.model import StatusChange, Task, TaskStatus

AT = datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
AT_NS = 1746100800_123456000
TURN_1 = SourceTrace(trace_id="1" * 32, root_span_id="a" * 16, last_span_id="b" * 16)
TURN_2 = SourceTrace(trace_id="2" * 32, root_span_id="c" * 16, last_span_id="d" * 16)


def make_task(
    *,
    status: TaskStatus = TaskStatus.RUNNING,
    reason: str = "",
    revision: int = 1,
    progress: tuple[str, ...] = (),
    task_id: str = "task-1",
    status_reason: str = "",
) -> Task:
    return Task(
        id=task_id,
        session_id="session-1",
        order=2,
        description="book a flight to Lisbon",
        status=status,
        created_at=AT,
        updated_at=AT,
        progress=progress,
        preferences=("window seat",),
        history=(StatusChange(TaskStatus.PENDING, AT), StatusChange(status, AT, reason)),
        revision=revision,
        extractor="heuristic",
        status_reason=status_reason,
    )


def test_a_task_change_is_one_span_named_task_in_a_trace_of_its_own() -> None:
    spans = task_spans(make_task(), sources=[TURN_1], source_service="travel-agent")

    assert [s.name for s in spans] == ["task"]
    context = spans[0].get_span_context()
    assert context is not None
    assert format(context.trace_id, "032x") not in (TURN_1.trace_id, TURN_2.trace_id)
    assert spans[0].parent is None
    assert spans[0].start_time == spans[0].end_time == AT_NS


def test_the_span_carries_the_task_and_session_attributes() -> None:
    task = make_task(progress=("searched flights", "picked TP 1351"))

    (span,) = task_spans(task, sources=[TURN_1, TURN_2], source_service="travel-agent")

    assert dict(span.attributes or {}) == {
        "tasktrace.task.id": "task-1",
        "tasktrace.task.order": 2,
        "tasktrace.task.description": "book a flight to Lisbon",
        "tasktrace.task.status": "running",
        "tasktrace.task.status_reason": "",
        "tasktrace.task.progress": ["searched flights", "picked TP 1351"],
        "tasktrace.task.preferences": ["window seat"],
        "tasktrace.task.progress_count": 2,
        "tasktrace.task.revision": 1,
        "tasktrace.source.trace_ids": [TURN_1.trace_id, TURN_2.trace_id],
        "tasktrace.source.service.name": "travel-agent",
        "tasktrace.extractor": "heuristic",
        "session.id": "session-1",
        "gen_ai.conversation.id": "session-1",
    }


def test_the_resource_and_scope_name_tasktrace() -> None:
    (span,) = task_spans(make_task(), sources=[TURN_1], source_service="agent")

    assert span.resource.attributes["service.name"] == "tasktrace"
    assert span.resource.attributes["openinference.project.name"] == "tasktrace"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "tasktrace"


def test_task_spans_carry_no_gen_ai_operation_or_usage_attributes() -> None:
    spans = task_spans(
        make_task(progress=("x",)), sources=[TURN_1], source_service="agent", mode="both"
    )

    keys = [key for span in spans for key in (span.attributes or {})]
    assert keys
    assert "gen_ai.operation.name" not in keys
    assert not [key for key in keys if key.startswith("gen_ai.usage.")]


def test_each_source_turn_is_linked_by_its_root_span() -> None:
    (span,) = task_spans(make_task(), sources=[TURN_1, TURN_2], source_service="agent")

    linked = [
        (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"))
        for link in span.links
    ]
    assert linked == [(TURN_1.trace_id, TURN_1.root_span_id), (TURN_2.trace_id, "c" * 16)]
    assert all(
        dict(link.attributes or {}) == {"tasktrace.link.type": "source_turn"} for link in span.links
    )


def test_sources_with_malformed_ids_are_left_out_of_the_links() -> None:
    broken = SourceTrace(trace_id="not-hex", root_span_id="a" * 16)
    rootless = SourceTrace(trace_id="3" * 32, root_span_id="", last_span_id="e" * 16)

    (span,) = task_spans(make_task(), sources=[broken, rootless], source_service="agent")

    assert [format(link.context.span_id, "016x") for link in span.links] == ["e" * 16]


def test_each_progress_step_is_one_event_in_order() -> None:
    (span,) = task_spans(
        make_task(progress=("searched", "booked")), sources=[TURN_1], source_service="agent"
    )

    assert [(e.name, e.timestamp) for e in span.events] == [("tasktrace.progress", AT_NS)] * 2
    assert [dict(e.attributes or {}) for e in span.events] == [
        {"tasktrace.progress.step": "searched", "tasktrace.progress.index": 0},
        {"tasktrace.progress.step": "booked", "tasktrace.progress.index": 1},
    ]


def test_span_status_is_error_with_the_reason_only_when_the_task_failed() -> None:
    codes = {}
    for status in TaskStatus:
        (span,) = task_spans(
            make_task(status=status, reason="no seats left"), sources=[TURN_1], source_service="a"
        )
        codes[status] = span.status.status_code

    failed_task = make_task(
        status=TaskStatus.FAILED, reason="no seats left", status_reason="tool_error"
    )
    (failed,) = task_spans(failed_task, sources=[TURN_1], source_service="a")
    assert [s for s, code in codes.items() if code is StatusCode.ERROR] == [TaskStatus.FAILED]
    assert failed.status.description == "tool_error: no seats left"
    assert (failed.attributes or {})["tasktrace.task.status_reason"] == "tool_error"
    assert codes[TaskStatus.SUCCESS] is StatusCode.OK


def test_ids_are_deterministic_per_task_and_revision() -> None:
    def ids(task: Task) -> tuple[int, int]:
        context = task_spans(task, sources=[TURN_1], source_service="a")[0].get_span_context()
        assert context is not None
        return context.trace_id, context.span_id

    first = ids(make_task(revision=1))
    assert ids(make_task(revision=1)) == first
    second = ids(make_task(revision=2, status=TaskStatus.SUCCESS))
    assert second[0] == first[0]
    assert second[1] != first[1]
    assert ids(make_task(task_id="task-2"))[0] != first[0]


def test_child_mode_puts_one_zero_length_span_under_the_last_span_of_the_last_turn() -> None:
    (child,) = task_spans(
        make_task(), sources=[TURN_1, TURN_2], source_service="agent", mode="child"
    )

    context = child.get_span_context()
    assert context is not None and child.parent is not None
    assert format(context.trace_id, "032x") == TURN_2.trace_id
    assert format(child.parent.trace_id, "032x") == TURN_2.trace_id
    assert format(child.parent.span_id, "016x") == TURN_2.last_span_id
    assert child.start_time == child.end_time
    assert child.links == ()


def test_child_mode_hangs_under_the_root_when_the_last_span_is_unknown() -> None:
    turn = SourceTrace(trace_id="4" * 32, root_span_id="f" * 16)

    (child,) = task_spans(make_task(), sources=[turn], source_service="agent", mode="child")

    assert child.parent is not None
    assert format(child.parent.span_id, "016x") == "f" * 16


def test_child_mode_without_a_usable_source_falls_back_to_the_linked_span() -> None:
    (span,) = task_spans(make_task(), sources=[], source_service="agent", mode="child")

    assert span.parent is None
    assert span.links == ()


def test_both_mode_emits_the_linked_span_and_the_child_span() -> None:
    own, child = task_spans(make_task(), sources=[TURN_1], source_service="agent", mode="both")

    assert len(own.links) == 1 and own.parent is None
    assert child.parent is not None
    own_context, child_context = own.get_span_context(), child.get_span_context()
    assert own_context is not None and child_context is not None
    assert own_context.span_id != child_context.span_id


def test_task_spans_encode_to_one_otlp_request() -> None:
    task = replace(make_task(status=TaskStatus.FAILED, progress=("a",)), preferences=())
    spans = task_spans(task, sources=[TURN_1], source_service="agent", mode="both")

    request = encode_spans(spans)

    (resource_spans,) = request.resource_spans
    encoded = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert [span.name for span in encoded] == ["task", "task"]
    assert encoded[0].links[0].trace_id.hex() == TURN_1.trace_id
    assert encoded[1].parent_span_id.hex() == TURN_1.last_span_id
