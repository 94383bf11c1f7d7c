"""A small in-memory :class:`~tasktrace.queries.TaskQueries`, seeded with three
sessions, and the query API served over it on 127.0.0.1: what the API, client
and CLI tests run against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from aiohttp import web

from tasktrace.api.http import add_api_routes
from tasktrace.model import Message, Role, Session, Task, TaskStatus, ToolCall
from tasktrace.queries import (
    BadRequest,
    FlushResult,
    FlushTimeout,
    Page,
    SessionStatus,
    TaskFilter,
)
from tasktrace.queries import NotFound as NoSuchSession
from tests.support.query_builders import T0, make_message, make_session, make_task

FLUSH_TIMEOUT = 5.0
STUCK = "stuck session/1"  # a flush here never catches up; the id needs URL escaping

T = TypeVar("T")


@dataclass
class MemoryQueries:
    sessions: list[Session]
    messages: list[Message]
    tasks_: list[Task]
    pending: dict[str, int] = field(default_factory=dict)
    flush_timeouts: list[float] = field(default_factory=list)

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        having = {t.session_id for t in self.tasks_ if t.status is status}
        found = [s for s in self.sessions if status is None or s.id in having]
        return _page(sorted(found, key=lambda s: s.updated_at or T0, reverse=True), limit, cursor)

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        self._session(session_id)
        found = sorted((m for m in self.messages if m.session_id == session_id), key=_seq)
        return _page(found, limit, cursor)

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        self._session(session_id)
        found = [t for t in self.tasks_ if t.session_id == session_id]
        found = [t for t in found if status is None or t.status is status]
        return _page(sorted(found, key=lambda t: t.order), limit, cursor)

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        services = {s.id: s.service for s in self.sessions}
        found = [
            t
            for t in self.tasks_
            if (flt.status is None or t.status is flt.status)
            and (flt.service is None or services[t.session_id] == flt.service)
            and (flt.since is None or t.updated_at >= flt.since)
            and (flt.until is None or t.updated_at < flt.until)
        ]
        return _page(sorted(found, key=lambda t: t.updated_at, reverse=True), limit, cursor)

    async def session_status(self, session_id: str) -> SessionStatus:
        session = self._session(session_id)
        pending = self.pending.get(session_id, 0)
        return SessionStatus(
            messages=session.message_count,
            processed=session.message_count - pending,
            pending=pending,
            in_process=pending > 0,
        )

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        self._session(session_id)
        self.flush_timeouts.append(timeout)
        if session_id == STUCK:
            try:
                await asyncio.wait_for(asyncio.Event().wait(), timeout)
            except TimeoutError:
                raise FlushTimeout(f"{session_id} not extracted within {timeout}s") from None
        processed = self.pending.pop(session_id, 0)
        tasks = await self.session_tasks(session_id, limit=1000)
        return FlushResult(processed=processed, tasks=tasks.items)

    def _session(self, session_id: str) -> Session:
        for session in self.sessions:
            if session.id == session_id:
                return session
        raise NoSuchSession(f"no session {session_id!r}")


def _seq(message: Message) -> int:
    return message.seq


def _page(items: Sequence[T], limit: int, cursor: str | None) -> Page[T]:
    if cursor is not None and not cursor.isdigit():
        raise BadRequest(f"bad cursor {cursor!r}")
    start = int(cursor or 0)
    end = start + limit
    return Page(tuple(items[start:end]), str(end) if end < len(items) else None)


S1_STATUSES = ["success", "success", "failed", "running", "pending", "success", "expired"]


def seeded() -> MemoryQueries:
    """s1 (shop): 7 tasks, 4 messages; s2 (mail): 1 failed task; STUCK (shop): nothing."""
    s1_tasks = [
        make_task(i + 1, status=TaskStatus(status), progress=("step",) * i)
        for i, status in enumerate(S1_STATUSES)
    ]
    s2_task = make_task(
        1, session_id="s2", status=TaskStatus.FAILED, updated_at=T0 + timedelta(hours=2)
    )
    call = ToolCall("call_1", "search_flights", '{"to": "LIS"}')
    messages = [
        make_message(0, content="book a flight to Lisbon", task_id="s1-t1"),
        make_message(1, role=Role.ASSISTANT, content="", tool_calls=(call,)),
        make_message(2, role=Role.TOOL, content="TP123", tool_call_id="call_1"),
        make_message(3, role=Role.ASSISTANT, content="booked TP123"),
        make_message(0, session_id="s2", content="mail Ana"),
    ]
    return MemoryQueries(
        sessions=[
            make_session("s1", message_count=4, updated_at=T0 + timedelta(hours=1)),
            make_session("s2", service="mail", message_count=1, updated_at=T0 + timedelta(hours=2)),
            make_session(STUCK, message_count=0),
        ],
        messages=messages,
        tasks_=[*s1_tasks, s2_task],
        pending={"s1": 2},
    )


async def start_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def serve_api(queries: MemoryQueries) -> AsyncIterator[str]:
    """The HTTP query API over ``queries``; yields its base URL."""
    app = web.Application()
    add_api_routes(app, queries, flush_timeout=FLUSH_TIMEOUT)
    async for url in start_app(app):
        yield url
