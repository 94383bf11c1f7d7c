"""The read side of the store: sessions, transcripts and tasks, keyset-paginated.

Cursors are opaque base64 of the last row's sort key, so pages stay stable
while new rows arrive and every page is an index range scan.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch
from tasktrace.exporter.rows import (
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    column_list,
    message_from_row,
    session_from_row,
)
from tasktrace.exporter.task_search import (
    MAX_WALK_ROWS_PER_RESULT,
    WALK_ROWS_PER_RESULT,
    Statement,
    next_walk_rows,
    search_plan,
)
from tasktrace.exporter.task_store import load_tasks
from tasktrace.model import Message, Session, Task, TaskStatus
from tasktrace.queries import BadRequest, NotFound, Page, SessionStatus, SourceRef, TaskFilter


def encode_cursor(*key: Any) -> str:
    raw = json.dumps([k.isoformat() if isinstance(k, datetime) else k for k in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"invalid cursor {cursor!r}") from exc
    if not isinstance(key, list) or len(key) != size:
        raise BadRequest(f"invalid cursor {cursor!r}")
    return key


def _time_key(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    at, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), str(ident)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"invalid cursor {cursor!r}") from exc


def _session_order_key(cursor: str | None) -> tuple[str, int] | None:
    if not cursor:
        return None
    session_id, order = decode_cursor(cursor, 2)
    if not isinstance(session_id, str) or type(order) is not int or not 0 <= order < 2**31:
        raise BadRequest(f"invalid cursor {cursor!r}")
    return session_id, order


def _int_key(cursor: str | None, default: int) -> int:
    """The position in a ``seq`` or ``order`` cursor; BadRequest unless a bigint."""
    if not cursor:
        return default
    (value,) = decode_cursor(cursor, 1)
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise BadRequest(f"invalid cursor {cursor!r}")
    return value


class PostgresReads:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        walk_rows_per_result: int = WALK_ROWS_PER_RESULT,
        max_walk_rows_per_result: int = MAX_WALK_ROWS_PER_RESULT,
    ) -> None:
        """How far a text search walks first, and at most, before it looks the
        text up first (:mod:`.task_search`)."""
        self._pool = pool
        self._walk_rows_per_result = walk_rows_per_result
        self._max_walk_rows_per_result = max_walk_rows_per_result

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        where, params = [sql.SQL("true")], []
        key = _time_key(cursor)
        if key:
            where.append(sql.SQL("(s.updated_at, s.id) < (%s, %s)"))
            params += [key[0], key[1]]
        if status is not None:
            where.append(
                sql.SQL(
                    "EXISTS (SELECT 1 FROM tasks t WHERE t.session_id = s.id AND t.status = %s)"
                )
            )
            params.append(status.value)
        query = sql.SQL(
            "SELECT {} FROM sessions s WHERE {} ORDER BY s.updated_at DESC, s.id DESC LIMIT %s"
        ).format(column_list(SESSION_COLUMNS, "s"), sql.SQL(" AND ").join(where))
        rows = await self._fetch(query, (*params, limit + 1))
        items = [session_from_row(r) for r in rows[:limit]]
        nxt = encode_cursor(items[-1].updated_at, items[-1].id) if len(rows) > limit else None
        return Page(tuple(items), nxt)

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        after = _int_key(cursor, -1)
        async with self._connection() as conn:
            await _require_session(conn, session_id)
            query = sql.SQL(
                "SELECT {} FROM messages WHERE session_id = %s AND seq > %s ORDER BY seq LIMIT %s"
            ).format(column_list(MESSAGE_COLUMNS))
            cur = await conn.execute(query, (session_id, after, limit + 1))
            rows = await cur.fetchall()
        items = [message_from_row(r) for r in rows[:limit]]
        return Page(tuple(items), encode_cursor(items[-1].seq) if len(rows) > limit else None)

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        after = _int_key(cursor, 0)
        where, params = [sql.SQL("session_id = %s AND ord > %s")], [session_id, after]
        if status is not None:
            where.append(sql.SQL("status = %s"))
            params.append(status.value)
        condition = sql.SQL("{} ORDER BY ord LIMIT %s").format(sql.SQL(" AND ").join(where))
        async with self._connection() as conn:
            await _require_session(conn, session_id)
            tasks = await load_tasks(conn, condition, (*params, limit + 1))
        items = tasks[:limit]
        return Page(tuple(items), encode_cursor(items[-1].order) if len(tasks) > limit else None)

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        """A page of tasks across sessions, newest first (see :mod:`.task_search`)."""
        plan = search_plan(
            flt,
            limit=limit,
            after=_time_key(cursor),
            walk_rows_per_result=self._walk_rows_per_result,
        )
        async with self._connection() as conn:
            tasks = await _load(conn, plan.walk)
            if plan.match_first is not None and len(tasks) < plan.wanted:
                further = next_walk_rows(
                    plan, len(tasks), max_rows_per_result=self._max_walk_rows_per_result
                )
                if further is not None:
                    tasks = await _load(conn, plan.walk_further(further))
                if len(tasks) < plan.wanted:
                    tasks = await _load(conn, plan.match_first)
        items = tasks[:limit]
        nxt = encode_cursor(items[-1].updated_at, items[-1].id) if len(tasks) > limit else None
        return Page(tuple(items), nxt)

    async def source_tasks(
        self, source: SourceRef, *, limit: int, cursor: str | None = None
    ) -> Page[Task]:
        if source.trace_id:
            ids = sql.SQL(
                "SELECT task_id FROM messages WHERE trace_id = %s AND trace_id <> ''"
                " AND task_id <> '' UNION SELECT id FROM tasks WHERE trace_ids @> %s::jsonb"
            )
            params: list[Any] = [source.trace_id, json.dumps([source.trace_id])]
        else:
            ids = sql.SQL("SELECT task_id FROM messages WHERE span_id = %s AND span_id <> ''")
            params = [source.span_id]
        where: list[sql.Composable] = [sql.SQL("id IN ({})").format(ids)]
        key = _session_order_key(cursor)
        if key:
            where.append(sql.SQL("(session_id, ord) > (%s, %s)"))
            params += [key[0], key[1]]
        condition = sql.SQL("{} ORDER BY session_id, ord LIMIT %s").format(
            sql.SQL(" AND ").join(where)
        )
        async with self._connection() as conn:
            tasks = await load_tasks(conn, condition, (*params, limit + 1))
        items = tasks[:limit]
        last = items[-1] if len(tasks) > limit else None
        return Page(tuple(items), encode_cursor(last.session_id, last.order) if last else None)

    async def session_services(self, session_ids: Sequence[str]) -> dict[str, str]:
        """The ``service.name`` of each of these sessions that exists."""
        rows = await self._fetch(
            "SELECT id, service FROM sessions WHERE id = ANY(%s)", (list(session_ids),)
        )
        return {r[0]: r[1] for r in rows}

    async def session_status(self, session_id: str, *, in_process: bool = False) -> SessionStatus:
        rows = await self._fetch(
            "SELECT next_seq, cursor_seq, last_error FROM sessions WHERE id = %s", (session_id,)
        )
        if not rows:
            raise NotFound(f"no session {session_id!r}")
        messages, cursor, error = rows[0]
        processed = cursor + 1
        return SessionStatus(messages, processed, messages - processed, in_process, error)

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection]:
        return connection(self._pool)

    async def _fetch(self, query: Query, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


async def _load(conn: psycopg.AsyncConnection, statement: Statement) -> list[Task]:
    return await load_tasks(conn, statement.where, statement.params, source=statement.source)


async def _require_session(conn: psycopg.AsyncConnection, session_id: str) -> None:
    cur = await conn.execute("SELECT 1 FROM sessions WHERE id = %s", (session_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"no session {session_id!r}")
