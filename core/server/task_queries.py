"""The query service the API serves: reads from the task store, flush and
in-process status from the extraction scheduler."""

from __future__ import annotations

from tasktrace.exporter.read_store import PostgresReads
from tasktrace.extractor.scheduler import ExtractionScheduler
from tasktrace.model import Message, Session, Task, TaskStatus
from tasktrace.queries import FlushResult, Page, SessionStatus, SourceRef, TaskFilter


class TaskQueryService:
    """:class:`~tasktrace.queries.TaskQueries` over the store, with flush and
    in-process status from the scheduler."""

    def __init__(self, reads: PostgresReads, scheduler: ExtractionScheduler) -> None:
        self._reads = reads
        self._scheduler = scheduler

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        return await self._reads.list_sessions(limit=limit, cursor=cursor, status=status)

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        return await self._reads.session_messages(session_id, limit=limit, cursor=cursor)

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        return await self._reads.session_tasks(
            session_id, limit=limit, cursor=cursor, status=status
        )

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        return await self._reads.tasks(flt, limit=limit, cursor=cursor)

    async def source_tasks(
        self, source: SourceRef, *, limit: int, cursor: str | None = None
    ) -> Page[Task]:
        return await self._reads.source_tasks(source, limit=limit, cursor=cursor)

    async def session_status(self, session_id: str) -> SessionStatus:
        return await self._reads.session_status(
            session_id, in_process=self._scheduler.in_process(session_id)
        )

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        return await self._scheduler.flush(session_id, timeout=timeout)
