"""The tenancy guard on reads: :class:`TenantQueries` wraps the task queries so a
token with a ``services`` allow-list sees only sessions (and their messages and
tasks) of those services. A session of another service answers NotFound, as
one that does not exist; list pages leave foreign items out (a page may then
hold fewer than ``limit`` items; its cursor still goes on)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from tasktrace.auth.tokens import PRINCIPAL
from tasktrace.model import Message, Session, Task, TaskStatus
from tasktrace.queries import (
    FlushResult,
    NotFound,
    Page,
    SessionStatus,
    SourceRef,
    TaskFilter,
    TaskQueries,
)

#: the ``service.name`` of each of these session ids that exists
ServicesOf = Callable[[Sequence[str]], Awaitable[dict[str, str]]]


class TenantQueries:
    def __init__(self, inner: TaskQueries, services_of: ServicesOf) -> None:
        self._inner = inner
        self._services_of = services_of

    async def _require(self, session_id: str) -> None:
        allowed = PRINCIPAL.get().services
        if allowed and (await self._services_of([session_id])).get(session_id) not in allowed:
            raise NotFound(f"no session {session_id!r}")

    async def _own(self, page: Page[Task]) -> Page[Task]:
        allowed = PRINCIPAL.get().services
        if not allowed or not page.items:
            return page
        services = await self._services_of(sorted({t.session_id for t in page.items}))
        items = tuple(t for t in page.items if services.get(t.session_id) in allowed)
        return dataclasses.replace(page, items=items)

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        page = await self._inner.list_sessions(limit=limit, cursor=cursor, status=status)
        allowed = PRINCIPAL.get().services
        if not allowed:
            return page
        return dataclasses.replace(page, items=tuple(s for s in page.items if s.service in allowed))

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        await self._require(session_id)
        return await self._inner.session_messages(session_id, limit=limit, cursor=cursor)

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        await self._require(session_id)
        return await self._inner.session_tasks(
            session_id, limit=limit, cursor=cursor, status=status
        )

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        return await self._own(await self._inner.tasks(flt, limit=limit, cursor=cursor))

    async def source_tasks(
        self, source: SourceRef, *, limit: int, cursor: str | None = None
    ) -> Page[Task]:
        return await self._own(await self._inner.source_tasks(source, limit=limit, cursor=cursor))

    async def session_status(self, session_id: str) -> SessionStatus:
        await self._require(session_id)
        return await self._inner.session_status(session_id)

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        await self._require(session_id)
        return await self._inner.flush(session_id, timeout=timeout)
