"""What ``/readyz`` and ``/metrics`` ask the store: is it reachable with every
shipped migration applied, and how many tasks it holds by status and reason."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import fetch, migrations


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """Tasks by ``(status, status_reason)``, and sessions with an open task."""

    by_status: dict[tuple[str, str], int]
    open_sessions: int


async def readiness(pool: AsyncConnectionPool) -> Readiness:
    """Ready when a query answers and ``schema_migrations`` holds every shipped version.
    Never raises: an unreachable store is a :class:`Readiness` with its reason."""
    try:
        rows = await fetch(pool, "SELECT version FROM schema_migrations")
    except Exception as exc:
        return Readiness(False, f"postgres: {exc or type(exc).__name__}")
    missing = sorted({v for v, _, _ in migrations()} - {int(r[0]) for r in rows})
    if missing:
        return Readiness(False, f"migrations not applied: {missing}")
    return Readiness(True)


async def task_counts(pool: AsyncConnectionPool) -> TaskCounts:
    """One scan of ``tasks``; raises :class:`~tasktrace.errors.StoreUnavailable`."""
    rows = await fetch(
        pool, "SELECT status, status_reason, count(*) FROM tasks GROUP BY status, status_reason"
    )
    open_rows = await fetch(
        pool,
        "SELECT count(DISTINCT session_id) FROM tasks WHERE status IN ('pending', 'running')",
    )
    return TaskCounts({(r[0], r[1]): int(r[2]) for r in rows}, int(open_rows[0][0]))
