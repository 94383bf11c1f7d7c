"""The database side of several instances, on a real PostgreSQL: a transcript
write planned on a stale view of a session is refused whole, due sessions are
claimed by one instance at a time, a held lease is renewed, and a lease that
has expired is taken over."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from tasktrace.errors import StaleTranscript
from tasktrace.exporter.leases import PostgresLeases
from tasktrace.exporter.postgres import fetch, migrate, open_pool
from tasktrace.exporter.transcripts import PostgresTranscripts
from tasktrace.model import Message, Role
from tasktrace.records import SessionWrite, TraceWrite, WritePlan

SID = "s-1"


@pytest.fixture(name="pool")
async def _pool(pg_dsn: str) -> AsyncIterator[AsyncConnectionPool]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    await migrate(pg_dsn, schema)
    pool = open_pool(pg_dsn, schema, max_size=4, timeout=5)
    await pool.open(wait=True)
    yield pool
    await pool.close()


def plan(version: int, seqs: range, *, trace: str = "t-1", trace_base: str = "") -> WritePlan:
    """Messages ``seqs`` appended to SID, assuming it had had ``version`` writes."""
    out = WritePlan(bases={SID: version}, trace_bases={trace: trace_base})
    for seq in seqs:
        chain = seq.to_bytes(16, "big")
        out.messages.append((Message(f"m{seq}", SID, seq, Role.USER, f"turn {seq}"), chain))
    last = seqs[-1]
    out.sessions[SID] = SessionWrite(SID, "svc", True, False, last.to_bytes(16, "big"), last + 1, 1)
    out.traces.append(TraceWrite(trace, SID, True, "", "", "svc"))
    return out


async def stored_seqs(pool: AsyncConnectionPool) -> list[int]:
    return [r[0] for r in await fetch(pool, "SELECT seq FROM messages ORDER BY seq")]


async def test_a_write_planned_on_a_stale_view_is_refused_whole(
    pool: AsyncConnectionPool,
) -> None:
    store = PostgresTranscripts(pool, idle_timeout=60, max_turns=16)
    await store.write(plan(0, range(0, 2)))

    with pytest.raises(StaleTranscript) as refused:
        await store.write(plan(0, range(0, 3)))  # another instance's cache: still at 0

    assert refused.value.sessions == (SID,)
    assert await stored_seqs(pool) == [0, 1]
    await store.write(plan(1, range(2, 3), trace_base=SID))  # the reloaded view
    assert await stored_seqs(pool) == [0, 1, 2]


async def test_a_trace_another_instance_put_in_another_session_is_a_stale_view(
    pool: AsyncConnectionPool,
) -> None:
    store = PostgresTranscripts(pool)
    elsewhere = WritePlan(bases={"s-2": 0}, trace_bases={"t-1": ""})
    elsewhere.sessions["s-2"] = SessionWrite("s-2", "", False, False, b"", 0, 1)
    elsewhere.traces.append(TraceWrite("t-1", "s-2", False, "", "", ""))
    await store.write(elsewhere)

    with pytest.raises(StaleTranscript):
        await store.write(plan(0, range(0, 1)))  # planned as if t-1 were new


async def test_a_write_makes_the_session_due_after_the_idle_timeout_or_at_once_when_full(
    pool: AsyncConnectionPool,
) -> None:
    await PostgresTranscripts(pool, idle_timeout=60, max_turns=3).write(plan(0, range(0, 2)))
    [(idle,)] = await fetch(pool, "SELECT due_at - now() > interval '50 s' FROM sessions")
    await PostgresTranscripts(pool, idle_timeout=60, max_turns=3).write(
        plan(1, range(2, 3), trace_base=SID)
    )
    [(full,)] = await fetch(pool, "SELECT due_at <= now() FROM sessions")

    assert (idle, full) == (True, True)


async def test_a_due_session_is_claimed_by_one_instance_until_its_lease_expires(
    pool: AsyncConnectionPool,
) -> None:
    await PostgresTranscripts(pool, idle_timeout=60).write(plan(0, range(0, 2)))
    first, second = PostgresLeases(pool, lease=60), PostgresLeases(pool, lease=60)
    assert await first.due(10) == []  # not idle long enough yet

    await second.mark_due(SID)  # a flush on the other instance
    claimed = await first.due(10)
    assert claimed == [SID]
    assert await second.due(10) == [] and await second.acquire([SID]) == set()
    assert await first.acquire([SID]) == {SID}  # its holder renews

    await fetch(pool, "UPDATE sessions SET lease_until = now() - interval '1 s' RETURNING id")
    assert await second.due(10) == [SID]  # the first died: taken over
    await first.release([SID])  # a late release of a lost lease changes nothing
    [(owner,)] = await fetch(pool, "SELECT lease_owner FROM sessions")
    assert owner == second.owner
    await second.release([SID])
    assert await first.acquire([SID]) == {SID}


async def lease_left(pool: AsyncConnectionPool) -> float:
    [(left,)] = await fetch(pool, "SELECT extract(epoch FROM lease_until - now()) FROM sessions")
    return float(left)


async def test_a_held_lease_is_renewed_until_released(pool: AsyncConnectionPool) -> None:
    await PostgresTranscripts(pool, idle_timeout=60).write(plan(0, range(0, 2)))
    holder = PostgresLeases(pool, lease=60, renew_every=0.05)
    other = PostgresLeases(pool, lease=60)
    assert await holder.acquire([SID]) == {SID}
    assert holder.renewing

    # the lease is about to run out (a long extraction): the holder extends it
    await fetch(pool, "UPDATE sessions SET lease_until = now() + interval '2 s' RETURNING id")
    async with asyncio.timeout(10):
        while await lease_left(pool) < 30:
            await asyncio.sleep(0.05)
    assert await other.acquire([SID]) == set()

    await holder.release([SID])
    async with asyncio.timeout(10):
        while holder.renewing:
            await asyncio.sleep(0.01)
    assert await other.acquire([SID]) == {SID}
    await other.release([SID])


async def test_the_shared_backlog_counts_every_instances_waiting_sessions(
    pool: AsyncConnectionPool,
) -> None:
    leases = PostgresLeases(pool, lease=60)
    await leases.due(0)
    assert leases.backlog() == (0, 0.0)

    await PostgresTranscripts(pool, idle_timeout=60).write(plan(0, range(0, 2)))
    await leases.due(0)
    assert leases.backlog() == (1, 0.0)  # waiting, not due yet

    await fetch(pool, "UPDATE sessions SET due_at = now() - interval '5 s' RETURNING id")
    await leases.due(0)
    waiting, lag = leases.backlog()
    assert waiting == 1 and 5.0 <= lag < 60.0


async def test_a_session_merged_into_another_takes_its_tasks_history_with_it(
    pool: AsyncConnectionPool,
) -> None:
    store = PostgresTranscripts(pool)
    await store.write(plan(0, range(0, 2)))
    other = WritePlan(bases={"s-keep": 0})
    other.sessions["s-keep"] = SessionWrite("s-keep", "svc", True, False, b"", 0, 1)
    await store.write(other)
    async with pool.connection() as conn:
        for task, sid in (("task-gone", SID), ("task-kept", "s-keep")):
            await conn.execute(
                "INSERT INTO tasks (id, session_id, ord, description, status, created_at,"
                " updated_at) VALUES (%s, %s, 1, 'a task', 'running', now(), now())",
                (task, sid),
            )
            await conn.execute(
                "INSERT INTO task_history (task_id, session_id, at, kind, revision)"
                " VALUES (%s, %s, now(), 'status', 1)",
                (task, sid),
            )

    merge = WritePlan(rehomes=[(SID, "s-2")], bases={SID: 1, "s-2": 0})
    merge.sessions["s-2"] = SessionWrite("s-2", "svc", True, False, b"", 0, 1)
    await store.write(merge)

    assert await fetch(pool, "SELECT id FROM tasks") == [("task-kept",)]
    assert await fetch(pool, "SELECT task_id FROM task_history") == [("task-kept",)]
