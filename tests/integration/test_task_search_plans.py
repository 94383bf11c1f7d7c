"""A text search answers the same pages whichever plan PostgreSQL is asked in:
the bounded walk in ``updated_at`` order or the matches first (see
``tasktrace.exporter.task_search``), on a real PostgreSQL with a few hundred
tasks: a common word (1 task in 3), a rare one (3 tasks), mixed case, ties in
``updated_at`` broken by id, other filters on top, page by page through cursors.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, migrate, open_pool
from tasktrace.exporter.read_store import PostgresReads
from tasktrace.exporter.task_search import WALK_ROWS_PER_RESULT, Statement, search_plan
from tasktrace.exporter.task_store import load_tasks
from tasktrace.model import StatusReason, Task, TaskStatus
from tasktrace.queries import TaskFilter

pytestmark = pytest.mark.asyncio(loop_scope="module")

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TASKS = 360
#: (status, reason) in turn; refused tasks are failed, as the extractor makes them
KINDS = [("success", "completed"), ("failed", "refused"), ("running", ""), ("failed", "tool_error")]


@dataclass(frozen=True)
class Row:
    id: str
    description: str
    status: str
    reason: str
    updated_at: datetime


def rows() -> list[Row]:
    made = []
    for i in range(TASKS):
        word = "Refund" if i % 3 == 0 else "seat"
        rare = " and a ZEPHYR" if i in (40, 201, 320) else ""
        status, reason = KINDS[i % len(KINDS)]
        # 40 distinct times for 360 tasks: ties are broken by id
        at = T0 + timedelta(minutes=i * 7 % 40)
        made.append(Row(f"t{i:04d}", f"Book a {word} for trip {i}{rare}", status, reason, at))
    return made


ROWS = rows()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool(pg_dsn: str) -> AsyncIterator[AsyncConnectionPool]:
    schema = f"s_{uuid.uuid4().hex[:12]}"
    await migrate(pg_dsn, schema)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(f'SET search_path TO "{schema}"')
        sessions = sorted({r.id[:3] for r in ROWS})
        tasks = [
            (r.id, r.id[:3], int(r.id[1:]), r.description, r.status, r.reason, r.updated_at)
            for r in ROWS
        ]
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO sessions (id, service) VALUES (%s, 'shop')", [(s,) for s in sessions]
            )
            await cur.executemany(
                "INSERT INTO tasks (id, session_id, ord, description, status, status_reason,"
                " created_at, updated_at, service) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'shop')",
                [(*t, t[-1]) for t in tasks],
            )
        await conn.execute("ANALYZE tasks")
    store = open_pool(pg_dsn, schema, max_size=2, timeout=10)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


SEARCHES = {
    "rare word": TaskFilter(text="zephyr"),
    "common word": TaskFilter(text="REFUND"),
    "common word, failed": TaskFilter(text="refund", status=TaskStatus.FAILED),
    "common word, refused": TaskFilter(
        text="refund", status=TaskStatus.FAILED, status_reason=StatusReason.REFUSED
    ),
    "rare word, refused": TaskFilter(text="Zephyr", status_reason=StatusReason.REFUSED),
    "no match": TaskFilter(text="kettle"),
}


def expected_pages(flt: TaskFilter, limit: int) -> list[list[str]]:
    """What the search must answer, worked out in Python from the rows."""
    assert flt.text
    keep = [
        r
        for r in ROWS
        if flt.text.lower() in r.description.lower()
        and (flt.status is None or r.status == flt.status)
        and (flt.status_reason is None or r.reason == flt.status_reason)
    ]
    keep.sort(key=lambda r: (r.updated_at, r.id), reverse=True)
    ids = [r.id for r in keep]
    return [ids[k : k + limit] for k in range(0, len(ids), limit)] or [[]]


async def run(pool: AsyncConnectionPool, statement: Statement) -> list[Task]:
    async with connection(pool) as conn:
        return await load_tasks(conn, statement.where, statement.params, source=statement.source)


async def pages_of_one_plan(
    pool: AsyncConnectionPool, flt: TaskFilter, limit: int, plan: str
) -> list[list[str]]:
    """Every page, by the cursor key, asking only the ``walk`` (unbounded, so
    complete) or only the ``match_first`` statement."""
    pages, after = [], None
    while True:
        both = search_plan(flt, limit=limit, after=after, walk_rows_per_result=10 * TASKS)
        statement = both.walk if plan == "walk" else both.match_first
        assert isinstance(statement, Statement)
        tasks = await run(pool, statement)
        pages.append([t.id for t in tasks[:limit]])
        if len(tasks) <= limit:
            return pages
        after = (tasks[limit - 1].updated_at, tasks[limit - 1].id)


async def pages_of_store(reads: PostgresReads, flt: TaskFilter, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await reads.tasks(flt, limit=limit, cursor=cursor)
        pages.append([t.id for t in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_the_data_set_has_the_words_and_ties_the_plans_are_compared_on() -> None:
    assert sum("Refund" in r.description for r in ROWS) == TASKS // 3
    assert sum("ZEPHYR" in r.description for r in ROWS) == 3
    assert len({r.updated_at for r in ROWS}) == 40


@pytest.mark.parametrize("limit", [1, 7, 500])
@pytest.mark.parametrize("name", list(SEARCHES))
async def test_the_walk_and_the_match_first_give_the_same_pages_in_the_same_order(
    pool: AsyncConnectionPool, name: str, limit: int
) -> None:
    flt = SEARCHES[name]
    walked = await pages_of_one_plan(pool, flt, limit, "walk")
    matched = await pages_of_one_plan(pool, flt, limit, "match_first")
    assert walked == matched == expected_pages(flt, limit)


@pytest.mark.parametrize(
    ("first", "most"), [(0, 200), (1, 1), (1, 200), (3, 3), (3, 200), (WALK_ROWS_PER_RESULT, 200)]
)
@pytest.mark.parametrize("name", list(SEARCHES))
async def test_the_store_pages_through_cursors_alike_wherever_the_walk_gives_up(
    pool: AsyncConnectionPool, name: str, first: int, most: int
) -> None:
    # 0: always the matches first; 1 and 3: the first walk fills some pages,
    # a second walk (up to 200 rows per result) others; the default: the
    # first walk fills the pages of a common word
    reads = PostgresReads(pool, walk_rows_per_result=first, max_walk_rows_per_result=most)
    flt = SEARCHES[name]
    assert await pages_of_store(reads, flt, 7) == expected_pages(flt, 7)


async def test_the_bounded_walk_fills_a_page_of_a_common_word_but_not_of_a_rare_one(
    pool: AsyncConnectionPool,
) -> None:
    async def walked(text: str, rows_per_result: int) -> int:
        plan = search_plan(TaskFilter(text=text), limit=9, walk_rows_per_result=rows_per_result)
        return len(await run(pool, plan.walk))

    # 10 wanted, so 30 rows walked: 1 in 3 holds "refund", none "zephyr" yet
    assert await walked("refund", 3) == 10
    assert await walked("zephyr", 3) == 0
    # far enough, the walk sees every row of this small table
    assert await walked("zephyr", 40) == 3
