"""Database rows to model objects and back. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from tasktrace.model import Message, Role, Session, StatusChange, Task, TaskStatus, ToolCall

MESSAGE_COLUMNS = (
    "session_id, seq, id, role, content, tool_calls, tool_call_id, tool_name, error,"
    " trace_id, span_id, time_ns, model, task_id"
)
TASK_COLUMNS = (
    "id, session_id, ord, description, status, progress, preferences, message_ids, trace_ids,"
    " created_at, updated_at, revision, extractor, status_reason, extracted_at"
)
SESSION_COLUMNS = "id, service, created_at, updated_at, message_count, disabled"


def column_list(columns: str, table: str = "") -> sql.Composed:
    """One of the column constants above as quoted identifiers, each qualified
    by ``table`` when given (``"m"."seq"``), for ``psycopg.sql`` composition."""
    names = [name.strip() for name in columns.split(",")]
    return sql.SQL(", ").join(
        sql.Identifier(table, n) if table else sql.Identifier(n) for n in names
    )


def tool_calls_json(calls: Sequence[ToolCall]) -> str:
    return json.dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls])


def tool_calls_from(value: object) -> tuple[ToolCall, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        ToolCall(str(c.get("id", "")), str(c.get("name", "")), str(c.get("arguments", "")))
        for c in value
        if isinstance(c, dict)
    )


def message_from_row(r: Sequence[Any]) -> Message:
    return Message(
        session_id=r[0],
        seq=r[1],
        id=r[2],
        role=Role(r[3]),
        content=r[4],
        tool_calls=tool_calls_from(r[5]),
        tool_call_id=r[6],
        tool_name=r[7],
        error=r[8],
        trace_id=r[9],
        span_id=r[10],
        time_ns=r[11],
        model=r[12],
        task_id=r[13],
    )


def session_from_row(r: Sequence[Any]) -> Session:
    return Session(
        id=r[0], service=r[1], created_at=r[2], updated_at=r[3], message_count=r[4], disabled=r[5]
    )


def task_from_row(r: Sequence[Any], history: Sequence[StatusChange] = ()) -> Task:
    return Task(
        id=r[0],
        session_id=r[1],
        order=r[2],
        description=r[3],
        status=TaskStatus(r[4]),
        progress=tuple(r[5]),
        preferences=tuple(r[6]),
        message_ids=tuple(r[7]),
        trace_ids=tuple(r[8]),
        created_at=r[9],
        updated_at=r[10],
        revision=r[11],
        extractor=r[12],
        status_reason=r[13],
        extracted_at=r[14],
        history=tuple(history),
    )


def history_rows(old: Task | None, new: Task) -> list[tuple[str, datetime, str, str]]:
    """The activity-log entries (kind, at, status, detail) that turn ``old`` into ``new``."""
    rows: list[tuple[str, datetime, str, str]] = []
    old_history = old.history if old else ()
    for change in new.history[len(old_history) :]:
        rows.append(("status", change.at, change.status.value, change.reason))
    old_progress = old.progress if old else ()
    for step in new.progress[len(old_progress) :]:
        rows.append(("progress", new.updated_at, new.status.value, step))
    for pref in new.preferences:
        if old is None or pref not in old.preferences:
            rows.append(("preference", new.updated_at, new.status.value, pref))
    if old is not None and old.description != new.description:
        rows.append(("description", new.updated_at, new.status.value, new.description))
    return rows
