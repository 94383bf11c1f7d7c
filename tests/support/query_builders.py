"""Keyword-default builders for the query API's model objects."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tasktrace.model import Message, Role, Session, StatusChange, Task, TaskStatus, ToolCall

#: how the API writes a time: UTC, microseconds, a Z
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
T0 = datetime(2026, 11, 23, 19, 5, 55, 123456, tzinfo=UTC)
#: T0 as unix nanoseconds
T0_NS = 1_795_460_755_123_456_000


def make_task(
    order: int = 1,
    *,
    session_id: str = "s1",
    status: TaskStatus = TaskStatus.RUNNING,
    description: str = "",
    progress: tuple[str, ...] = (),
    updated_at: datetime | None = None,
    status_reason: str = "",
    revision: int = 1,
    extractor: str = "",
) -> Task:
    created = T0 + timedelta(minutes=order)
    return Task(
        id=f"{session_id}-t{order}",
        session_id=session_id,
        order=order,
        description=description or f"task {order} of {session_id}",
        status=status,
        created_at=created,
        updated_at=updated_at or created + timedelta(seconds=30),
        progress=progress,
        preferences=("short answers",) if order == 1 else (),
        message_ids=(f"{session_id}-m0",),
        trace_ids=("0af7651916cd43dd8448eb211c80319c",),
        history=(
            StatusChange(TaskStatus.PENDING, created, "asked"),
            StatusChange(status, created + timedelta(seconds=30), "seen"),
        ),
        status_reason=status_reason,
        revision=revision,
        extractor=extractor,
    )


def make_message(
    seq: int = 0,
    *,
    session_id: str = "s1",
    role: Role = Role.USER,
    content: str = "book a flight",
    tool_calls: tuple[ToolCall, ...] = (),
    tool_call_id: str = "",
    tool_name: str = "",
    task_id: str = "",
) -> Message:
    return Message(
        id=f"{session_id}-m{seq}",
        session_id=session_id,
        seq=seq,
        role=role,
        content=content,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id,
        tool_name=tool_name,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        time_ns=T0_NS + seq * 1_000_000_000,
        task_id=task_id,
    )


def make_session(
    session_id: str = "s1",
    *,
    service: str = "shop",
    message_count: int = 0,
    updated_at: datetime | None = None,
) -> Session:
    return Session(
        id=session_id,
        service=service,
        created_at=T0,
        updated_at=updated_at or T0,
        message_count=message_count,
    )
