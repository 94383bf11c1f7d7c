"""Extraction in batches, against the real service and PostgreSQL.

Due sessions are read in one snapshot query and written in one commit
transaction per batch; each session's cursor is still checked on its own, so a
session another writer processed first loses only its own result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx

from tasktrace.exporter.postgres import open_pool
from tasktrace.exporter.task_store import PostgresTasks
from tasktrace.extractor.apply import task_id
from tasktrace.extractor.scheduler import BATCH_SESSIONS
from tasktrace.model import StatusChange, Task, TaskStatus
from tasktrace.stores import Commit
from tests.support.genai_chat import chat_request, numbered_turns
from tests.support.service import running_service
from tests.support.session_api import flush, post_traces, task_list

HOLD = [
    "processors.tasktrace.buffer.max_turns=10000",
    "processors.tasktrace.buffer.idle_timeout=1h",
]


def _task(session_id: str, description: str) -> Task:
    now = datetime.now(UTC)
    return Task(task_id(session_id, 1), session_id, 1, description, TaskStatus.PENDING, now, now)


async def test_more_due_sessions_than_one_batch_all_get_their_own_tasks(pg_dsn: str) -> None:
    sessions = [f"many-{i}" for i in range(BATCH_SESSIONS + 8)]
    overrides = ["processors.tasktrace.buffer.max_turns=2"]
    async with (
        running_service(pg_dsn, overrides=overrides) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        for sid in sessions:
            await post_traces(http, chat_request(sid, numbered_turns(2, topic=sid)))
        for sid in sessions:
            await flush(http, sid)
        tasks = {sid: await task_list(http, sid) for sid in sessions}
    for sid in sessions:
        assert [t["order"] for t in tasks[sid]] == [1, 2], sid
        assert all(t["session_id"] == sid for t in tasks[sid])
        assert all(t["status"] == "success" for t in tasks[sid]), tasks[sid]


async def test_a_moved_cursor_discards_only_that_sessions_result(pg_dsn: str) -> None:
    async with (
        running_service(pg_dsn, overrides=HOLD) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        for sid in ("kept", "moved"):
            await post_traces(http, chat_request(sid, numbered_turns(1)))
        pg = service.config.exporters.postgres
        pool = open_pool(pg_dsn, pg.schema_name, max_size=2, timeout=10)
        await pool.open(wait=True)
        try:
            store = PostgresTasks(pool)
            snaps = await store.snapshots(["kept", "moved", "unknown"], limit=10, context=0)
            assert sorted(snaps) == ["kept", "moved"]
            assert [m.seq for m in snaps["kept"].messages] == [0, 1]
            # another writer processes "moved" first
            first = Commit(snaps["moved"], 1, (_task("moved", "first writer"),))
            assert await store.commit_many([first]) == set()
            late = [
                Commit(snaps["kept"], 1, (_task("kept", "kept result"),), (5, 7)),
                Commit(snaps["moved"], 1, (_task("moved", "late writer"),)),
            ]
            assert await store.commit_many(late) == {"moved"}
            after = await store.snapshots(["kept", "moved"], limit=10, context=10)
        finally:
            await pool.close()
    assert [t.description for t in after["kept"].tasks] == ["kept result"]
    assert [t.description for t in after["moved"].tasks] == ["first writer"]
    assert (after["kept"].cursor, after["moved"].cursor) == (1, 1)
    assert after["kept"].messages == ()
    assert [m.seq for m in after["kept"].context] == [0, 1]


async def test_a_commit_links_each_message_to_its_task(pg_dsn: str) -> None:
    async with (
        running_service(pg_dsn, overrides=HOLD) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        await post_traces(http, chat_request("linked", numbered_turns(2)))
        pg = service.config.exporters.postgres
        pool = open_pool(pg_dsn, pg.schema_name, max_size=2, timeout=10)
        await pool.open(wait=True)
        try:
            store = PostgresTasks(pool)
            snap = (await store.snapshots(["linked"], limit=2, context=0))["linked"]
            ids = tuple(m.id for m in snap.messages)
            task = replace(_task("linked", "first"), message_ids=ids[:1])
            assert await store.commit_many([Commit(snap, 1, (task,))]) == set()
            snap = (await store.snapshots(["linked"], limit=2, context=0))["linked"]
            grown = replace(snap.tasks[0], message_ids=(*ids, snap.messages[0].id), revision=2)
            assert await store.commit_many([Commit(snap, 2, (grown,))]) == set()
        finally:
            await pool.close()
        page = await http.get("/api/v1/sessions/linked/messages")
    by_seq = {m["seq"]: m["task_id"] for m in page.json()["items"]}
    assert by_seq == {0: task.id, 1: task.id, 2: task.id, 3: ""}


async def test_one_commit_of_several_tasks_keeps_their_history_in_order_and_the_last_link(
    pg_dsn: str,
) -> None:
    async with (
        running_service(pg_dsn, overrides=HOLD) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        await post_traces(http, chat_request("several", numbered_turns(2)))
        pg = service.config.exporters.postgres
        pool = open_pool(pg_dsn, pg.schema_name, max_size=2, timeout=10)
        await pool.open(wait=True)
        try:
            store = PostgresTasks(pool)
            snap = (await store.snapshots(["several"], limit=4, context=0))["several"]
            ids = tuple(m.id for m in snap.messages)
            at = datetime.now(UTC)
            history = tuple(
                StatusChange(status, at, f"step {i}")
                for i, status in enumerate(
                    (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.SUCCESS)
                )
            )
            first = replace(
                _task("several", "first"), message_ids=ids[:2], history=history, progress=("a", "b")
            )
            second = Task(
                task_id("several", 2),
                "several",
                2,
                "second",
                TaskStatus.PENDING,
                at,
                at,
                message_ids=ids[1:],
                history=history[:1],
                preferences=("window seat",),
            )
            assert await store.commit_many([Commit(snap, 3, (first, second))]) == set()
            after = (await store.snapshots(["several"], limit=4, context=0))["several"]
        finally:
            await pool.close()
        page = await http.get("/api/v1/sessions/several/messages")
    by_seq = {m["seq"]: m["task_id"] for m in page.json()["items"]}
    # the second task links message 1 too: it is written after the first, as row by row
    assert by_seq == {0: first.id, 1: second.id, 2: second.id, 3: second.id}
    stored = {t.order: t for t in after.tasks}
    assert [c.reason for c in stored[1].history] == ["step 0", "step 1", "step 2"]
    assert [c.status for c in stored[1].history] == [c.status for c in history]
    assert stored[1].progress == ("a", "b")
    assert stored[2].preferences == ("window seat",)
    assert stored[2].message_ids == ids[1:]
