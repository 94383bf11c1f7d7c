"""Extraction leases in PostgreSQL: :class:`~tasktrace.stores.SessionLeases`
for instances sharing one database.

A session is due when ``due_at`` (written with its transcript, see
``exporter/transcripts.py``) has passed and it has unprocessed messages.
An instance claims due sessions with ``FOR UPDATE SKIP LOCKED``, so two
instances never claim the same one, and holds each for ``lease`` seconds; the
sessions of an instance that died are claimed by the others once its leases
have expired. While an instance holds sessions (from :meth:`acquire` to
:meth:`release`) it renews their leases every third of the lease, so an
extraction that outlasts the lease (a slow model) is not taken over. The
extraction cursor stays the last guard (``commit_many``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch

_log = logging.getLogger(__name__)

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
_RENEW = (
    "UPDATE sessions SET lease_until = now() + %(lease)s * interval '1 second'"
    " WHERE id = ANY(%(ids)s) AND lease_owner = %(me)s"
)
#: the shared queue: sessions with unprocessed messages, and how long the oldest due one waits
_BACKLOG = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(due_at)"
    " FILTER (WHERE due_at <= now())), 0) FROM sessions WHERE cursor_seq < next_seq - 1"
)
_ACQUIRE = _TAKE.format(
    where=sql.SQL("s.id = ANY(%(ids)s)"), order=sql.SQL("s.id"), limit=sql.SQL("")
)


class PostgresLeases:
    """This instance's leases; ``owner`` names it in ``sessions.lease_owner``
    (default ``host:pid:random``, so an operator sees which instance holds what)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        lease: float,
        owner: str = "",
        renew_every: float | None = None,
    ) -> None:
        self._pool = pool
        self._lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew_every = lease / 3 if renew_every is None else renew_every
        self._held: set[str] = set()
        self._changed = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._backlog: tuple[int, float] = (0, 0.0)

    @property
    def renewing(self) -> bool:
        """Whether the renewal of held leases is running (only while any is held)."""
        return self._renewer is not None and not self._renewer.done()

    def backlog(self) -> tuple[int, float]:
        """The shared queue as the last :meth:`due` saw it."""
        return self._backlog

    async def due(self, limit: int, busy: Sequence[str] = ()) -> list[str]:
        """Claim up to ``limit`` due sessions nobody holds (``busy``: running here);
        also reads the shared queue's size for :meth:`backlog`."""
        [(waiting, lag)] = await fetch(self._pool, _BACKLOG)
        self._backlog = (int(waiting), float(lag))
        if limit <= 0:
            return []
        return await self._ids(_CLAIM_DUE, limit=limit, busy=list(busy))

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        if not session_ids:
            return set()
        held = set(await self._ids(_ACQUIRE, ids=sorted(session_ids)))
        self._held |= held
        if held and not self.renewing:
            self._renewer = asyncio.create_task(self._renew())
        return held

    async def release(self, session_ids: Sequence[str]) -> None:
        self._held.difference_update(session_ids)
        self._changed.set()
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

    async def _renew(self) -> None:
        """Extend the held leases every ``renew_every`` seconds; ends when none is held."""
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + self._renew_every
        while self._held:
            self._changed.clear()
            wait = renew_at - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            renew_at = loop.time() + self._renew_every
            try:
                await self._execute(_RENEW, ids=sorted(self._held), lease=self._lease)
            except Exception as exc:  # the next round tries again; the lease may lapse
                _log.warning("renewing %d extraction leases failed: %s", len(self._held), exc)

    async def _ids(self, query: Query, **params: Any) -> list[str]:
        rows = await fetch(self._pool, query, {"me": self.owner, "lease": self._lease, **params})
        return [row[0] for row in rows]

    async def _execute(self, query: str, **params: Any) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(query, {"me": self.owner, **params})
