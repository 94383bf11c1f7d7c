"""After a fault: what the load's exporters saw acknowledged against what the
store holds. :func:`audit` is pure; :func:`read_stored` reads the store."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.support.sdk_load import SpanKey, turn


@dataclass(frozen=True)
class Stored:
    """Rows of the load's sessions: messages ``(session, role, content)``,
    sessions ``(id, messages, processed)`` and tasks ``(session, description)``."""

    messages: Sequence[tuple[str, str, str]]
    sessions: Sequence[tuple[str, int, int]]
    tasks: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Figures:
    """Spans the load made (``sent``) and saw acknowledged (``acked``, each
    counted once); ``present``: acknowledged spans whose turn is stored (user
    and assistant message); ``duplicates``: stored messages beyond the first of
    their session, role and text; ``unextracted``: sessions with messages past
    their extraction cursor; ``user_messages``: stored user messages;
    ``duplicate_tasks``: tasks beyond the first of their session and description."""

    sent: int
    acked: int
    present: int
    duplicates: int
    sessions: int
    unextracted: int
    user_messages: int = 0
    tasks: int = 0
    duplicate_tasks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "acked": self.acked, "present": self.present,
            "duplicates": self.duplicates, "sessions": self.sessions,
            "unextracted": self.unextracted, **self.extra,
        }  # fmt: skip


def audit(made: Iterable[SpanKey], acked: Iterable[SpanKey], stored: Stored) -> Figures:
    acked_once = set(acked)
    messages = collections.Counter(stored.messages)
    present = sum(
        1
        for session, index in acked_once
        if (session, "user", turn(session, index).user) in messages
        and (session, "assistant", turn(session, index).assistant) in messages
    )
    tasks = collections.Counter(stored.tasks)
    return Figures(
        sent=len(set(made)),
        acked=len(acked_once),
        present=present,
        duplicates=sum(n - 1 for n in messages.values()),
        sessions=len(stored.sessions),
        unextracted=sum(1 for _, count, processed in stored.sessions if processed < count),
        user_messages=sum(n for (_, role, _), n in messages.items() if role == "user"),
        tasks=sum(tasks.values()),
        duplicate_tasks=sum(n - 1 for n in tasks.values()),
    )


def read_stored(dsn: str, prefix: str, schema: str = "tasktrace") -> Stored:
    """The rows of sessions whose id starts with ``prefix``."""
    like = prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        messages = conn.execute(
            "SELECT session_id, role, content FROM messages WHERE session_id LIKE %s", (like,)
        ).fetchall()
        sessions = conn.execute(
            "SELECT id, next_seq, cursor_seq + 1 FROM sessions WHERE id LIKE %s", (like,)
        ).fetchall()
        tasks = conn.execute(
            "SELECT session_id, description FROM tasks WHERE session_id LIKE %s", (like,)
        ).fetchall()
    return Stored(messages, sessions, tasks)


def embedded_dsn(data_dir: Path) -> str:
    """The libpq URI of the embedded PostgreSQL running in ``data_dir`` (from its
    ``postmaster.pid``: port on line 4, socket directory on line 5)."""
    lines = (data_dir / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres:@/postgres?host={lines[4].strip()}&port={lines[3].strip()}"
