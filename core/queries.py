"""The read side every API (HTTP JSON, gRPC, CLI) is built on.

Implemented by the Postgres store plus the extraction scheduler (for
``flush``); the API layers only translate to and from their wire formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from tasktrace.model import Message, Session, StatusReason, Task, TaskStatus

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class NotFound(LookupError):
    """No such session (HTTP 404, gRPC NOT_FOUND)."""


class BadRequest(ValueError):
    """A malformed parameter such as a cursor (HTTP 400, gRPC INVALID_ARGUMENT)."""


class FlushTimeout(TimeoutError):
    """Extraction did not catch up within the deadline (HTTP 504, gRPC DEADLINE_EXCEEDED)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """Extraction progress of one session: ``pending`` messages are not yet processed."""

    messages: int
    processed: int
    pending: int
    in_process: bool
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class FlushResult:
    processed: int
    tasks: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Every field set narrows the search; ``text`` matches anywhere in the
    description, case-insensitively; ``session_prefix`` the start of the session id."""

    status: TaskStatus | None = None
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status_reason: StatusReason | None = None
    text: str | None = None
    session_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The trace, or the span, tasks are looked up by: exactly one is set
    (lower-case hex, 32 digits for a trace id, 16 for a span id)."""

    trace_id: str = ""
    span_id: str = ""


class TaskQueries(Protocol):
    """Cursors are opaque strings; ``limit`` is clamped to 1..MAX_LIMIT by callers."""

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        """Sessions, most recently updated first; with ``status``, only those
        having a task in that status."""
        ...

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        """The transcript in ``seq`` order. Raises NotFound."""
        ...

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        """Tasks in ``order``. Raises NotFound."""
        ...

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        """Tasks across sessions, most recently updated first."""
        ...

    async def source_tasks(
        self, source: SourceRef, *, limit: int, cursor: str | None = None
    ) -> Page[Task]:
        """The tasks whose messages came from ``source`` (or that list its trace),
        by session and order; an empty page when none did."""
        ...

    async def session_status(self, session_id: str) -> SessionStatus:
        """Raises NotFound."""
        ...

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        """Return once every message received before the call is extracted and
        committed. Raises NotFound, FlushTimeout."""
        ...
