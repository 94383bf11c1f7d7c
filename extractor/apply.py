"""Applying task operations to a session's tasks, and expiring idle sessions.

Pure: data and ``now`` in, new tasks out. Contract of :func:`apply_ops`:

* ``CreateTask`` makes a task with a deterministic id (session id + order); a
  create for an order that already exists is ignored. A message belongs to one
  task: the messages it names leave any other task (with the trace ids only
  they brought).
* ``AppendProgress`` appends the step (no de-duplication: a retry shows twice)
  and links its messages.
* ``SetStatus`` records a ``StatusChange`` only when the status changes; the
  first history entry is the creation status. ``Task.status_reason`` follows
  every status op (also one that keeps the status), made consistent with
  :func:`~tasktrace.extractor.status_reasons.resolve`; a "not done" reason
  (refused, escalated, abandoned) makes the status ``failed``.
* ``AddPreference`` skips exact duplicates; ``key=value`` text replaces an
  earlier preference with the same key, in place. ``DropPreference`` removes
  the preference with exactly that text, if the task has it.
* ``LinkMessages`` appends new ids in order (unique) and the trace ids of the
  linked messages found in ``messages``.
* Every op that changes a task bumps its ``revision`` (so the revision does not
  depend on how the ops were batched) and sets ``updated_at`` to ``now``.
* Times: a task's ``created_at`` and each ``StatusChange.at`` are the time of
  the message that caused them (a create's or link's messages; for a status
  change, the latest message linked to the task so far), ``now`` only when no
  message time is known (TTL expiry). ``extracted_at`` is ``now`` at creation.
* A task always starts ``pending``: a create with another status records the
  ``pending`` entry first, then the create's status.
* Ops naming an unknown order are ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tasktrace.extractor.base import ExtractionInput, ExtractionResult
from tasktrace.extractor.status_reasons import resolve, status_for
from tasktrace.model import (
    AddPreference,
    AppendProgress,
    CreateTask,
    DropPreference,
    LinkMessages,
    Message,
    SetStatus,
    StatusChange,
    StatusReason,
    Task,
    TaskOp,
    TaskStatus,
    UpdateDescription,
)

#: the fields an operation changes, by name
_Changes = dict[str, Any]
_TASK_FIELDS = tuple(f.name for f in fields(Task))


def _copy(task: Task, changes: _Changes) -> Task:
    """``dataclasses.replace(task, **changes)`` at two thirds of its cost (no
    per-call field introspection)."""
    return Task(*[changes[n] if n in changes else getattr(task, n) for n in _TASK_FIELDS])


_KEYED = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*=")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def task_id(session_id: str, order: int) -> str:
    """Deterministic task id: 16 hex digits of sha256(session id, order)."""
    return hashlib.sha256(f"{session_id}\x00{order}".encode()).hexdigest()[:16]


def _message_time(
    ids: Iterable[str], messages: Mapping[str, Message], fallback: datetime
) -> datetime:
    """The time of the latest of ``ids`` in ``messages``; ``fallback`` when none has one."""
    latest = max((m.time_ns for i in ids if (m := messages.get(i)) is not None), default=0)
    return _EPOCH + timedelta(microseconds=latest // 1000) if latest > 0 else fallback


def _preference_key(text: str) -> str | None:
    match = _KEYED.match(text)
    return match.group(1).casefold() if match else None


def _link(
    task: Task, ids: Iterable[str], messages: Mapping[str, Message]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    message_ids = list(task.message_ids)
    trace_ids = list(task.trace_ids)
    for mid in ids:
        if mid in message_ids:
            continue
        message_ids.append(mid)
        msg = messages.get(mid)
        if msg is not None and msg.trace_id and msg.trace_id not in trace_ids:
            trace_ids.append(msg.trace_id)
    return tuple(message_ids), tuple(trace_ids)


def _links(task: Task, ids: Iterable[str], messages: Mapping[str, Message]) -> _Changes:
    message_ids, trace_ids = _link(task, ids, messages)
    if message_ids == task.message_ids and trace_ids == task.trace_ids:
        return {}
    return {"message_ids": message_ids, "trace_ids": trace_ids}


def _preference(task: Task, text: str) -> _Changes:
    text = text.strip()
    if not text or text in task.preferences:
        return {}
    key = _preference_key(text)
    prefs = list(task.preferences)
    for i, old in enumerate(prefs):
        if key is not None and _preference_key(old) == key:
            prefs[i] = text
            return {"preferences": tuple(prefs)}
    return {"preferences": (*prefs, text)}


def _create(
    op: CreateTask,
    *,
    session_id: str,
    now: datetime,
    extractor: str,
    messages: Mapping[str, Message],
) -> Task:
    status = status_for(op.status, op.status_reason)
    at = _message_time(op.message_ids, messages, now)
    history: tuple[StatusChange, ...] = (StatusChange(status, at, op.reason),)
    if status is not TaskStatus.PENDING:
        history = (StatusChange(TaskStatus.PENDING, at, "new request"), *history)
    task = Task(
        id=task_id(session_id, op.order),
        session_id=session_id,
        order=op.order,
        description=op.description,
        status=status,
        created_at=at,
        updated_at=now,
        history=history,
        extractor=extractor,
        extracted_at=now,
        status_reason=resolve(status, op.status_reason),
    )
    links = _links(task, op.message_ids, messages)
    return replace(task, **links) if links else task


def _status(task: Task, op: SetStatus, now: datetime) -> _Changes:
    status = status_for(op.status, op.status_reason)
    reason = resolve(status, op.status_reason)
    changes: _Changes = {} if reason == task.status_reason else {"status_reason": reason}
    if status is not task.status:
        change = StatusChange(status, now, op.reason)
        changes |= {"status": status, "history": (*task.history, change)}
    return changes


def _without(task: Task, ids: set[str], messages: Mapping[str, Message]) -> Task | None:
    """``task`` without the messages ``ids`` (and the trace ids only they brought);
    None when it has none of them."""
    if not ids & set(task.message_ids):
        return None
    kept = tuple(m for m in task.message_ids if m not in ids)
    traces = {messages[m].trace_id for m in kept if m in messages}
    gone = {messages[m].trace_id for m in ids if m in messages} - traces
    trace_ids = tuple(t for t in task.trace_ids if t not in gone)
    return replace(task, message_ids=kept, trace_ids=trace_ids, revision=task.revision + 1)


def _changes(task: Task, op: TaskOp, now: datetime, messages: Mapping[str, Message]) -> _Changes:
    """The fields ``op`` changes on ``task`` (empty when it changes nothing)."""
    if isinstance(op, UpdateDescription):
        return {} if op.description == task.description else {"description": op.description}
    if isinstance(op, AppendProgress):
        return {"progress": (*task.progress, op.step), **_links(task, op.message_ids, messages)}
    if isinstance(op, SetStatus):
        return _status(task, op, _message_time(task.message_ids, messages, now))
    if isinstance(op, AddPreference):
        return _preference(task, op.text)
    if isinstance(op, DropPreference):
        kept = tuple(p for p in task.preferences if p != op.text)
        return {"preferences": kept} if kept != task.preferences else {}
    if isinstance(op, LinkMessages):
        return _links(task, op.message_ids, messages)
    return {}


def apply_ops(
    tasks: Sequence[Task],
    ops: Iterable[TaskOp],
    *,
    session_id: str,
    now: datetime,
    extractor: str,
    messages: Mapping[str, Message],
) -> tuple[Task, ...]:
    """The session's tasks after ``ops``, ordered by ``order``. See the module doc."""
    by_order = {t.order: t for t in tasks}
    for op in ops:
        current = by_order.get(op.order)
        if isinstance(op, CreateTask):
            if current is None:
                moved = set(op.message_ids)
                for order, other in list(by_order.items()):
                    left = _without(other, moved, messages)
                    if left is not None:
                        by_order[order] = _copy(left, {"updated_at": now, "extractor": extractor})
                by_order[op.order] = _create(
                    op, session_id=session_id, now=now, extractor=extractor, messages=messages
                )
            continue
        if current is None:
            continue
        changes = _changes(current, op, now, messages)
        if changes:
            # one copy per op that changes a task: the bulk of the cost here
            changes.update(revision=current.revision + 1, updated_at=now, extractor=extractor)
            by_order[op.order] = _copy(current, changes)
    return tuple(by_order[k] for k in sorted(by_order))


def tasks_after(
    request: ExtractionInput, result: ExtractionResult, extractor: str
) -> tuple[Task, ...]:
    """The session's tasks after ``result``'s ops: the ones the extractor computed
    on the way when it did (:attr:`ExtractionResult.tasks`), else :func:`apply_ops`
    over the request's tasks with its context and messages."""
    if result.tasks is not None:
        return result.tasks
    return apply_ops(
        request.tasks,
        result.ops,
        session_id=request.session_id,
        now=request.now,
        extractor=extractor,
        messages={m.id: m for m in (*request.context, *request.messages)},
    )


def expire(
    tasks: Sequence[Task], *, last_activity: datetime, now: datetime, ttl: float
) -> tuple[TaskOp, ...]:
    """``SetStatus(EXPIRED)`` for every open task once the session has been
    idle for more than ``ttl`` seconds; nothing otherwise."""
    idle = (now - last_activity).total_seconds()
    if idle <= ttl:
        return ()
    reason = f"session idle for {idle:.0f}s (ttl {ttl:.0f}s)"
    return tuple(
        SetStatus(t.order, TaskStatus.EXPIRED, reason, StatusReason.EXPIRED)
        for t in tasks
        if t.status.is_open
    )


def changed_tasks(before: Sequence[Task], after: Sequence[Task]) -> list[Task]:
    """The tasks of ``after`` that are new or changed since ``before`` (by revision)."""
    old = {t.id: t.revision for t in before}
    return [t for t in after if old.get(t.id) != t.revision]
