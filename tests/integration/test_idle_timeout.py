"""When extraction runs, against the real service: once a session has been quiet
for ``idle_timeout``, and at once when ``max_turns`` new messages wait; never
while messages keep arriving faster than the idle timeout. No flush is called."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.genai_chat import chat_request, numbered_turns
from tests.support.session_api import (
    caught_up,
    post_traces,
    send_turn,
    service_api,
    status,
    task_list,
    wait_for_status,
)

IDLE = 1.0
IDLE_ONLY = [
    f"processors.tasktrace.buffer.idle_timeout={IDLE}s",
    "processors.tasktrace.buffer.max_turns=1000",
]
TURNS_ONLY = [
    "processors.tasktrace.buffer.idle_timeout=1h",
    "processors.tasktrace.buffer.max_turns=4",
]


@pytest.fixture
async def idle_api(pg_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_api(pg_dsn, IDLE_ONLY) as http:
        yield http


@pytest.fixture
async def turns_api(pg_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_api(pg_dsn, TURNS_ONLY) as http:
        yield http


async def test_tasks_appear_once_the_session_was_idle_for_the_timeout(
    idle_api: httpx.AsyncClient,
) -> None:
    await post_traces(idle_api, chat_request("idle-1", numbered_turns(3)))
    acked = time.monotonic()
    assert (await status(idle_api, "idle-1"))["processed"] == 0
    done = await wait_for_status(idle_api, "idle-1", caught_up, timeout=IDLE + 5)
    waited = time.monotonic() - acked
    assert done == {
        "messages": 6, "processed": 6, "pending": 0, "in_process": False, "last_error": "",
    }  # fmt: skip
    assert waited >= IDLE * 0.9
    tasks = await task_list(idle_api, "idle-1")
    assert [t["description"] for t in tasks] == [t.user for t in numbered_turns(3)]


async def test_no_extraction_while_messages_arrive_faster_than_the_idle_timeout(
    idle_api: httpx.AsyncClient,
) -> None:
    turns = numbered_turns(9)
    started = time.monotonic()
    for count in range(1, len(turns) + 1):
        await send_turn(idle_api, "busy-1", turns[:count])
        seen = await status(idle_api, "busy-1")
        assert (seen["messages"], seen["processed"]) == (2 * count, 0)
        if count < len(turns):
            # the next turn comes well inside the idle timeout of the last one
            await _pause_until(started + 0.3 * count)
    last_send = time.monotonic()
    assert last_send - started > 2 * IDLE  # the session was never quiet, but was busy for long
    done = await wait_for_status(idle_api, "busy-1", caught_up, timeout=IDLE + 5)
    assert done["processed"] == 18
    assert time.monotonic() - last_send >= IDLE * 0.9
    assert len(await task_list(idle_api, "busy-1")) == 9


async def test_max_turns_waiting_messages_start_extraction_without_waiting_for_idle(
    turns_api: httpx.AsyncClient,
) -> None:
    turns = numbered_turns(3)
    await send_turn(turns_api, "turns-1", turns[:1])
    # two messages wait: below max_turns, and the idle timeout is an hour away
    assert not await _extracted_within(turns_api, "turns-1", 0.3)
    await send_turn(turns_api, "turns-1", turns[:2])
    done = await wait_for_status(turns_api, "turns-1", caught_up, timeout=5)
    assert (done["processed"], done["pending"]) == (4, 0)
    await send_turn(turns_api, "turns-1", turns[:3])
    assert not await _extracted_within(turns_api, "turns-1", 0.3, already=4)
    assert (await status(turns_api, "turns-1"))["pending"] == 2
    assert [t["order"] for t in await task_list(turns_api, "turns-1")] == [1, 2]


async def _extracted_within(
    http: httpx.AsyncClient, session_id: str, seconds: float, *, already: int = 0
) -> bool:
    """Watch the status for ``seconds``: did ``processed`` move past ``already``?

    Proving that nothing happens needs a bounded observation window."""
    try:
        await wait_for_status(http, session_id, lambda s: s["processed"] > already, timeout=seconds)
    except AssertionError:
        return False
    return True


async def _pause_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))
