"""The query API's JSON shapes, both ways, and its query-parameter parsing.

Pure functions. ``*_to_json`` build plain dicts ready for ``json.dumps``;
``*_from_json`` read them back into :mod:`tasktrace.model` /
:mod:`tasktrace.queries` types (for the client) and raise ``KeyError``,
``TypeError`` or ``ValueError`` on malformed input. Datetimes travel as ISO
8601 UTC strings with microseconds (``2026-11-23T19:05:55.123456Z``); a
message's ``time_ns`` likewise, so it keeps microsecond precision only.

The ``parse_*`` helpers validate query parameters and raise
:class:`~tasktrace.queries.BadRequest` with a message naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tasktrace.model import (
    Message,
    Role,
    Session,
    StatusChange,
    StatusReason,
    Task,
    TaskStatus,
    ToolCall,
)
from tasktrace.queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadRequest,
    FlushResult,
    Page,
    SessionStatus,
    SourceRef,
    TaskFilter,
)

T = TypeVar("T")
JSON = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUSES = ", ".join(s.value for s in TaskStatus)
_REASONS = ", ".join(r.value for r in StatusReason)
_HEX = frozenset("0123456789abcdef")
#: the longest ``text`` / ``session_prefix`` filter accepted
MAX_FILTER_LENGTH = 200


# --- time ------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """``datetime`` -> ``2026-11-23T19:05:55.123456Z``; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """ISO 8601 -> aware ``datetime`` (naive text is taken as UTC). Raises ValueError."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def ns_to_datetime(time_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def datetime_to_ns(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _opt_parse(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


# --- model -> JSON -----------------------------------------------------------


def task_to_json(task: Task) -> JSON:
    return {
        "id": task.id,
        "session_id": task.session_id,
        "order": task.order,
        "description": task.description,
        "status": task.status.value,
        "status_reason": task.status_reason,
        "progress": list(task.progress),
        "preferences": list(task.preferences),
        "message_ids": list(task.message_ids),
        "trace_ids": list(task.trace_ids),
        "created_at": format_time(task.created_at),
        "updated_at": format_time(task.updated_at),
        "extracted_at": _opt_time(task.extracted_at),
        "revision": task.revision,
        "extractor": task.extractor,
        "history": [
            {"status": c.status.value, "at": format_time(c.at), "reason": c.reason}
            for c in task.history
        ],
    }


def message_to_json(message: Message) -> JSON:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "seq": message.seq,
        "role": message.role.value,
        "content": message.content,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
        ],
        "tool_call_id": message.tool_call_id,
        "tool_name": message.tool_name,
        "error": message.error,
        "trace_id": message.trace_id,
        "span_id": message.span_id,
        "time": format_time(ns_to_datetime(message.time_ns)) if message.time_ns else None,
        "task_id": message.task_id,
    }


def session_to_json(session: Session) -> JSON:
    return {
        "id": session.id,
        "service": session.service,
        "created_at": _opt_time(session.created_at),
        "updated_at": _opt_time(session.updated_at),
        "message_count": session.message_count,
    }


def session_status_to_json(status: SessionStatus) -> JSON:
    return {
        "messages": status.messages,
        "processed": status.processed,
        "pending": status.pending,
        "in_process": status.in_process,
        "last_error": status.last_error,
    }


def flush_result_to_json(result: FlushResult) -> JSON:
    return {"processed": result.processed, "tasks": [task_to_json(t) for t in result.tasks]}


def page_to_json(page: Page[T], item_to_json: Callable[[T], JSON]) -> JSON:
    return {"items": [item_to_json(i) for i in page.items], "next_cursor": page.next_cursor}


# --- JSON -> model -----------------------------------------------------------


def task_from_json(data: Mapping[str, Any]) -> Task:
    return Task(
        id=data["id"],
        session_id=data["session_id"],
        order=int(data["order"]),
        description=data["description"],
        status=TaskStatus(data["status"]),
        created_at=parse_time(data["created_at"]),
        updated_at=parse_time(data["updated_at"]),
        extracted_at=_opt_parse(data.get("extracted_at")),
        progress=tuple(data.get("progress", ())),
        preferences=tuple(data.get("preferences", ())),
        message_ids=tuple(data.get("message_ids", ())),
        trace_ids=tuple(data.get("trace_ids", ())),
        history=tuple(
            StatusChange(TaskStatus(c["status"]), parse_time(c["at"]), c.get("reason", ""))
            for c in data.get("history", ())
        ),
        status_reason=str(data.get("status_reason", "")),
        revision=int(data.get("revision", 1)),
        extractor=str(data.get("extractor", "")),
    )


def message_from_json(data: Mapping[str, Any]) -> Message:
    time = data.get("time")
    return Message(
        id=data["id"],
        session_id=data["session_id"],
        seq=int(data["seq"]),
        role=Role(data["role"]),
        content=data.get("content", ""),
        tool_calls=tuple(
            ToolCall(c["id"], c["name"], c.get("arguments", "{}"))
            for c in data.get("tool_calls", ())
        ),
        tool_call_id=data.get("tool_call_id", ""),
        tool_name=data.get("tool_name", ""),
        error=bool(data.get("error", False)),
        trace_id=data.get("trace_id", ""),
        span_id=data.get("span_id", ""),
        time_ns=datetime_to_ns(parse_time(time)) if time else 0,
        task_id=data.get("task_id", ""),
    )


def session_from_json(data: Mapping[str, Any]) -> Session:
    return Session(
        id=data["id"],
        service=data.get("service", ""),
        created_at=_opt_parse(data.get("created_at")),
        updated_at=_opt_parse(data.get("updated_at")),
        message_count=int(data.get("message_count", 0)),
    )


def session_status_from_json(data: Mapping[str, Any]) -> SessionStatus:
    return SessionStatus(
        messages=int(data["messages"]),
        processed=int(data["processed"]),
        pending=int(data["pending"]),
        in_process=bool(data["in_process"]),
        last_error=data.get("last_error") or "",
    )


def flush_result_from_json(data: Mapping[str, Any]) -> FlushResult:
    return FlushResult(
        processed=int(data["processed"]),
        tasks=tuple(task_from_json(t) for t in data["tasks"]),
    )


def page_from_json(data: Mapping[str, Any], item_from_json: Callable[[Any], T]) -> Page[T]:
    return Page(
        items=tuple(item_from_json(i) for i in data["items"]),
        next_cursor=data.get("next_cursor") or None,
    )


# --- query parameters --------------------------------------------------------


def check_limit(limit: int | None) -> int:
    """``None`` -> DEFAULT_LIMIT; otherwise 1..MAX_LIMIT or BadRequest."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def parse_limit(text: str | None) -> int:
    """The ``limit`` query parameter; absent or empty means DEFAULT_LIMIT."""
    if not text:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise BadRequest(f"limit must be an integer, got {text!r}") from None
    return check_limit(limit)


def parse_status(text: str | None) -> TaskStatus | None:
    """The ``status`` query parameter; absent or empty means no filter."""
    if not text:
        return None
    try:
        return TaskStatus(text.lower())
    except ValueError:
        raise BadRequest(f"status must be one of {_STATUSES}, got {text!r}") from None


def parse_time_param(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 query parameter such as ``since``; absent or empty means None."""
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time, got {text!r}") from None


def parse_cursor(text: str | None) -> str | None:
    return text or None


def parse_status_reason(text: str | None) -> StatusReason | None:
    """The ``status_reason`` filter; absent or empty means no filter."""
    if not text:
        return None
    try:
        return StatusReason(text.lower())
    except ValueError:
        raise BadRequest(f"status_reason must be one of {_REASONS}, got {text!r}") from None


#: the query parameters ``GET /tasks`` knows
TASK_FILTER_PARAMS = (
    "status", "status_reason", "service", "text", "session_prefix", "since", "until"
)  # fmt: skip


def parse_task_filter(params: Mapping[str, str]) -> TaskFilter:
    """The :data:`TASK_FILTER_PARAMS` from query parameters."""
    return check_task_filter(
        TaskFilter(
            status=parse_status(params.get("status")),
            service=params.get("service") or None,
            since=parse_time_param("since", params.get("since")),
            until=parse_time_param("until", params.get("until")),
            status_reason=parse_status_reason(params.get("status_reason")),
            text=params.get("text") or None,
            session_prefix=params.get("session_prefix") or None,
        )
    )


def check_task_filter(flt: TaskFilter) -> TaskFilter:
    """``flt`` itself, or BadRequest when ``since`` is after ``until`` or a
    text filter is longer than MAX_FILTER_LENGTH."""
    if flt.since and flt.until and flt.since > flt.until:
        raise BadRequest("since must not be after until")
    for name in ("text", "session_prefix"):
        value = getattr(flt, name)
        if value and len(value) > MAX_FILTER_LENGTH:
            raise BadRequest(f"{name} must be at most {MAX_FILTER_LENGTH} characters")
    return flt


def check_known_params(params: Mapping[str, str], known: Sequence[str]) -> None:
    """BadRequest naming the unknown parameters and listing the ``known`` ones."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise BadRequest(f"unknown query parameter {', '.join(unknown)}; known: {listed}")


def check_source(source: SourceRef) -> SourceRef:
    """``source`` with its id in lower case; BadRequest unless exactly one id is
    set and it is a 32-digit (trace) or 16-digit (span) hex string."""
    if bool(source.trace_id) == bool(source.span_id):
        raise BadRequest("give either a trace id or a span id")
    name, value, digits = (
        ("trace id", source.trace_id, 32) if source.trace_id else ("span id", source.span_id, 16)
    )
    value = value.lower()
    if len(value) != digits or not set(value) <= _HEX or value == "0" * digits:
        raise BadRequest(f"{name} must be {digits} hex digits, not all zero, got {value!r}")
    return SourceRef(value, "") if source.trace_id else SourceRef("", value)


def check_timeout(timeout: float | None, maximum: float) -> float:
    """A requested flush timeout in seconds, capped at ``maximum``; None means ``maximum``."""
    if timeout is None:
        return maximum
    if not math.isfinite(timeout) or timeout <= 0:
        raise BadRequest(f"timeout must be a positive number of seconds, got {timeout}")
    return min(timeout, maximum)


def parse_timeout(text: str | None, maximum: float) -> float:
    """The flush ``timeout`` query parameter (seconds); see :func:`check_timeout`."""
    if not text:
        return maximum
    try:
        timeout = float(text)
    except ValueError:
        raise BadRequest(f"timeout must be a number of seconds, got {text!r}") from None
    return check_timeout(timeout, maximum)
