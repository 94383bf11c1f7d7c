"""In-memory implementations of the kernel's store protocols
(:mod:`tasktrace.stores`), with the Postgres semantics that matter to
extraction: the cursor only moves forward, and only while it is where the
snapshot saw it. For testing the scheduler with no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tasktrace.model import Message, Task, TaskStatus
from tasktrace.stores import Backlog, Commit, Snapshot


@dataclass(slots=True)
class MemorySession:
    id: str
    service: str = "app"
    disabled: bool = False
    cursor: int = -1
    messages: list[Message] = field(default_factory=list)
    last_message_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_error: str = ""


class MemoryTasks:
    """:class:`~tasktrace.stores.TaskStore` over dicts."""

    def __init__(self) -> None:
        self.sessions: dict[str, MemorySession] = {}
        self.tasks: dict[str, Task] = {}
        #: every commit written: (session id, old cursor, new cursor)
        self.commits: list[tuple[str, int, int]] = []

    # --- test set-up ------------------------------------------------------

    def add_messages(self, session_id: str, messages: Sequence[Message]) -> None:
        session = self.sessions.setdefault(session_id, MemorySession(session_id))
        start = len(session.messages)
        session.messages.extend(
            replace(m, session_id=session_id, seq=start + i) for i, m in enumerate(messages)
        )
        session.last_message_at = datetime.now(UTC)

    def session_tasks(self, session_id: str) -> list[Task]:
        return sorted(
            (t for t in self.tasks.values() if t.session_id == session_id), key=lambda t: t.order
        )

    # --- TaskStore --------------------------------------------------------

    async def backlog(self) -> list[Backlog]:
        return [
            Backlog(s.id, len(s.messages) - 1 - s.cursor, s.last_message_at)
            for s in self.sessions.values()
            if s.cursor < len(s.messages) - 1
        ]

    async def open_sessions(self) -> list[tuple[str, datetime]]:
        open_ = {TaskStatus.PENDING, TaskStatus.RUNNING}
        return [
            (s.id, s.last_message_at)
            for s in self.sessions.values()
            if any(t.status in open_ for t in self.session_tasks(s.id))
        ]

    async def cursor(self, session_id: str) -> int | None:
        session = self.sessions.get(session_id)
        return None if session is None else session.cursor

    async def snapshot(self, session_id: str, *, limit: int, context: int) -> Snapshot | None:
        return (await self.snapshots([session_id], limit=limit, context=context)).get(session_id)

    async def snapshots(
        self, session_ids: Sequence[str], *, limit: int, context: int
    ) -> dict[str, Snapshot]:
        out: dict[str, Snapshot] = {}
        for sid in session_ids:
            s = self.sessions.get(sid)
            if s is None:
                continue
            done = s.messages[: s.cursor + 1]
            out[sid] = Snapshot(
                sid,
                s.cursor,
                len(s.messages),
                s.disabled,
                s.service,
                s.last_message_at,
                tuple(self.session_tasks(sid)),
                tuple(s.messages[s.cursor + 1 : s.cursor + 1 + limit]),
                tuple(done[-context:]) if context else (),
            )
        return out

    async def commit_many(self, commits: Sequence[Commit]) -> set[str]:
        moved: set[str] = set()
        for c in commits:
            s = self.sessions[c.snapshot.session_id]
            if s.cursor != c.snapshot.cursor or c.new_cursor < s.cursor:
                moved.add(s.id)
                continue
            self.commits.append((s.id, s.cursor, c.new_cursor))
            s.cursor, s.last_error = c.new_cursor, ""
            self.tasks.update((t.id, t) for t in c.changed)
        return moved

    async def record_error(self, session_id: str, error: str) -> None:
        if session_id in self.sessions:
            self.sessions[session_id].last_error = error

    async def save_tasks(self, tasks: Sequence[Task], before: Sequence[Task], service: str) -> None:
        self.tasks.update((t.id, t) for t in tasks)
