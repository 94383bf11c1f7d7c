"""PostgreSQL connections and versioned schema migrations.

Migrations are the numbered ``migrations/NNNN_*.sql`` files, applied in order
inside the configured schema, each in its own transaction, under an advisory
lock so that several instances starting together apply each exactly once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tasktrace.errors import StoreRejected, StoreUnavailable

_log = logging.getLogger(__name__)
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x7461736B  # "task"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, in order."""
    folder = resources.files("tasktrace.exporter").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found)


async def migrate(conninfo: str, schema: str) -> list[int]:
    """Apply the migrations not applied yet; returns the versions applied now."""
    applied_now: list[int] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, name, text in migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(text.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                _log.info("applied migration %s", name)
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


def open_pool(conninfo: str, schema: str, *, max_size: int, timeout: float) -> AsyncConnectionPool:
    """A pool whose connections use ``schema``. Call ``await pool.open()`` to connect."""

    async def configure(conn: psycopg.AsyncConnection) -> None:
        # lists as binary arrays: psycopg's text arrays are escaped element by
        # element in Python, 8x the client CPU of binary ones (33 against 4 µs
        # for a row of 16 columns); the hot writes pass every column as one
        conn.adapters.register_dumper(list, ListBinaryDumper)
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        await conn.commit()

    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        configure=configure,
        open=False,
        name="tasktrace",
    )


#: SQLSTATE classes of data the server will never take: data exception, integrity
#: violation, program limit exceeded (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_REJECTED_CLASSES = ("22", "23", "54")
#: classes worth a retry: connection exception, insufficient resources, operator
#: intervention (a shutdown), transaction rollback (serialisation, deadlock)
_UNAVAILABLE_CLASSES = ("08", "53", "57", "40")


def store_error(exc: psycopg.Error) -> Exception | None:
    """What a database error means to a sender: :class:`StoreRejected` (never
    retry), :class:`StoreUnavailable` (retry later), or None (a bug: let it raise)."""
    state = (exc.sqlstate or "")[:2]
    # a DataError without a state is psycopg's own refusal (text holding NUL), never sent
    if state in _REJECTED_CLASSES or (not state and isinstance(exc, psycopg.DataError)):
        return StoreRejected(str(exc))
    if state in _UNAVAILABLE_CLASSES or (not state and isinstance(exc, psycopg.OperationalError)):
        return StoreUnavailable(str(exc))
    return None


@asynccontextmanager
async def connection(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection; a lost or unreachable server raises StoreUnavailable,
    data it refuses StoreRejected."""
    try:
        async with pool.connection() as conn:
            yield conn
    except PoolTimeout as exc:
        raise StoreUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        mapped = store_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


async def fetch(
    pool: AsyncConnectionPool, query: Query, params: tuple[Any, ...] | Mapping[str, Any] = ()
) -> list[tuple[Any, ...]]:
    """The rows of ``query``: a literal, or composed with ``psycopg.sql``; values
    always go in ``params``."""
    async with connection(pool) as conn:
        cur = await conn.execute(query, params)
        return list(await cur.fetchall())


def unnest_columns(rows: Sequence[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """``rows`` as ``width`` column lists: the array parameters of an ``unnest``
    that writes them in one statement."""
    columns = tuple(list(column) for column in zip(*rows, strict=True))  # transposed in C
    return columns or tuple([] for _ in range(width))
