"""The extraction stage: decides when each session is extracted, runs the
extractor, commits results with the cursor, and hands changed tasks on.

Sessions with unprocessed messages found at start-up are extracted first, so
work interrupted by a crash resumes. A failed extraction leaves the messages
pending and is retried with backoff; nothing is dropped.

Instances sharing a database (``poll_interval`` set) keep due times there: each
polls its ``SessionLeases`` for due sessions instead of timing the sessions it
was told about, so a session whose spans reach several instances is extracted
once, when it is due, by whichever claims it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tasktrace.consumers import TaskConsumer
from tasktrace.durations import Every
from tasktrace.errors import StoreUnavailable
from tasktrace.extractor.apply import apply_ops, changed_tasks, expire, tasks_after
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput, Extractor
from tasktrace.extractor.buffer import DueQueue, backoff
from tasktrace.extractor.heuristic import CONTEXT_MESSAGES as HEURISTIC_CONTEXT
from tasktrace.model import Task
from tasktrace.queries import FlushResult, FlushTimeout, NotFound
from tasktrace.stores import Commit, OwnAll, SessionLeases, Snapshot, TaskStore

_log = logging.getLogger(__name__)

#: messages handed to one extractor call; a longer backlog takes several calls
BATCH_LIMIT = 64
#: already-processed messages shown to the extractor for context: as many as the
#: heuristic's decisions look back, so chunked extraction gives the same tasks
CONTEXT_MESSAGES = HEURISTIC_CONTEXT
#: sessions read in one snapshot query and written in one commit transaction
BATCH_SESSIONS = 32
#: seconds between two warnings about failed extractions that will be retried
RETRY_LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class ExtractionStats:
    """``runs``: extractor calls over a session's batch; ``errors``: failed ones
    (each retried later); ``lag_seconds``: how long the oldest due session has
    waited past its due time (0 when none is overdue)."""

    runs: int = 0
    errors: int = 0
    buffered_sessions: int = 0
    in_process: int = 0
    lag_seconds: float = 0.0


class ExtractionScheduler:
    """Runs due sessions in batches: one snapshot query and one commit
    transaction for up to ``BATCH_SESSIONS`` sessions, their extractor calls
    concurrent in between (an LLM extractor bounds its own calls). At most
    ``concurrency`` sessions are in process at once; the earliest due go first.
    Ingest comes first: while export requests are in process (``ingest_waiting``),
    only one extraction batch runs, so senders are answered promptly and the
    backlog, durable in Postgres, is worked off when they pause."""

    def __init__(
        self,
        store: TaskStore,
        extractor: Extractor,
        consumers: Sequence[TaskConsumer] = (),
        *,
        max_turns: int = 16,
        idle_timeout: float = 8.0,
        retry_backoff: float = 2.0,
        max_backoff: float = 300.0,
        task_ttl: float = 1800.0,
        concurrency: int = 64,
        opted_out: Callable[[str, str], bool] | None = None,
        ingest_waiting: Callable[[], int] | None = None,
        leases: SessionLeases | None = None,
        poll_interval: float | None = None,
    ) -> None:
        self._store = store
        self._leases = leases or OwnAll()
        self._poll = poll_interval
        self._extractor = extractor
        self._consumers = list(consumers)
        self._queue = DueQueue(max_turns=max_turns, idle_timeout=idle_timeout)
        self._backoff = (retry_backoff, max_backoff)
        self._ttl = task_ttl
        self._concurrency = concurrency
        self._running: set[str] = set()
        self._committed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._freed = asyncio.Event()  # a batch ended: its slots are free
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._closed = False
        self._opted_out = opted_out or (lambda session_id, service: False)
        self._ingest_waiting = ingest_waiting or (lambda: 0)
        self._runs = 0
        self._errors = 0
        self._retry_log = Every(RETRY_LOG_INTERVAL)

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        if self._poll is None:
            for item in await self._store.backlog():
                state = self._queue.state(item.session_id)
                state.pending, state.forced = item.pending, True
                self._queue.schedule(item.session_id)
        self._tasks = [asyncio.create_task(self._loop()), asyncio.create_task(self._expiry_loop())]
        if self._poll is not None:
            self._tasks.append(asyncio.create_task(self._claim_loop(self._poll)))

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
        if self._poll is not None:
            return  # its due time is in the shared store, set by the write
        state = self._queue.state(session_id)
        state.pending += new_messages
        if new_messages:
            state.last_arrival = time.monotonic()
        self._queue.schedule(session_id)
        self._wake.set()

    def in_process(self, session_id: str) -> bool:
        return session_id in self._running

    def stats(self, now: float | None = None) -> ExtractionStats:
        """Counts for ``/metrics``; ``now`` is monotonic seconds (default: the clock)."""
        now = time.monotonic() if now is None else now
        shared = self._leases.backlog()  # instances sharing a database: their common queue
        return ExtractionStats(
            runs=self._runs,
            errors=self._errors,
            buffered_sessions=len(self._queue) if shared is None else shared[0],
            in_process=len(self._running),
            lag_seconds=self._queue.lag(now, self._running) if shared is None else shared[1],
        )

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        """Extract now and wait until every message stored before the call is processed."""
        snap = await self._store.snapshot(session_id, limit=0, context=0)
        if snap is None:
            raise NotFound(f"no session {session_id!r}")
        target = snap.next_seq - 1
        start_cursor = snap.cursor
        if snap.cursor < target:
            await self._leases.mark_due(session_id)  # for whichever instance claims it
            self._queue.state(session_id).forced = True
            self._queue.schedule(session_id)
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
                # shared: another instance may commit it, so look at the cursor now and then
                wait = left if self._poll is None else min(left, self._poll)
                try:
                    await asyncio.wait_for(self._committed.wait(), timeout=wait)
                except TimeoutError:
                    if self._poll is None:
                        continue
                now_cursor = await self._store.cursor(session_id)
                cursor = target if now_cursor is None else now_cursor
        final = await self._store.snapshot(session_id, limit=0, context=0)
        tasks = final.tasks if final else ()
        return FlushResult(processed=max(0, cursor - start_cursor), tasks=tasks)

    # --- the loop --------------------------------------------------------

    async def _loop(self) -> None:
        while not self._closed:
            now = time.monotonic()
            free = self._concurrency - len(self._running)
            if self._inflight and self._ingest_waiting():
                free = 0  # ingest first: one batch at a time while senders wait
            due = self._queue.pop_due(now, free, self._running) if free > 0 else []
            for i in range(0, len(due), BATCH_SESSIONS):
                self._launch(due[i : i + BATCH_SESSIONS])
            self._wake.clear()
            next_due = self._queue.next_due()
            # when every slot is taken, only a finished batch (which wakes us) frees one
            full = len(due) >= free
            wait = 3600.0 if full or next_due is None else max(0.0, next_due - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _claim_loop(self, interval: float) -> None:
        """Shared store: take the sessions that came due there every ``interval`` s,
        or as soon as a batch ends after a claim that filled every free slot (a
        backlog then goes at the extractor's pace, not ``concurrency`` per interval)."""
        while not self._closed:
            self._freed.clear()  # before the claim: a batch ending during it counts
            free = self._concurrency - len(self._running)
            if self._inflight and self._ingest_waiting():
                free = 0  # ingest first; a claim would only wait here with its lease
            try:
                claimed = await self._leases.due(free, sorted(self._running))
            except StoreUnavailable as exc:
                _log.warning("claiming due sessions failed: %s", exc)
                claimed = []
            for sid in claimed:
                self._queue.state(sid).forced = True
                self._queue.schedule(sid)
                self._wake.set()
            if free and len(claimed) >= free:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), timeout=interval)
            else:
                await asyncio.sleep(interval)

    def _launch(self, sids: list[str]) -> None:
        for sid in sids:
            self._running.add(sid)
            state = self._queue.states[sid]
            state.pending, state.forced = 0, False
        task = asyncio.create_task(self._run(sids))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _run(self, sids: list[str]) -> None:
        held: list[str] = []
        try:
            mine = await self._leases.acquire(sids)
            held = [sid for sid in sids if sid in mine]
            snaps = await self._store.snapshots(held, limit=BATCH_LIMIT, context=CONTEXT_MESSAGES)
            todo = [snaps[sid] for sid in held if sid in snaps and snaps[sid].messages]
            outcomes = await asyncio.gather(
                *(self._extract(snap) for snap in todo), return_exceptions=True
            )
            self._runs += len(todo)
            results = [o for o in outcomes if isinstance(o, Commit)]
            moved = await self._store.commit_many(results)
            done = [r for r in results if r.snapshot.session_id not in moved]
            for result in done:
                self._committed_one(result)
            for sid in moved:
                _log.info("session %s was processed elsewhere; result discarded", sid)
            for snap, outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    await self._failed(snap.session_id, outcome)
            await self._emit_all(done)
        except Exception as exc:  # the store, or a bug: the whole batch retries
            for sid in sids:
                await self._failed(sid, exc)
        finally:
            if held:
                with contextlib.suppress(StoreUnavailable):
                    await self._leases.release(held)
            for sid in sids:
                self._running.discard(sid)
                self._queue.schedule(sid)
            self._wake.set()
            self._freed.set()
            async with self._committed:
                self._committed.notify_all()

    async def _extract(self, snap: Snapshot) -> Commit:
        """One extractor call over a session's next batch of messages."""
        new_cursor = snap.messages[-1].seq
        if snap.disabled or self._opted_out(snap.session_id, snap.service):
            return Commit(snap, new_cursor, ())
        now = datetime.now(UTC)
        request = ExtractionInput(snap.session_id, snap.tasks, snap.messages, now, snap.context)
        result = await self._extractor.extract(request)
        tasks = tasks_after(request, result, self._extractor.name)
        changed = tuple(changed_tasks(snap.tasks, tasks))
        return Commit(snap, new_cursor, changed, (result.input_tokens, result.output_tokens))

    def _committed_one(self, result: Commit) -> None:
        snap = result.snapshot
        state = self._queue.state(snap.session_id)
        state.failures = 0
        if result.new_cursor < snap.next_seq - 1:  # more messages wait than one batch holds
            state.forced = True

    async def _failed(self, sid: str, exc: BaseException) -> None:
        """Leave the session's messages pending and retry it later."""
        self._errors += 1
        state = self._queue.state(sid)
        state.failures += 1
        state.pending = max(state.pending, 1)
        if isinstance(exc, ExtractionFailed | StoreUnavailable):
            delay = backoff(state.failures, initial=self._backoff[0], maximum=self._backoff[1])
            self._log_retry(sid, exc, delay)
        else:
            delay = self._backoff[1]
            _log.error("extraction of session %s failed unexpectedly", sid, exc_info=exc)
        state.retry_at = time.monotonic() + delay
        await self._store.record_error(sid, str(exc) or type(exc).__name__)
        with contextlib.suppress(StoreUnavailable):
            await self._leases.mark_due(sid, delay)  # no instance retries it sooner

    def _log_retry(self, sid: str, exc: BaseException, delay: float) -> None:
        """One warning per ``RETRY_LOG_INTERVAL`` (an outage fails every session
        at once), saying how many failures it stands for; the rest at debug."""
        asked = self._retry_log.asked_if_due(time.monotonic())
        if not asked:
            _log.debug("extraction of session %s failed (%s); retry in %.1fs", sid, exc, delay)
            return
        _log.warning(
            "extraction of session %s failed (%s); retry in %.1fs"
            " (%d other failed extractions since the last warning)",
            sid,
            exc,
            delay,
            asked - 1,
        )

    async def _emit_all(self, results: Sequence[Commit]) -> None:
        """Hand the batch's changed tasks on: one call per source service."""
        by_service: dict[str, list[Task]] = {}
        for result in results:
            by_service.setdefault(result.snapshot.service, []).extend(result.changed)
        for service, changed in by_service.items():
            await self._emit(changed, service)

    async def _emit(self, changed: Sequence[Task], service: str) -> None:
        if not changed:
            return
        for consumer in self._consumers:
            try:
                await consumer.consume(changed, service)
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
                if sid in await self._leases.acquire([sid]):
                    try:
                        count += await self._expire_session(sid, now)
                    finally:
                        await self._leases.release([sid])
            finally:
                self._running.discard(sid)
                self._queue.schedule(sid)  # it may have come due while held
                self._wake.set()
        return count

    async def _expire_session(self, sid: str, now: datetime) -> int:
        snap = await self._store.snapshot(sid, limit=0, context=0)
        if snap is None:
            return 0
        # the snapshot's last activity is fresher than the listing's
        ops = expire(snap.tasks, last_activity=snap.last_message_at, now=now, ttl=self._ttl)
        tasks = apply_ops(snap.tasks, ops, session_id=sid, now=now, extractor="ttl", messages={})
        changed = changed_tasks(snap.tasks, tasks)
        await self._store.save_tasks(changed, snap.tasks, snap.service)
        await self._emit(changed, snap.service)
        return len(changed)
