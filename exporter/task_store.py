"""The Postgres side of extraction: snapshots in, committed task changes out.

The per-session cursor (the last processed ``seq``) only moves forward, and
only in the transaction that writes the task changes it produced; a crash
between extraction and commit leaves the messages pending for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg_pool import AsyncConnectionPool

from tasktrace.errors import StoreUnavailable
from tasktrace.exporter.postgres import connection, fetch, unnest_columns
from tasktrace.exporter.rows import (
    MESSAGE_COLUMNS,
    TASK_COLUMNS,
    column_list,
    history_rows,
    message_from_row,
    task_from_row,
)
from tasktrace.model import StatusChange, Task, TaskStatus
from tasktrace.stores import Backlog, Commit, Snapshot


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

    async def cursor(self, session_id: str) -> int | None:
        """The session's cursor (the last processed ``seq``); None if unknown."""
        rows = await self._fetch("SELECT cursor_seq FROM sessions WHERE id = %s", (session_id,))
        return int(rows[0][0]) if rows else None

    async def snapshot(self, session_id: str, *, limit: int, context: int) -> Snapshot | None:
        return (await self.snapshots([session_id], limit=limit, context=context)).get(session_id)

    async def snapshots(
        self, session_ids: Sequence[str], *, limit: int, context: int
    ) -> dict[str, Snapshot]:
        """Several sessions as extraction sees them, in one round trip (a
        pipeline of five queries); unknown sessions are left out. Per session:
        the first ``limit`` unprocessed messages and the last ``context``
        processed ones."""
        ids = list(session_ids)
        async with connection(self._pool) as conn, conn.pipeline():
            heads = await conn.execute(
                "SELECT id, cursor_seq, next_seq, disabled, service, last_message_at"
                " FROM sessions WHERE id = ANY(%s)",
                (ids,),
            )
            new = await conn.execute(
                _lateral_messages("m.seq > s.cursor_seq ORDER BY m.seq LIMIT %s"), (limit, ids)
            )
            ctx = await conn.execute(
                _lateral_messages("m.seq <= s.cursor_seq ORDER BY m.seq DESC LIMIT %s"),
                (context, ids),
            )
            tasks = await conn.execute(
                sql.SQL(
                    "SELECT {} FROM tasks WHERE session_id = ANY(%s) ORDER BY session_id, ord"
                ).format(column_list(TASK_COLUMNS)),
                (ids,),
            )
            history = await conn.execute(
                "SELECT task_id, status, at, detail FROM task_history WHERE kind = 'status'"
                " AND task_id IN (SELECT id FROM tasks WHERE session_id = ANY(%s)) ORDER BY id",
                (ids,),
            )
            head_rows, new_rows, ctx_rows = (
                await heads.fetchall(),
                await new.fetchall(),
                await ctx.fetchall(),
            )
            task_rows, history_rows_ = await tasks.fetchall(), await history.fetchall()
        new_by, ctx_by = _by_session(new_rows), _by_session(ctx_rows)
        tasks_by = _by_session(_tasks_with_history(task_rows, history_rows_), key=_session_of)
        return {
            sid: Snapshot(
                sid,
                cursor,
                next_seq,
                disabled,
                service,
                last_at,
                tuple(tasks_by.get(sid, ())),
                tuple(message_from_row(r) for r in new_by.get(sid, ())),
                tuple(message_from_row(r) for r in ctx_by.get(sid, ())),
            )
            for sid, cursor, next_seq, disabled, service, last_at in head_rows
        }

    async def commit_many(self, commits: Sequence[Commit]) -> set[str]:
        """Write the results of several sessions in one transaction: each
        session's cursor moves and its changed tasks are written only if its
        cursor is still where its snapshot saw it. Returns the sessions whose
        cursor had moved (their results are discarded)."""
        if not commits:
            return set()
        async with connection(self._pool) as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE sessions AS s SET cursor_seq = v.new, last_error = '',"
                " input_tokens = s.input_tokens + v.tin, output_tokens = s.output_tokens + v.tout,"
                " updated_at = now()"
                " FROM unnest(%s::text[], %s::int[], %s::int[], %s::bigint[], %s::bigint[])"
                " AS v(id, old, new, tin, tout)"
                " WHERE s.id = v.id AND s.cursor_seq = v.old AND v.new >= s.cursor_seq"
                " RETURNING s.id",
                (
                    [c.snapshot.session_id for c in commits],
                    [c.snapshot.cursor for c in commits],
                    [c.new_cursor for c in commits],
                    [c.tokens[0] for c in commits],
                    [c.tokens[1] for c in commits],
                ),
            )
            moved_on = {row[0] for row in await cur.fetchall()}
            writes = [
                (task, c.before(task.id), c.snapshot.service)
                for c in commits
                if c.snapshot.session_id in moved_on
                for task in c.changed
            ]
            await _write_tasks(conn, writes)
        return {c.snapshot.session_id for c in commits} - moved_on

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
        async with connection(self._pool) as conn, conn.transaction():
            await _write_tasks(conn, [(task, old.get(task.id), service) for task in tasks])

    async def _fetch(self, query: Query, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


def _lateral_messages(condition: LiteralString) -> sql.Composed:
    """Each session's messages matching ``condition`` (a constant; values are params)."""
    return sql.SQL(
        "SELECT {} FROM sessions s, LATERAL (SELECT * FROM messages m"
        " WHERE m.session_id = s.id AND {}) m WHERE s.id = ANY(%s)"
        " ORDER BY m.session_id, m.seq"
    ).format(column_list(MESSAGE_COLUMNS, "m"), sql.SQL(condition))


def _session_of(task: Task) -> str:
    return task.session_id


def _by_session(
    rows: Sequence[Any], key: Callable[[Any], str] = lambda row: row[0]
) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


def _tasks_with_history(
    task_rows: Sequence[tuple[Any, ...]], history_rows_: Sequence[tuple[Any, ...]]
) -> list[Task]:
    history: dict[str, list[StatusChange]] = {}
    for task_id, status, at, reason in history_rows_:
        history.setdefault(task_id, []).append(StatusChange(TaskStatus(status), at, reason))
    return [task_from_row(r, history.get(r[0], ())) for r in task_rows]


_TASKS = sql.SQL("tasks")


async def load_tasks(
    conn: psycopg.AsyncConnection,
    where: sql.Composable,
    params: tuple[Any, ...],
    *,
    source: sql.Composable = _TASKS,
) -> list[Task]:
    """Tasks matching ``where`` (composed with ``psycopg.sql``; values are
    ``params``) with their status history; ``source`` is the relation they are
    selected from (a subquery named ``tasks`` will do)."""
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(column_list(TASK_COLUMNS), source, where)
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    if not rows:
        return []
    cur = await conn.execute(
        "SELECT task_id, status, at, detail FROM task_history WHERE task_id = ANY(%s)"
        " AND kind = 'status' ORDER BY id",
        ([r[0] for r in rows],),
    )
    return _tasks_with_history(rows, await cur.fetchall())


async def _write_tasks(
    conn: psycopg.AsyncConnection, writes: Sequence[tuple[Task, Task | None, str]]
) -> None:
    """Upsert each task, append its activity-log entries since its ``before``
    and link its messages: three statements over all the tasks."""
    if not writes:
        return
    # one statement each over arrays (rows in order): per-row statements cost
    # more client CPU than the rest of a commit
    async with conn.cursor() as cur:
        await cur.execute(
            _UPSERT_TASKS, unnest_columns([_task_params(t, s) for t, _, s in writes], 16)
        )
        history = [
            (t.id, t.session_id, at, kind, st, d, t.revision)
            for t, before, _ in writes
            for kind, at, st, d in history_rows(before, t)
        ]
        if history:
            await cur.execute(
                "INSERT INTO task_history (task_id, session_id, at, kind, status, detail, revision)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[],"
                " %s::text[], %s::text[], %s::int[])",
                unnest_columns(history, 7),
            )
        # a message newly linked to two tasks at once ends with the last, as row by row
        links = {(t.session_id, m): t.id for t, before, _ in writes for m in _new_links(t, before)}
        if links:
            await cur.execute(
                "UPDATE messages AS m SET task_id = v.task_id"
                " FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(session_id, id, task_id)"
                " WHERE m.session_id = v.session_id AND m.id = v.id",
                unnest_columns([(sid, mid, tid) for (sid, mid), tid in links.items()], 3),
            )


def _new_links(task: Task, before: Task | None) -> list[str]:
    """Message ids linked to ``task`` since ``before`` (the rest are linked already)."""
    known = set(before.message_ids) if before is not None else set()
    return [m for m in task.message_ids if m not in known]


_UPSERT_TASKS = (
    "INSERT INTO tasks (id, session_id, ord, description, status, status_reason,"
    " progress, preferences, message_ids, trace_ids,"
    " created_at, updated_at, revision, extractor, service, extracted_at)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[],"
    " %s::jsonb[], %s::jsonb[], %s::jsonb[], %s::jsonb[],"
    " %s::timestamptz[], %s::timestamptz[], %s::int[], %s::text[], %s::text[], %s::timestamptz[])"
    " ON CONFLICT (id) DO UPDATE SET description = excluded.description,"
    " status = excluded.status, status_reason = excluded.status_reason,"
    " progress = excluded.progress, preferences = excluded.preferences,"
    " message_ids = excluded.message_ids, trace_ids = excluded.trace_ids,"
    " updated_at = excluded.updated_at, revision = excluded.revision,"
    " extractor = excluded.extractor"
)


def _task_params(task: Task, service: str) -> tuple[Any, ...]:
    return (
        task.id,
        task.session_id,
        task.order,
        task.description,
        task.status.value,
        task.status_reason,
        json.dumps(task.progress),
        json.dumps(task.preferences),
        json.dumps(task.message_ids),
        json.dumps(task.trace_ids),
        task.created_at,
        task.updated_at,
        task.revision,
        task.extractor,
        service,
        task.extracted_at or task.updated_at,
    )
