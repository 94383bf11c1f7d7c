"""PostgreSQL two ways: the embedded server ``tasktrace serve`` runs when no DSN
is configured (data survives a restart, stop leaves no process), and an external
server reached by DSN (a throwaway cluster of Debian's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from psycopg import sql

from tasktrace.exporter.postgres import migrate
from tasktrace.server.embedded import EmbeddedPostgres
from tests.support.external_pg import PostgresMissing, debian_cluster
from tests.support.otlp_traffic import export_grpc, fixture, session_of, transcript
from tests.support.processes import postgres_pids
from tests.support.service import running_service

# --- embedded ----------------------------------------------------------------


def test_a_row_written_survives_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "pg"
    first = EmbeddedPostgres(data_dir)
    with psycopg.connect(first.start(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    first.stop()
    assert postgres_pids(data_dir) == []

    second = EmbeddedPostgres(data_dir)
    try:
        with psycopg.connect(second.start()) as conn:
            rows = conn.execute("SELECT note FROM kept").fetchall()
    finally:
        second.stop()

    assert rows == [("still here",)]


def test_stop_is_idempotent_and_leaves_no_server_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    server = EmbeddedPostgres(data_dir)
    server.start()
    running = postgres_pids(data_dir)
    assert running, "the server should be running before stop"

    server.stop()
    server.stop()

    assert postgres_pids(data_dir) == []
    assert not (data_dir / "postmaster.pid").exists()


def test_stop_without_start_does_nothing(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "never")
    server.stop()
    assert not (tmp_path / "never").exists()


# --- external, by DSN --------------------------------------------------------


@pytest.fixture
def external_cluster() -> Iterator[tuple[str, Path]]:
    """(DSN, data dir) of a throwaway cluster on 127.0.0.1, stopped and removed after."""
    try:
        with debian_cluster() as cluster:
            yield cluster.dsn, cluster.data_dir
    except PostgresMissing as error:
        pytest.fail(str(error), pytrace=False)


async def test_the_service_stores_transcripts_in_an_external_postgres_by_dsn(
    external_cluster: tuple[str, Path],
) -> None:
    dsn, data_dir = external_cluster
    assert postgres_pids(data_dir), "the external cluster should be running"

    async with running_service(dsn) as service:
        answer = await export_grpc(service.endpoints.grpc, fixture("two-requests"))
        assert answer.code is grpc.StatusCode.OK, answer.details
        messages = await transcript(service.endpoints.http, session_of("two-requests"))
        schema = service.config.exporters.postgres.schema_name

    assert len(messages) == 7
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.messages WHERE session_id = %s").format(
            sql.Identifier(schema)
        )
        cur = await conn.execute(query, (session_of("two-requests"),))
        assert await cur.fetchone() == (7,)


async def test_debian_postgres_ships_pg_trgm_for_the_description_search_index(
    external_cluster: tuple[str, Path],
) -> None:
    dsn, _ = external_cluster
    for schema in ("t_search_a", "t_search_b"):  # the second finds the extension installed
        assert 3 in await migrate(dsn, schema)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
        assert await cur.fetchall() == [("tasktrace_ext",)]
        cur = await conn.execute(
            "SELECT schemaname FROM pg_indexes WHERE indexname = 'tasks_description_trgm_idx'"
            " ORDER BY 1"
        )
        assert await cur.fetchall() == [("t_search_a",), ("t_search_b",)]
        # dropping a tasktrace schema leaves the extension, and the other schema's index
        await conn.execute("DROP SCHEMA t_search_a CASCADE")
        cur = await conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'tasks_description_trgm_idx'"
        )
        assert await cur.fetchone() == (1,)
