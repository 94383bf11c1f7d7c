"""The extraction stage: decides when each session is extracted, runs the
extractor, commits results with the cursor, and hands changed tasks on.

Sessions with unprocessed messages found at start-up are extracted first, so
work interrupted by a crash resumes. A failed extraction leaves the messages
pending and is retried with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from tasktrace.exporter.task_store import CursorMoved, PostgresTasks, Snapshot
from tasktrace.extractor.apply import apply_ops, expire
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput, Extractor
from tasktrace.extractor.buffer import BufferState, backoff, due_at
from tasktrace.model import Task
from tasktrace.queries import FlushResult, FlushTimeout, NotFound
from tasktrace.receiver.ingest import StoreUnavailable

_log = logging.getLogger(__name__)

#: messages handed to one extractor call; a longer backlog takes several calls
BATCH_LIMIT = 64
#: already-processed messages shown to the extractor for context
CONTEXT_MESSAGES = 24


class TaskConsumer(Protocol):
    """The next stage: receives every committed task change. Must not block."""

    async def consume(self, tasks: Sequence[Task], service: str) -> None: ...


class ExtractionScheduler:
    def __init__(
        self,
        store: PostgresTasks,
        extractor: Extractor,
        consumers: Sequence[TaskConsumer] = (),
        *,
        max_turns: int = 16,
        idle_timeout: float = 8.0,
        retry_backoff: float = 2.0,
        max_backoff: float = 300.0,
        task_ttl: float = 1800.0,
        concurrency: int = 4,
        opted_out: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._store = store
        self._extractor = extractor
        self._consumers = list(consumers)
        self._max_turns = max_turns
        self._idle = idle_timeout
        self._backoff = (retry_backoff, max_backoff)
        self._ttl = task_ttl
        self._slots = asyncio.Semaphore(concurrency)
        self._buffers: dict[str, BufferState] = {}
        self._running: set[str] = set()
        self._committed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._closed = False
        self._opted_out = opted_out or (lambda session_id, service: False)

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        for item in await self._store.backlog():
            self._buffers[item.session_id] = BufferState(pending=item.pending, forced=True)
        self._tasks = [asyncio.create_task(self._loop()), asyncio.create_task(self._expiry_loop())]

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop scheduling; let running extractions finish within ``timeout``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=timeout)
        for task in (*self._tasks, *self._inflight):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._inflight, return_exceptions=True)
        await self._extractor.aclose()

    # --- inputs ----------------------------------------------------------

    def notify(self, session_id: str, new_messages: int) -> None:
        """New messages were committed for ``session_id`` (called after each ingest)."""
        state = self._buffers.setdefault(session_id, BufferState())
        state.pending += new_messages
        if new_messages:
            state.last_arrival = time.monotonic()
        self._wake.set()

    def in_process(self, session_id: str) -> bool:
        return session_id in self._running

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        """Extract now and wait until every message stored before the call is processed."""
        snap = await self._store.snapshot(session_id, limit=0, context=0)
        if snap is None:
            raise NotFound(f"no session {session_id!r}")
        target = snap.next_seq - 1
        start_cursor = snap.cursor
        if snap.cursor < target:
            self._buffers.setdefault(session_id, BufferState()).forced = True
            self._wake.set()
        deadline = time.monotonic() + timeout
        cursor = snap.cursor
        async with self._committed:
            while cursor < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FlushTimeout(
                        f"session {session_id!r}: {target - cursor} messages still pending"
                    )
                try:
                    await asyncio.wait_for(self._committed.wait(), timeout=left)
                except TimeoutError:
                    continue
                now_snap = await self._store.snapshot(session_id, limit=0, context=0)
                cursor = now_snap.cursor if now_snap else target
        final = await self._store.snapshot(session_id, limit=0, context=0)
        tasks = final.tasks if final else ()
        return FlushResult(processed=max(0, cursor - start_cursor), tasks=tasks)

    # --- the loop --------------------------------------------------------

    async def _loop(self) -> None:
        while not self._closed:
            now = time.monotonic()
            wait = 3600.0
            for sid, state in list(self._buffers.items()):
                if sid in self._running:
                    continue
                when = due_at(state, max_turns=self._max_turns, idle_timeout=self._idle)
                if when is None:
                    del self._buffers[sid]
                elif when <= now:
                    self._launch(sid, state)
                else:
                    wait = min(wait, when - now)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _launch(self, sid: str, state: BufferState) -> None:
        self._running.add(sid)
        state.pending, state.forced = 0, False
        task = asyncio.create_task(self._run(sid, state))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _run(self, sid: str, state: BufferState) -> None:
        try:
            async with self._slots:
                more = await self._extract_once(sid)
            state.failures = 0
            if more:
                state.forced = True
        except (ExtractionFailed, StoreUnavailable) as exc:
            state.failures += 1
            delay = backoff(state.failures, initial=self._backoff[0], maximum=self._backoff[1])
            state.retry_at = time.monotonic() + delay
            state.pending = max(state.pending, 1)
            _log.warning("extraction of session %s failed (%s); retry in %.1fs", sid, exc, delay)
            await self._store.record_error(sid, str(exc) or type(exc).__name__)
        except CursorMoved:
            _log.info("session %s was processed elsewhere; result discarded", sid)
        except Exception:
            state.failures += 1
            state.retry_at = time.monotonic() + self._backoff[1]
            state.pending = max(state.pending, 1)
            _log.exception("extraction of session %s failed unexpectedly", sid)
        finally:
            self._running.discard(sid)
            self._wake.set()
            async with self._committed:
                self._committed.notify_all()

    async def _extract_once(self, sid: str) -> bool:
        """One extractor call over the next batch; True when more messages wait."""
        snap = await self._store.snapshot(sid, limit=BATCH_LIMIT, context=CONTEXT_MESSAGES)
        if snap is None or not snap.messages:
            return False
        new_cursor = snap.messages[-1].seq
        if snap.disabled or self._opted_out(sid, snap.service):
            await self._store.commit(snap, new_cursor=new_cursor, changed=())
            return new_cursor < snap.next_seq - 1
        now = datetime.now(UTC)
        request = ExtractionInput(sid, snap.tasks, snap.messages, now, snap.context)
        result = await self._extractor.extract(request)
        messages = {m.id: m for m in (*snap.context, *snap.messages)}
        tasks = apply_ops(
            snap.tasks,
            result.ops,
            session_id=sid,
            now=now,
            extractor=self._extractor.name,
            messages=messages,
        )
        changed = _changed(snap.tasks, tasks)
        await self._store.commit(
            snap,
            new_cursor=new_cursor,
            changed=changed,
            tokens=(result.input_tokens, result.output_tokens),
        )
        await self._emit(changed, snap)
        return new_cursor < snap.next_seq - 1

    async def _emit(self, changed: Sequence[Task], snap: Snapshot) -> None:
        if not changed:
            return
        for consumer in self._consumers:
            try:
                await consumer.consume(changed, snap.service)
            except Exception:
                _log.exception("task consumer %r failed", consumer)

    # --- expiry ----------------------------------------------------------

    async def _expiry_loop(self) -> None:
        interval = max(1.0, min(60.0, self._ttl / 4))
        while not self._closed:
            await asyncio.sleep(interval)
            try:
                await self.expire_idle(datetime.now(UTC))
            except StoreUnavailable as exc:
                _log.warning("task expiry skipped: %s", exc)

    async def expire_idle(self, now: datetime) -> int:
        """Mark open tasks of sessions idle past the TTL as expired; returns how many."""
        count = 0
        for sid, last in await self._store.open_sessions():
            if sid in self._running or (now - last).total_seconds() <= self._ttl:
                continue
            # held like an extraction, so none starts and commits between our
            # snapshot and our write (that write would undo its changes)
            self._running.add(sid)
            try:
                count += await self._expire_session(sid, now)
            finally:
                self._running.discard(sid)
                self._wake.set()
        return count

    async def _expire_session(self, sid: str, now: datetime) -> int:
        snap = await self._store.snapshot(sid, limit=0, context=0)
        if snap is None:
            return 0
        # the snapshot's last activity is fresher than the listing's
        ops = expire(snap.tasks, last_activity=snap.last_message_at, now=now, ttl=self._ttl)
        tasks = apply_ops(snap.tasks, ops, session_id=sid, now=now, extractor="ttl", messages={})
        changed = _changed(snap.tasks, tasks)
        await self._store.save_tasks(changed, snap.tasks, snap.service)
        await self._emit(changed, snap)
        return len(changed)


def _changed(before: Sequence[Task], after: Sequence[Task]) -> list[Task]:
    old = {t.id: t.revision for t in before}
    return [t for t in after if old.get(t.id) != t.revision]
