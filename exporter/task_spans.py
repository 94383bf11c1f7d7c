"""Tasks -> OTLP spans: a pure codec, no I/O.

Each task change becomes one span named ``task`` in a trace of its own, with a
span link to the root span of every turn (trace) the task came from. Ids are
derived from the task, so every revision of a task lands in the same trace and
re-exporting a revision repeats the same span id (idempotent for backends that
de-duplicate by id). Why a trace of its own: a span added to a finished trace
stretches it and is orphaned when that trace is sampled away (see
https://opentelemetry.io/docs/specs/otel/overview/#links-between-spans).
Optionally (``child``/``both``) a zero-length span goes inside the last source turn.

Attributes follow our naming: ``tasktrace.*`` plus ``session.id`` and
``gen_ai.conversation.id``. Never ``gen_ai.operation.name`` or ``gen_ai.usage.*``:
backends infer span kinds from the first and would count tokens twice from the second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from tasktrace import __version__
from tasktrace.config.otlp_exporter import OutputMode
from tasktrace.model import Task, TaskStatus

SPAN_NAME = "task"
SERVICE_NAME = "tasktrace"
PROGRESS_EVENT = "tasktrace.progress"
LINK_TYPE = "source_turn"
_STEP = "tasktrace.progress.step"
_INDEX = "tasktrace.progress.index"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: ``openinference.project.name`` makes Phoenix file task spans in a project of their own.
RESOURCE = Resource(
    {
        "service.name": SERVICE_NAME,
        "service.version": __version__,
        "openinference.project.name": SERVICE_NAME,
    }
)
SCOPE = InstrumentationScope(SERVICE_NAME, __version__)


@dataclass(frozen=True, slots=True)
class SourceTrace:
    """A turn a task came from. Ids are lowercase hex; ``last_span_id`` is the
    span a ``child`` task span hangs under (the root when empty)."""

    trace_id: str
    root_span_id: str
    last_span_id: str = ""


def task_spans(
    task: Task,
    *,
    sources: Sequence[SourceTrace],
    source_service: str,
    mode: OutputMode = "link",
) -> list[ReadableSpan]:
    """The spans for one task change (one revision of ``task``).

    ``link``: one span in the task's own trace, linked to each source's root span.
    ``child``: one zero-length span under the last source's ``last_span_id`` (or
    root) in that source trace; when no source has usable ids, the ``link`` span
    instead so the change is never lost. ``both``: the two. Sources with ids that
    are not valid hex are left out of links.
    """
    attributes = task_attributes(task, sources=sources, source_service=source_service)
    at = _ns(task.updated_at)
    events = tuple(
        Event(PROGRESS_EVENT, {_STEP: step, _INDEX: i}, timestamp=at)
        for i, step in enumerate(task.progress)
    )
    spans: list[ReadableSpan] = []
    child = _child_context(task, sources) if mode in ("child", "both") else None
    if mode != "child" or child is None:
        trace_id, span_id = _task_trace_id(task.id), _span_id(task.id, task.revision)
        own = SpanContext(trace_id, span_id, False, TraceFlags(TraceFlags.SAMPLED))
        spans.append(_span(task, own, None, attributes, events, _links(sources)))
    if child is not None:
        context, parent = child
        spans.append(_span(task, context, parent, attributes, events, ()))
    return spans


def task_attributes(
    task: Task, *, sources: Sequence[SourceTrace], source_service: str
) -> dict[str, AttributeValue]:
    """The attributes of a task span. ``tasktrace.source.trace_ids`` repeats the
    links for backends that drop span links (Phoenix does)."""
    return {
        "tasktrace.task.id": task.id,
        "tasktrace.task.order": task.order,
        "tasktrace.task.description": task.description,
        "tasktrace.task.status": task.status.value,
        "tasktrace.task.status_reason": task.status_reason,
        "tasktrace.task.progress": list(task.progress),
        "tasktrace.task.preferences": list(task.preferences),
        "tasktrace.task.progress_count": len(task.progress),
        "tasktrace.task.revision": task.revision,
        "tasktrace.source.trace_ids": [s.trace_id for s in sources],
        "tasktrace.source.service.name": source_service,
        "tasktrace.extractor": task.extractor,
        "session.id": task.session_id,
        "gen_ai.conversation.id": task.session_id,
    }


def _status_text(task: Task) -> str:
    """The span status description: the task's ``status_reason`` and the words
    recorded with its current status ("tool_error: assistant: I couldn't ...")."""
    return ": ".join(p for p in (task.status_reason, _history_reason(task)) if p)


def _history_reason(task: Task) -> str:
    """The reason recorded with the task's current status, else ``""``."""
    for change in reversed(task.history):
        if change.status == task.status:
            return change.reason
    return ""


def _span(
    task: Task,
    context: SpanContext,
    parent: SpanContext | None,
    attributes: dict[str, AttributeValue],
    events: tuple[Event, ...],
    links: tuple[Link, ...],
) -> ReadableSpan:
    at = _ns(task.updated_at)
    return ReadableSpan(
        name=SPAN_NAME,
        context=context,
        parent=parent,
        resource=RESOURCE,
        attributes=dict(attributes),
        events=events,
        links=links,
        kind=SpanKind.INTERNAL,
        status=_status(task),
        start_time=at,
        end_time=at,
        instrumentation_scope=SCOPE,
    )


def _status(task: Task) -> Status:
    if task.status is TaskStatus.FAILED:
        return Status(StatusCode.ERROR, _status_text(task) or None)
    if task.status is TaskStatus.SUCCESS:
        return Status(StatusCode.OK)
    return Status(StatusCode.UNSET)


def _links(sources: Sequence[SourceTrace]) -> tuple[Link, ...]:
    links = []
    for source in sources:
        trace_id = _hex_id(source.trace_id, 32)
        span_id = _hex_id(source.root_span_id, 16) or _hex_id(source.last_span_id, 16)
        if trace_id and span_id:
            context = SpanContext(trace_id, span_id, True, TraceFlags(TraceFlags.SAMPLED))
            links.append(Link(context, {"tasktrace.link.type": LINK_TYPE}))
    return tuple(links)


def _child_context(
    task: Task, sources: Sequence[SourceTrace]
) -> tuple[SpanContext, SpanContext] | None:
    """(the child span's context, its parent's) in the last usable source trace."""
    for source in reversed(sources):
        trace_id = _hex_id(source.trace_id, 32)
        parent_id = _hex_id(source.last_span_id, 16) or _hex_id(source.root_span_id, 16)
        if trace_id and parent_id:
            flags = TraceFlags(TraceFlags.SAMPLED)
            own = SpanContext(trace_id, _span_id(task.id, task.revision, "child"), False, flags)
            return own, SpanContext(trace_id, parent_id, True, flags)
    return None


def _task_trace_id(task_id: str) -> int:
    return _digest_int(f"tasktrace/trace/{task_id}", 16)


def _span_id(task_id: str, revision: int, role: str = "task") -> int:
    return _digest_int(f"tasktrace/span/{role}/{task_id}/{revision}", 8)


def _digest_int(text: str, size: int) -> int:
    # an all-zero id is invalid in OTLP; sha256 giving one is astronomically unlikely
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1


def _hex_id(text: str, digits: int) -> int:
    """The id as an int, or 0 when ``text`` is not ``digits`` hex digits (or all zero)."""
    if len(text) != digits:
        return 0
    try:
        return int(text, 16)
    except ValueError:
        return 0


def _ns(at: datetime) -> int:
    """Exact Unix nanoseconds; a naive datetime is taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
