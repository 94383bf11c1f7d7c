"""The Postgres side of extraction: snapshots in, committed task changes out.

The per-session cursor (the last processed ``seq``) only moves forward, and
only in the transaction that writes the task changes it produced; a crash
between extraction and commit leaves the messages pending for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch
from tasktrace.exporter.rows import (
    MESSAGE_COLUMNS,
    TASK_COLUMNS,
    history_rows,
    message_from_row,
    status_reason,
    task_from_row,
)
from tasktrace.model import Message, StatusChange, Task, TaskStatus
from tasktrace.receiver.ingest import StoreUnavailable


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One session as extraction sees it."""

    session_id: str
    cursor: int
    next_seq: int
    disabled: bool
    service: str
    last_message_at: datetime
    tasks: tuple[Task, ...]
    messages: tuple[Message, ...]
    context: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Backlog:
    session_id: str
    pending: int
    last_message_at: datetime


class CursorMoved(Exception):
    """Another writer advanced the cursor first; the result is discarded."""


class PostgresTasks:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def backlog(self) -> list[Backlog]:
        """Sessions with unprocessed messages (for start-up recovery). Disabled
        sessions are included: their cursor advances too, without tasks."""
        rows = await self._fetch(
            "SELECT id, next_seq - 1 - cursor_seq, last_message_at FROM sessions"
            " WHERE cursor_seq < next_seq - 1",
            (),
        )
        return [Backlog(r[0], r[1], r[2]) for r in rows]

    async def open_sessions(self) -> list[tuple[str, datetime]]:
        """Sessions with pending or running tasks, with their last activity (for expiry)."""
        rows = await self._fetch(
            "SELECT s.id, s.last_message_at FROM sessions s WHERE EXISTS (SELECT 1 FROM tasks t"
            " WHERE t.session_id = s.id AND t.status IN ('pending', 'running'))",
            (),
        )
        return [(r[0], r[1]) for r in rows]

    async def snapshot(self, session_id: str, *, limit: int, context: int) -> Snapshot | None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(
                "SELECT cursor_seq, next_seq, disabled, service, last_message_at"
                " FROM sessions WHERE id = %s",
                (session_id,),
            )
            head = await cur.fetchone()
            if head is None:
                return None
            cursor = head[0]
            new = await _messages(
                conn, session_id, "seq > %s ORDER BY seq LIMIT %s", (cursor, limit)
            )
            ctx = await _messages(
                conn, session_id, "seq <= %s ORDER BY seq DESC LIMIT %s", (cursor, context)
            )
            tasks = await load_tasks(conn, "session_id = %s ORDER BY ord", (session_id,))
        return Snapshot(
            session_id,
            cursor,
            head[1],
            head[2],
            head[3],
            head[4],
            tuple(tasks),
            tuple(new),
            tuple(reversed(ctx)),
        )

    async def commit(
        self,
        snapshot: Snapshot,
        *,
        new_cursor: int,
        changed: Sequence[Task],
        tokens: tuple[int, int] = (0, 0),
    ) -> None:
        """Write changed tasks, their history and the cursor in one transaction.

        Raises CursorMoved when the cursor is not where the snapshot saw it.
        """
        before = {t.id: t for t in snapshot.tasks}
        async with connection(self._pool) as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                "UPDATE sessions SET cursor_seq = %s, last_error = '', input_tokens ="
                " input_tokens + %s, output_tokens = output_tokens + %s, updated_at = now()"
                " WHERE id = %s AND cursor_seq = %s AND %s >= cursor_seq",
                (
                    new_cursor,
                    tokens[0],
                    tokens[1],
                    snapshot.session_id,
                    snapshot.cursor,
                    new_cursor,
                ),
            )
            if cur.rowcount != 1:
                raise CursorMoved(snapshot.session_id)
            for task in changed:
                await _write_task(cur, task, before.get(task.id), snapshot.service)
                await cur.execute(
                    "UPDATE messages SET task_id = %s WHERE session_id = %s AND id = ANY(%s)",
                    (task.id, task.session_id, list(task.message_ids)),
                )

    async def record_error(self, session_id: str, error: str) -> None:
        try:
            async with connection(self._pool) as conn:
                await conn.execute(
                    "UPDATE sessions SET last_error = %s WHERE id = %s", (error[:2000], session_id)
                )
        except StoreUnavailable:
            pass  # the error is logged by the caller; nothing to lose here

    async def save_tasks(self, tasks: Sequence[Task], before: Sequence[Task], service: str) -> None:
        """Write task changes that consume no messages (expiry)."""
        old = {t.id: t for t in before}
        async with connection(self._pool) as conn, conn.transaction(), conn.cursor() as cur:
            for task in tasks:
                await _write_task(cur, task, old.get(task.id), service)

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


async def _messages(
    conn: psycopg.AsyncConnection, session_id: str, where: str, params: tuple[Any, ...]
) -> list[Message]:
    cur = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = %s AND {where}",
        (session_id, *params),
    )
    return [message_from_row(r) for r in await cur.fetchall()]


async def load_tasks(
    conn: psycopg.AsyncConnection, where: str, params: tuple[Any, ...]
) -> list[Task]:
    """Tasks matching ``where`` with their status history."""
    cur = await conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {where}", params)
    rows = await cur.fetchall()
    if not rows:
        return []
    cur = await conn.execute(
        "SELECT task_id, status, at, detail FROM task_history WHERE task_id = ANY(%s)"
        " AND kind = 'status' ORDER BY id",
        ([r[0] for r in rows],),
    )
    history: dict[str, list[StatusChange]] = {}
    for task_id, status, at, reason in await cur.fetchall():
        history.setdefault(task_id, []).append(StatusChange(TaskStatus(status), at, reason))
    return [task_from_row(r, history.get(r[0], ())) for r in rows]


async def _write_task(
    cur: psycopg.AsyncCursor, task: Task, before: Task | None, service: str
) -> None:
    """Upsert ``task`` and append the activity-log entries since ``before``."""
    await _upsert_task(cur, task, service)
    rows = history_rows(before, task)
    await cur.executemany(
        "INSERT INTO task_history (task_id, session_id, at, kind, status, detail, revision)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [(task.id, task.session_id, at, kind, st, d, task.revision) for kind, at, st, d in rows],
    )


async def _upsert_task(cur: psycopg.AsyncCursor, task: Task, service: str) -> None:
    await cur.execute(
        "INSERT INTO tasks (id, session_id, ord, description, status, status_reason,"
        " progress, preferences, message_ids, trace_ids,"
        " created_at, updated_at, revision, extractor, service)"
        " VALUES (%s, %s, %s, %s, %s, %s,"
        " %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb,"
        " %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET description = excluded.description,"
        " status = excluded.status, status_reason = excluded.status_reason,"
        " progress = excluded.progress, preferences = excluded.preferences,"
        " message_ids = excluded.message_ids, trace_ids = excluded.trace_ids,"
        " updated_at = excluded.updated_at, revision = excluded.revision,"
        " extractor = excluded.extractor",
        (
            task.id,
            task.session_id,
            task.order,
            task.description,
            task.status.value,
            status_reason(task),
            json.dumps(task.progress),
            json.dumps(task.preferences),
            json.dumps(task.message_ids),
            json.dumps(task.trace_ids),
            task.created_at,
            task.updated_at,
            task.revision,
            task.extractor,
            service,
        ),
    )
