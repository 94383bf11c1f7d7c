"""Schema migrations on a real PostgreSQL: all applied on a fresh schema, none
the second time, each exactly once when instances start together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from tasktrace.exporter.postgres import migrate, migrations

#: what a schema holds, for before/after comparisons: tables, columns, indexes
SNAPSHOT = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' '
       || coalesce(column_default, '') || ' ' || is_nullable
  FROM information_schema.columns WHERE table_schema = %(schema)s
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = %(schema)s
UNION ALL
SELECT 'constraint', conname || ' ' || pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = %(schema)s
ORDER BY 1, 2
"""


@pytest.fixture
async def schema(pg_dsn: str) -> AsyncIterator[str]:
    """A schema name no other test uses; dropped afterwards."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    yield name
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def snapshot(dsn: str, schema: str) -> list[tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(SNAPSHOT, {"schema": schema})
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def applied_versions(dsn: str, schema: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(f'SELECT version FROM "{schema}".schema_migrations ORDER BY 1')
        return [row[0] for row in await cur.fetchall()]


def shipped_versions() -> list[int]:
    return [version for version, _, _ in migrations()]


def test_the_shipped_migrations_start_at_one_and_ascend_once_each() -> None:
    # gaps are allowed: numbers are handed out to parallel branches, and the
    # runner applies every version not applied yet
    versions = shipped_versions()
    assert versions[0] == 1 and versions == sorted(set(versions))


async def test_migrate_on_a_fresh_schema_applies_every_migration(pg_dsn: str, schema: str) -> None:
    applied = await migrate(pg_dsn, schema)

    assert applied == shipped_versions()
    assert await applied_versions(pg_dsn, schema) == shipped_versions()
    tables = {
        name.split(".")[0] for kind, name in await snapshot(pg_dsn, schema) if kind == "column"
    }
    assert {"sessions", "messages", "schema_migrations"} <= tables


async def test_migrate_twice_is_a_no_op(pg_dsn: str, schema: str) -> None:
    await migrate(pg_dsn, schema)
    before = await snapshot(pg_dsn, schema)

    assert await migrate(pg_dsn, schema) == []
    assert await snapshot(pg_dsn, schema) == before
    assert await applied_versions(pg_dsn, schema) == shipped_versions()


async def test_concurrent_migrates_on_a_fresh_schema_apply_each_migration_once(
    pg_dsn: str, schema: str
) -> None:
    results = await asyncio.gather(*(migrate(pg_dsn, schema) for _ in range(4)))

    applied = sorted(v for result in results for v in result)
    assert applied == shipped_versions()
    assert sorted(results, key=len)[-1] == shipped_versions()
    assert await applied_versions(pg_dsn, schema) == shipped_versions()


async def test_migrations_of_one_schema_leave_another_schema_alone(
    pg_dsn: str, schema: str
) -> None:
    other = f"{schema}_other"
    try:
        await migrate(pg_dsn, schema)
        assert await migrate(pg_dsn, other) == shipped_versions()
        assert await applied_versions(pg_dsn, schema) == shipped_versions()
    finally:
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')
