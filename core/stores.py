"""The store protocols the components talk through.

Ingest writes transcripts through a :class:`TranscriptStore`; extraction reads
snapshots and commits results through a :class:`TaskStore`, and asks a
:class:`SessionLeases` which due sessions it may take. The Postgres
implementations live in :mod:`tasktrace.exporter`; tests also use in-memory ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tasktrace.model import Message, Task
from tasktrace.records import Lookup, TranscriptState, WritePlan


class TranscriptStore(Protocol):
    """What ingest needs from storage. Every method may raise
    :class:`StoreUnavailable` or :class:`StoreRejected`."""

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        """Sessions whose transcript currently ends at one of ``chains``."""
        ...

    async def load_transcript(
        self, session_id: str
    ) -> tuple[TranscriptState, list[Message]] | None:
        """A session's merge state and its messages in order; None if unknown."""
        ...

    async def lookup(
        self, trace_ids: Sequence[str], session_ids: Sequence[str], chains: Sequence[bytes]
    ) -> Lookup:
        """What ingest reads before it plans a batch, at once (one round trip):
        the stored traces among ``trace_ids``, :meth:`load_transcript` of each of
        ``session_ids`` (unknown ones left out) and :meth:`find_tails` of ``chains``."""
        ...

    async def write(self, plan: WritePlan) -> None: ...


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


@dataclass(frozen=True, slots=True)
class Commit:
    """One session's extraction result, to be written with its cursor."""

    snapshot: Snapshot
    new_cursor: int
    changed: tuple[Task, ...]
    tokens: tuple[int, int] = (0, 0)

    def before(self, task_id: str) -> Task | None:
        return next((t for t in self.snapshot.tasks if t.id == task_id), None)


class TaskStore(Protocol):
    """What extraction needs from storage. Every method may raise
    :class:`~tasktrace.errors.StoreUnavailable`.

    The cursor is the last guard against double work: :meth:`commit_many`
    writes a session's results only while its cursor is where the snapshot saw it."""

    async def backlog(self) -> list[Backlog]:
        """Sessions with unprocessed messages (for start-up recovery)."""
        ...

    async def open_sessions(self) -> list[tuple[str, datetime]]:
        """Sessions with pending or running tasks, with their last activity."""
        ...

    async def cursor(self, session_id: str) -> int | None:
        """The session's cursor (the last processed ``seq``); None if unknown."""
        ...

    async def snapshot(self, session_id: str, *, limit: int, context: int) -> Snapshot | None: ...

    async def snapshots(
        self, session_ids: Sequence[str], *, limit: int, context: int
    ) -> dict[str, Snapshot]:
        """Per session: the first ``limit`` unprocessed messages and the last
        ``context`` processed ones; unknown sessions are left out."""
        ...

    async def commit_many(self, commits: Sequence[Commit]) -> set[str]:
        """Write several sessions' results with their cursors; returns the
        sessions whose cursor had moved (their results are discarded)."""
        ...

    async def record_error(self, session_id: str, error: str) -> None: ...

    async def save_tasks(self, tasks: Sequence[Task], before: Sequence[Task], service: str) -> None:
        """Write task changes that consume no messages (expiry)."""
        ...


class SessionLeases(Protocol):
    """Which due sessions this instance may extract now. One process owns all
    of them (:class:`OwnAll`); instances sharing a database take leases there,
    where each session's due time is kept."""

    async def due(self, limit: int, busy: Sequence[str] = ()) -> list[str]:
        """Claim up to ``limit`` sessions due in the shared store (not ``busy``)."""
        ...

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        """The subset of ``session_ids`` this instance holds until :meth:`release`."""
        ...

    async def release(self, session_ids: Sequence[str]) -> None: ...

    async def mark_due(self, session_id: str, after: float = 0.0) -> None:
        """Make the session due in ``after`` seconds, for whichever instance claims it."""
        ...

    def backlog(self) -> tuple[int, float] | None:
        """Across every instance, as last polled: sessions with unprocessed messages,
        and seconds the longest-overdue one has waited. None: only this process's
        own queue counts."""
        ...


class OwnAll:
    """The leases of a single instance: every session is its own, and due times
    live in its memory."""

    async def due(self, limit: int, busy: Sequence[str] = ()) -> list[str]:
        return []

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        return set(session_ids)

    async def release(self, session_ids: Sequence[str]) -> None:
        return None

    async def mark_due(self, session_id: str, after: float = 0.0) -> None:
        return None

    def backlog(self) -> tuple[int, float] | None:
        return None
