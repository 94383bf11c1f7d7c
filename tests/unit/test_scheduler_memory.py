"""The extraction scheduler against the in-memory store: no Postgres involved.

It is written against the kernel's :class:`~tasktrace.stores.TaskStore` and
:class:`~tasktrace.stores.SessionLeases`; these tests pin what it promises
through them: extraction on flush, on the idle deadline and at start-up for a
backlog, the cursor as the last guard, retries that lose nothing, and leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from tasktrace.config.extractor import ExtractorConfig
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput, ExtractionResult
from tasktrace.extractor.registry import build_extractor
from tasktrace.extractor.scheduler import ExtractionScheduler
from tasktrace.model import Message, Role, Task, TaskStatus, ToolCall
from tasktrace.stores import Commit, OwnAll
from tests.support.memory_stores import MemoryTasks

SID = "s-1"


def conversation() -> list[Message]:
    call = ToolCall(id="c1", name="book_table", arguments='{"restaurant": "Nopa", "people": 2}')
    return [
        Message("m0", "", 0, Role.USER, "Book me a table for two at Nopa tonight."),
        Message("m1", "", 0, Role.ASSISTANT, tool_calls=(call,)),
        Message("m2", "", 0, Role.TOOL, '{"status": "confirmed"}', tool_call_id="c1"),
        Message("m3", "", 0, Role.ASSISTANT, "Your table for two at Nopa is booked."),
    ]


class Recorder:
    """A task consumer that signals every delivery."""

    def __init__(self) -> None:
        self.delivered: list[Task] = []
        self.event = asyncio.Event()

    async def consume(self, tasks: Sequence[Task], service: str) -> None:
        self.delivered.extend(tasks)
        self.event.set()


@contextlib.asynccontextmanager
async def scheduler(
    store: MemoryTasks, consumer: Recorder, **kwargs: object
) -> AsyncIterator[ExtractionScheduler]:
    """A started scheduler over ``store`` (heuristic extractor unless given), shut down after."""
    kwargs.setdefault("extractor", build_extractor(ExtractorConfig()))
    sched = ExtractionScheduler(store, consumers=[consumer], **kwargs)  # type: ignore[arg-type]
    await sched.start()
    try:
        yield sched
    finally:
        await sched.shutdown()


async def extract_now(sched: ExtractionScheduler, store: MemoryTasks, sid: str = SID) -> int:
    """Store the conversation in ``sid``, notify, flush; the number processed."""
    store.add_messages(sid, conversation())
    sched.notify(sid, 4)
    return (await sched.flush(sid, timeout=5)).processed


async def test_flush_extracts_the_new_messages_and_moves_the_cursor() -> None:
    store, consumer = MemoryTasks(), Recorder()
    async with scheduler(store, consumer) as sched:
        assert await extract_now(sched, store) == 4
    assert store.sessions[SID].cursor == 3
    [task] = store.session_tasks(SID)
    assert "Nopa" in task.description
    assert task.status is TaskStatus.SUCCESS
    assert any("book_table" in step for step in task.progress)
    assert [t.id for t in consumer.delivered] == [task.id]


async def test_a_backlog_found_at_start_is_extracted_without_a_flush() -> None:
    store, consumer = MemoryTasks(), Recorder()
    store.add_messages(SID, conversation())  # stored before a crash, never extracted
    async with scheduler(store, consumer):
        await asyncio.wait_for(consumer.event.wait(), timeout=5)
    assert store.sessions[SID].cursor == 3
    assert len(store.session_tasks(SID)) == 1


async def test_a_session_is_extracted_once_it_has_been_idle() -> None:
    store, consumer = MemoryTasks(), Recorder()
    async with scheduler(store, consumer, max_turns=100, idle_timeout=0.05) as sched:
        store.add_messages(SID, conversation())
        sched.notify(SID, 4)
        assert store.sessions[SID].cursor == -1
        await asyncio.wait_for(consumer.event.wait(), timeout=5)
    assert store.sessions[SID].cursor == 3


class OvertakenTasks(MemoryTasks):
    """Another instance commits the session between our snapshot and our commit."""

    async def commit_many(self, commits: Sequence[Commit]) -> set[str]:
        for c in commits:
            self.sessions[c.snapshot.session_id].cursor = c.new_cursor
        return await super().commit_many(commits)


async def test_a_result_whose_cursor_moved_elsewhere_is_discarded() -> None:
    store, consumer = OvertakenTasks(), Recorder()
    async with scheduler(store, consumer) as sched:
        await extract_now(sched, store)
    assert store.commits == []
    assert store.tasks == {}
    assert consumer.delivered == []


class FailsOnce:
    """The heuristic, after one failed call (an endpoint that was down)."""

    name = "heuristic"

    def __init__(self) -> None:
        self.calls = 0
        self._inner = build_extractor(ExtractorConfig())

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        self.calls += 1
        if self.calls == 1:
            raise ExtractionFailed("endpoint down")
        return await self._inner.extract(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_failed_extraction_keeps_the_messages_pending_and_retries() -> None:
    store, consumer = MemoryTasks(), Recorder()
    extractor = FailsOnce()
    async with scheduler(store, consumer, extractor=extractor, retry_backoff=0.01) as sched:
        await extract_now(sched, store)
    assert extractor.calls == 2
    assert sched.stats().errors == 1
    assert store.sessions[SID].cursor == 3
    assert [c[0] for c in store.commits] == [SID]


class Leases(OwnAll):
    """Leases held elsewhere for ``taken``; records what was released."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.released: list[str] = []

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        return set(session_ids) - self.taken

    async def release(self, session_ids: Sequence[str]) -> None:
        self.released.extend(session_ids)


async def test_a_session_leased_elsewhere_is_left_to_its_holder() -> None:
    other = "s-2"
    store, consumer = MemoryTasks(), Recorder()
    leases = Leases({other})
    async with scheduler(store, consumer, leases=leases, max_turns=1) as sched:
        store.add_messages(other, conversation())
        sched.notify(other, 4)
        await extract_now(sched, store)
    assert store.sessions[SID].cursor == 3
    assert store.sessions[other].cursor == -1
    assert other not in leases.released and SID in leases.released


class SharedLeases(OwnAll):
    """A shared store's leases: ``due_now`` is what the database says is due;
    ``marked`` records flushes and retries."""

    def __init__(self, held_elsewhere: frozenset[str] = frozenset()) -> None:
        self.due_now: list[str] = []
        self.held_elsewhere = held_elsewhere
        self.marked: list[tuple[str, float]] = []
        self.claimed = asyncio.Event()

    async def due(self, limit: int, busy: Sequence[str] = ()) -> list[str]:
        out, self.due_now = self.due_now[:limit], self.due_now[limit:]
        if out:
            self.claimed.set()
        return out

    async def acquire(self, session_ids: Sequence[str]) -> set[str]:
        return set(session_ids) - self.held_elsewhere

    async def mark_due(self, session_id: str, after: float = 0.0) -> None:
        self.marked.append((session_id, after))


async def test_shared_a_session_due_in_the_store_is_extracted_without_a_notify() -> None:
    store, consumer = MemoryTasks(), Recorder()
    leases = SharedLeases()
    async with scheduler(store, consumer, leases=leases, poll_interval=0.01) as sched:
        store.add_messages(SID, conversation())
        sched.notify(SID, 4)  # the due time is the store's: this alone starts nothing
        assert sched.stats().buffered_sessions == 0
        leases.due_now.append(SID)
        await asyncio.wait_for(consumer.event.wait(), timeout=5)
    assert store.sessions[SID].cursor == 3


async def test_shared_a_backlog_is_claimed_as_batches_end_not_once_per_poll() -> None:
    store, consumer = MemoryTasks(), Recorder()
    leases = SharedLeases()
    sids = [f"s-{i}" for i in range(6)]
    for sid in sids:
        store.add_messages(sid, conversation())
    leases.due_now.extend(sids)
    # two slots and an hour between polls: all six are done only if a full
    # claim is followed by another as soon as a batch frees its slots
    async with scheduler(store, consumer, leases=leases, poll_interval=3600, concurrency=2):
        while len({t.session_id for t in consumer.delivered}) < len(sids):
            consumer.event.clear()
            await asyncio.wait_for(consumer.event.wait(), timeout=5)
    assert leases.due_now == []
    assert all(store.sessions[sid].cursor == 3 for sid in sids)


async def test_shared_flush_marks_the_session_due_and_sees_another_instance_commit() -> None:
    store, consumer = MemoryTasks(), Recorder()
    leases = SharedLeases(held_elsewhere=frozenset({SID}))
    async with scheduler(store, consumer, leases=leases, poll_interval=0.01) as sched:
        store.add_messages(SID, conversation())
        flushing = asyncio.create_task(sched.flush(SID, timeout=5))
        while not leases.marked:
            await asyncio.sleep(0)
        store.sessions[SID].cursor = 3  # the holder, elsewhere, committed
        result = await flushing
    assert leases.marked == [(SID, 0.0)]
    assert result.processed == 4
    assert consumer.delivered == []  # not extracted here


class EndpointDown:
    """An extractor whose endpoint is down: every call fails."""

    name = "llm"

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        raise ExtractionFailed("endpoint down")

    async def aclose(self) -> None:
        return None


class ErrorsSeen(MemoryTasks):
    """Signals once ``wanted`` extraction errors have been recorded."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.recorded = 0
        self._wanted = wanted
        self.event = asyncio.Event()

    async def record_error(self, session_id: str, error: str) -> None:
        await super().record_error(session_id, error)
        self.recorded += 1
        if self.recorded >= self._wanted:
            self.event.set()


async def test_an_outage_that_fails_every_session_is_one_warning_not_one_per_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sessions = [f"s-{i}" for i in range(6)]
    store, consumer = ErrorsSeen(len(sessions)), Recorder()
    caplog.set_level(logging.WARNING, logger="tasktrace.extractor.scheduler")
    async with scheduler(store, consumer, extractor=EndpointDown(), max_turns=1) as sched:
        for sid in sessions:
            store.add_messages(sid, conversation())
            sched.notify(sid, 4)
        await asyncio.wait_for(store.event.wait(), timeout=5)
    warnings = [r for r in caplog.records if "failed (endpoint down)" in r.getMessage()]
    assert len(warnings) == 1
    assert all(store.sessions[sid].last_error == "endpoint down" for sid in sessions)
    assert sched.stats().errors >= len(sessions)
