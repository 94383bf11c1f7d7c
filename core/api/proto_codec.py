"""The query API's model <-> protobuf conversions (``tasktrace.v1``), both ways.

Pure functions. Times are ``google.protobuf.Timestamp``: an unset one reads as
``None`` (or ``time_ns == 0`` for messages); a message's ``time_ns`` keeps its
nanoseconds. Enums map by name (``TaskStatus.FAILED`` <->
``TASK_STATUS_FAILED``); ``TASK_STATUS_UNSPECIFIED`` in a request means no
filter. Request readers raise :class:`~tasktrace.queries.BadRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from google.protobuf.timestamp_pb2 import Timestamp

from tasktrace.api.wire import check_limit, check_source, check_task_filter, parse_status_reason
from tasktrace.model import Message, Role, Session, StatusChange, Task, TaskStatus, ToolCall
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.queries import BadRequest, FlushResult, Page, SessionStatus, SourceRef, TaskFilter

T = TypeVar("T")
R = TypeVar("R")

_STATUS_TO_PB: dict[TaskStatus, pb.TaskStatus] = {
    s: cast(pb.TaskStatus, pb.TaskStatus.Value(f"TASK_STATUS_{s.name}")) for s in TaskStatus
}
_STATUS_FROM_PB: dict[int, TaskStatus] = {v: k for k, v in _STATUS_TO_PB.items()}
_ROLE_TO_PB: dict[Role, pb.Role] = {r: cast(pb.Role, pb.Role.Value(f"ROLE_{r.name}")) for r in Role}
_ROLE_FROM_PB: dict[int, Role] = {v: k for k, v in _ROLE_TO_PB.items()}


class _PageResponse(Protocol):
    @property
    def items(self) -> Iterable[Any]: ...

    @property
    def next_cursor(self) -> str: ...


# --- scalars -----------------------------------------------------------------


def timestamp(value: datetime) -> Timestamp:
    """An aware (or naive UTC) ``datetime`` as a Timestamp."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def timestamp_ns(time_ns: int) -> Timestamp:
    return Timestamp(seconds=time_ns // 1_000_000_000, nanos=time_ns % 1_000_000_000)


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _opt_timestamp(value: datetime | None) -> Timestamp | None:
    return None if value is None else timestamp(value)


def status_to_pb(status: TaskStatus | None) -> int:
    return pb.TASK_STATUS_UNSPECIFIED if status is None else _STATUS_TO_PB[status]


def status_from_pb(value: int) -> TaskStatus | None:
    """``TASK_STATUS_UNSPECIFIED`` -> None; an unknown number -> BadRequest."""
    if value == pb.TASK_STATUS_UNSPECIFIED:
        return None
    try:
        return _STATUS_FROM_PB[value]
    except KeyError:
        raise BadRequest(f"unknown task status {value}") from None


def limit_from_pb(limit: int) -> int:
    """0 -> DEFAULT_LIMIT; otherwise 1..MAX_LIMIT or BadRequest."""
    return check_limit(limit or None)


# --- model -> protobuf -------------------------------------------------------


def task_to_pb(task: Task) -> pb.Task:
    return pb.Task(
        id=task.id,
        session_id=task.session_id,
        order=task.order,
        description=task.description,
        status=_STATUS_TO_PB[task.status],
        progress=task.progress,
        preferences=task.preferences,
        message_ids=task.message_ids,
        trace_ids=task.trace_ids,
        created_at=timestamp(task.created_at),
        updated_at=timestamp(task.updated_at),
        history=[
            pb.StatusChange(
                status=_STATUS_TO_PB[c.status],
                at=timestamp(c.at),
                reason=c.reason,
            )
            for c in task.history
        ],
        status_reason=task.status_reason,
        revision=task.revision,
        extractor=task.extractor,
        extracted_at=_opt_timestamp(task.extracted_at),
    )


def message_to_pb(message: Message) -> pb.Message:
    return pb.Message(
        id=message.id,
        session_id=message.session_id,
        seq=message.seq,
        role=_ROLE_TO_PB[message.role],
        content=message.content,
        tool_calls=[
            pb.ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
        tool_name=message.tool_name,
        error=message.error,
        trace_id=message.trace_id,
        span_id=message.span_id,
        time=timestamp_ns(message.time_ns) if message.time_ns else None,
        task_id=message.task_id,
    )


def session_to_pb(session: Session) -> pb.Session:
    return pb.Session(
        id=session.id,
        service=session.service,
        created_at=_opt_timestamp(session.created_at),
        updated_at=_opt_timestamp(session.updated_at),
        message_count=session.message_count,
    )


def session_status_to_pb(status: SessionStatus) -> pb.SessionStatus:
    return pb.SessionStatus(
        messages=status.messages,
        processed=status.processed,
        pending=status.pending,
        in_process=status.in_process,
        last_error=status.last_error,
    )


def flush_result_to_pb(result: FlushResult) -> pb.FlushResponse:
    return pb.FlushResponse(processed=result.processed, tasks=[task_to_pb(t) for t in result.tasks])


def page_to_pb(page: Page[T], response: Callable[..., R], item_to_pb: Callable[[T], Any]) -> R:
    """A page as a ``*Response`` message: ``page_to_pb(page, pb.ListTasksResponse, task_to_pb)``."""
    return response(items=[item_to_pb(i) for i in page.items], next_cursor=page.next_cursor or "")


# --- protobuf -> model -------------------------------------------------------


def task_from_pb(msg: pb.Task) -> Task:
    return Task(
        id=msg.id,
        session_id=msg.session_id,
        order=msg.order,
        description=msg.description,
        status=_STATUS_FROM_PB[msg.status],
        created_at=from_timestamp(msg.created_at),
        updated_at=from_timestamp(msg.updated_at),
        progress=tuple(msg.progress),
        preferences=tuple(msg.preferences),
        message_ids=tuple(msg.message_ids),
        trace_ids=tuple(msg.trace_ids),
        history=tuple(
            StatusChange(_STATUS_FROM_PB[c.status], from_timestamp(c.at), c.reason)
            for c in msg.history
        ),
        status_reason=msg.status_reason,
        revision=msg.revision,
        extractor=msg.extractor,
        extracted_at=from_timestamp(msg.extracted_at) if msg.HasField("extracted_at") else None,
    )


def message_from_pb(msg: pb.Message) -> Message:
    return Message(
        id=msg.id,
        session_id=msg.session_id,
        seq=msg.seq,
        role=_ROLE_FROM_PB[msg.role],
        content=msg.content,
        tool_calls=tuple(ToolCall(c.id, c.name, c.arguments) for c in msg.tool_calls),
        tool_call_id=msg.tool_call_id,
        tool_name=msg.tool_name,
        error=msg.error,
        trace_id=msg.trace_id,
        span_id=msg.span_id,
        time_ns=msg.time.ToNanoseconds() if msg.HasField("time") else 0,
        task_id=msg.task_id,
    )


def session_from_pb(msg: pb.Session) -> Session:
    return Session(
        id=msg.id,
        service=msg.service,
        created_at=from_timestamp(msg.created_at) if msg.HasField("created_at") else None,
        updated_at=from_timestamp(msg.updated_at) if msg.HasField("updated_at") else None,
        message_count=msg.message_count,
    )


def session_status_from_pb(msg: pb.SessionStatus) -> SessionStatus:
    return SessionStatus(
        messages=msg.messages,
        processed=msg.processed,
        pending=msg.pending,
        in_process=msg.in_process,
        last_error=msg.last_error,
    )


def flush_result_from_pb(msg: pb.FlushResponse) -> FlushResult:
    return FlushResult(processed=msg.processed, tasks=tuple(task_from_pb(t) for t in msg.tasks))


def page_from_pb(msg: _PageResponse, item_from_pb: Callable[[Any], T]) -> Page[T]:
    return Page(
        items=tuple(item_from_pb(i) for i in msg.items), next_cursor=msg.next_cursor or None
    )


def task_filter_from_pb(request: pb.ListTasksRequest) -> TaskFilter:
    """The filter of a ListTasks request; raises BadRequest."""
    return check_task_filter(
        TaskFilter(
            status=status_from_pb(request.status),
            service=request.service or None,
            since=from_timestamp(request.since) if request.HasField("since") else None,
            until=from_timestamp(request.until) if request.HasField("until") else None,
            status_reason=parse_status_reason(request.status_reason),
            text=request.text or None,
            session_prefix=request.session_prefix or None,
        )
    )


def source_from_pb(request: pb.ListTraceTasksRequest) -> SourceRef:
    """The trace or span of a ListTraceTasks request; raises BadRequest."""
    return check_source(SourceRef(trace_id=request.trace_id, span_id=request.span_id))
