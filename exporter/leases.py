"""Extraction leases in PostgreSQL: :class:`~tasktrace.stores.SessionLeases`
for instances sharing one database.

A session is due when ``due_at`` (written with its transcript, see
``exporter/transcripts.py``) has passed and it has unprocessed messages.
An instance claims due sessions with ``FOR UPDATE SKIP LOCKED``, so two
instances never claim the same one, and holds each for ``lease`` seconds; the
sessions of an instance that died are claimed by the others once its leases
have expired. The extraction cursor stays the last guard (``commit_many``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch

_TAKE = sql.SQL(
    "UPDATE sessions AS t SET lease_owner = %(me)s,"
    " lease_until = now() + %(lease)s * interval '1 second'"
    " FROM (SELECT s.id FROM sessions s WHERE {where} AND"
    " (s.lease_until IS NULL OR s.lease_until < now() OR s.lease_owner = %(me)s)"
    " ORDER BY {order} {limit} FOR UPDATE SKIP LOCKED) AS free"
    " WHERE t.id = free.id RETURNING t.id"
)
_CLAIM_DUE = _TAKE.format(
    where=sql.SQL(
        "s.cursor_seq < s.next_seq - 1 AND s.due_at <= now() AND NOT s.id = ANY(%(busy)s)"
    ),
    order=sql.SQL("s.due_at"),
    limit=sql.SQL("LIMIT %(limit)s"),
)
_ACQUIRE = _TAKE.format(
    where=sql.SQL("s.id = ANY(%(ids)s)"), order=sql.SQL("s.id"), limit=sql.SQL("")
)


class PostgresLeases:
    """This instance's leases; ``owner`` names it in ``sessions.lease_owner``
    (default ``host:pid:random``, so an operator sees which instance holds what)."""

    def __init__(self, pool: AsyncConnectionPool, *, lease: float, owner: str = "") -> None:
        self._pool = pool
        self._lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def due(self, limit: int, busy: Sequence[str] = ()) -> list[str]:
        """Claim up to ``limit`` due sessions nobody holds (``busy``: running here)."""
        if limit <= 0:
            return []
        return await self._ids(_CLAIM_DUE, limit=limit, busy=list(busy))

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        if not session_ids:
            return set()
        return set(await self._ids(_ACQUIRE, ids=sorted(session_ids)))

    async def release(self, session_ids: Sequence[str]) -> None:
        await self._execute(
            "UPDATE sessions SET lease_owner = '', lease_until = NULL"
            " WHERE id = ANY(%(ids)s) AND lease_owner = %(me)s",
            ids=list(session_ids),
        )

    async def mark_due(self, session_id: str, after: float = 0.0) -> None:
        """Make the session due ``after`` seconds from now (a flush: now; a retry: later)."""
        await self._execute(
            "UPDATE sessions SET due_at = now() + %(after)s * interval '1 second'"
            " WHERE id = %(id)s",
            id=session_id,
            after=after,
        )

    async def _ids(self, query: Query, **params: Any) -> list[str]:
        rows = await fetch(self._pool, query, {"me": self.owner, "lease": self._lease, **params})
        return [row[0] for row in rows]

    async def _execute(self, query: str, **params: Any) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(query, {"me": self.owner, **params})
