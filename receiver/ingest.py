"""Ingest: batches in, durable session transcripts out.

Batches are processed one at a time (the caller serialises them), so the
in-memory session index never races with itself. Everything a batch changes
is written by :meth:`TranscriptStore.write` in one transaction; only then is
the batch acknowledged. If the write fails, the touched sessions are evicted
from memory and reloaded from the store next time.

Several instances may share the store. The write checks, under per-session
locks, that the plan started from the stored chain (``WritePlan.bases``); when
another instance wrote first (:class:`StaleTranscript`), the touched sessions
are reloaded and the batch is planned again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from tasktrace.errors import StaleTranscript, StoreUnavailable
from tasktrace.model import ChatMessage, Message, Role
from tasktrace.receiver.batch import BatchContent, Call, ToolSpan
from tasktrace.receiver.sessions import TraceFacts
from tasktrace.receiver.tool_match import ToolLedger, reports_error
from tasktrace.receiver.transcript import chain_hashes, merge, window_chains
from tasktrace.records import (
    NewMessage,
    SessionWrite,
    StoredTrace,
    TraceWrite,
    TranscriptState,
    WritePlan,
)
from tasktrace.stores import TranscriptStore


@dataclass(slots=True)
class _Session:
    state: TranscriptState
    ledger: ToolLedger
    keyed: bool
    service: str = ""
    #: the session's version as last read from or written to the store
    stored_version: int = 0


#: plans of one batch before a store that keeps changing under it is reported busy
_REPLANS = 8


def message_id(session_id: str, chain: bytes) -> str:
    return hashlib.blake2b(session_id.encode() + chain, digest_size=8).hexdigest()


class Ingestor:
    """Turns read batches into write plans, keeping a bounded session index."""

    def __init__(self, store: TranscriptStore, *, max_sessions: int = 100_000) -> None:
        self._store = store
        self._max_sessions = max_sessions
        self._sessions: dict[str, _Session] = {}
        self._traces: dict[str, StoredTrace] = {}
        self._tails: dict[bytes, str] = {}  # transcript end -> session
        self._tail_of: dict[str, bytes] = {}

    async def ingest(self, batch: BatchContent) -> WritePlan:
        """Plan, write and return what ``batch`` changed. Raises StoreUnavailable."""
        for _ in range(_REPLANS):
            plan = WritePlan()
            try:
                await self._plan(batch, plan)
                if plan.sessions:
                    await self._store.write(plan)
            except StaleTranscript:
                self._forget(plan)  # another instance wrote first: reload, plan again
                continue
            except BaseException:
                self._forget(plan)
                raise
            for sid in plan.sessions:  # each write counts one version
                entry = self._sessions.get(sid)
                if entry is not None:
                    entry.stored_version = plan.bases[sid] + 1
            self._evict_if_needed()
            return plan
        raise StoreUnavailable(f"sessions kept changing during {_REPLANS} plans of one batch")

    async def _plan(self, batch: BatchContent, plan: WritePlan) -> None:
        unknown = [t for t in batch.traces if t not in self._traces]
        if unknown:
            self._traces.update(await self._store.load_traces(unknown))
        plan.trace_bases.update(
            (t, self._traces[t].session_id if t in self._traces else "") for t in batch.traces
        )
        await self._preload(batch)
        calls_by_trace: dict[str, list[Call]] = {}
        for call in batch.calls:
            calls_by_trace.setdefault(call.trace_id, []).append(call)
        sessions: dict[str, str] = {}

        async def session_of(trace_id: str) -> str:
            # resolved lazily, in call order, so that an unkeyed trace can link
            # to a session an earlier call of this same batch started
            if trace_id not in sessions:
                facts = batch.traces[trace_id]
                sessions[trace_id] = await self._resolve(
                    facts, calls_by_trace.get(trace_id, []), plan
                )
            return sessions[trace_id]

        for call in batch.calls:
            sid = await session_of(call.trace_id)
            await self._merge_call(call, sid, batch.traces[call.trace_id], plan)
        for trace_id in batch.traces:
            await session_of(trace_id)
        plan.contentless.update(sessions[trace_id] for trace_id in batch.empty_calls)
        flagged: set[tuple[str, int]] = set()
        for tool in batch.tool_spans:
            flagged.update(await self._record_tool(tool, sessions[tool.trace_id], plan))
        _apply_error_flags(plan, flagged)
        for trace_id, facts in batch.traces.items():
            sid = sessions[trace_id]
            entry = self._sessions.get(sid)
            keyed = (
                bool(facts.session_key) or self._traces.get(trace_id, StoredTrace(sid, False)).keyed
            )
            self._traces[trace_id] = StoredTrace(sid, keyed)
            plan.traces.append(
                TraceWrite(
                    trace_id, sid, keyed, facts.root_span_id, facts.last_span_id, facts.service
                )
            )
            if entry is not None:
                self._touch(plan, sid, entry, facts, 0)
        for sid, write in plan.sessions.items():  # the pairing left open, for any instance
            if sid in self._sessions:
                plan.sessions[sid] = replace(write, tool_state=self._sessions[sid].ledger.dump())

    async def _resolve(self, facts: TraceFacts, calls: list[Call], plan: WritePlan) -> str:
        known = self._traces.get(facts.trace_id)
        if facts.session_key:
            if known is not None and known.session_id != facts.session_key and not known.keyed:
                await self._rehome(known.session_id, facts.session_key, plan)
            await self._session(facts.session_key, keyed=True)
            return facts.session_key
        if known is not None:
            if not known.keyed and calls and await self._is_placeholder(known.session_id):
                # the trace's spans came before its content (logs): link it now
                linked = await self._link_by_history(calls)
                if linked and linked != known.session_id:
                    await self._rehome(known.session_id, linked, plan)
                    return linked
            return known.session_id
        linked = await self._link_by_history(calls)
        if linked:
            return linked
        await self._session(facts.trace_id, keyed=False)
        return facts.trace_id

    async def _link_by_history(self, calls: Iterable[Call]) -> str:
        """An unkeyed trace whose calls continue a session's transcript
        from its very end belongs to that session (libraries that start a
        new trace per model call and record no session id).

        Only a call's input counts: a continuation re-sends the session's end
        as history, while a new conversation that shares the opening of one
        (the same first message, the same first answer) only repeats it."""
        chains = [c for call in calls for c in call.chains[: _input_count(call)]]
        if not chains:
            return ""
        found = {c: self._tails[c] for c in chains if c in self._tails}
        missing = [c for c in chains if c not in found]
        if missing:
            found.update(await self._store.find_tails(missing))
        for chain in reversed(chains):
            if chain in found:
                return found[chain]
        return ""

    async def _is_placeholder(self, session_id: str) -> bool:
        """An unkeyed session without messages: made for a trace seen before its content."""
        entry = await self._session(session_id, keyed=False)
        return entry.state.next_seq == 0

    async def _preload(self, batch: BatchContent) -> None:
        """Load the batch's sessions not in memory in one store call rather than
        one by one (a round trip each): keyed ones, and those of new unkeyed
        traces (a request of 100k such traces took minutes)."""
        keys = {f.session_key for f in batch.traces.values() if f.session_key}
        keys.update(
            t for t, f in batch.traces.items() if not f.session_key and t not in self._traces
        )
        missing = [k for k in keys if k not in self._sessions]
        if len(missing) < 2:
            return
        loaded = await self._store.load_transcripts(missing)
        for session_id in missing:
            self._sessions[session_id] = _cached(loaded.get(session_id), keyed=False)

    async def _session(self, session_id: str, *, keyed: bool) -> _Session:
        entry = self._sessions.get(session_id)
        if entry is None:
            entry = _cached(await self._store.load_transcript(session_id), keyed=keyed)
            self._sessions[session_id] = entry
        entry.keyed = entry.keyed or keyed
        return entry

    async def _rehome(self, old: str, new: str, plan: WritePlan) -> None:
        """Move an unkeyed session's transcript into the session its key names."""
        loaded = await self._store.load_transcript(old)
        plan.bases.setdefault(old, loaded[0].version if loaded else 0)
        moving = self._sessions.pop(old, None)
        self._tails.pop(self._tail_of.pop(old, b""), None)
        for trace_id, stored in list(self._traces.items()):
            if stored.session_id == old:
                self._traces[trace_id] = StoredTrace(new, True)
        plan.rehomes.append((old, new))
        target = await self._session(new, keyed=True)
        # tool runs seen before their results (a trace whose spans came before
        # the content that tied it to a session) keep their error flags
        for run in moving.ledger.take_runs() if moving else ():
            plan.error_flags.extend((new, seq) for seq in target.ledger.on_run(run))
        if loaded is None:
            return
        _, previous = loaded
        chats = [_chat(m) for m in previous]
        for item in merge(target.state, chats, chain_hashes(chats)):
            moved = replace(
                previous[item.index], id=message_id(new, item.chain), session_id=new, seq=item.seq
            )
            if target.ledger.on_message(moved):
                moved = replace(moved, error=True)
            plan.messages.append((moved, item.chain))

    async def _merge_call(self, call: Call, sid: str, facts: TraceFacts, plan: WritePlan) -> None:
        entry = await self._session(sid, keyed=bool(facts.session_key))
        chains = call.chains
        if call.content.history_start:
            chains = window_chains(entry.state, call.content.messages, call.content.history_start)
        added = merge(entry.state, call.content.messages, chains)
        if not added:
            return
        outputs_from = _input_count(call)
        for item in added:
            at = call.end_ns if item.index >= outputs_from else call.start_ns
            message = self._message(
                sid, item, item.message, call.trace_id, call.span_id, at, call.content.model
            )
            error = entry.ledger.on_message(message)
            if error or (message.role is Role.TOOL and reports_error(message.content)):
                message = _with_error(message)
            plan.messages.append((message, item.chain))
        self._touch(plan, sid, entry, facts, call.end_ns)

    async def _record_tool(
        self, tool: ToolSpan, sid: str, plan: WritePlan
    ) -> list[tuple[str, int]]:
        entry = await self._session(sid, keyed=False)
        if sid not in plan.sessions:
            self._touch(plan, sid, entry, None, 0)
        return [(sid, seq) for seq in entry.ledger.on_run(tool.run)]

    def _message(
        self,
        sid: str,
        item: NewMessage,
        msg: ChatMessage,
        trace_id: str,
        span_id: str,
        at: int,
        model: str,
    ) -> Message:
        return Message(
            id=message_id(sid, item.chain),
            session_id=sid,
            seq=item.seq,
            role=msg.role,
            content=msg.content,
            tool_calls=msg.tool_calls,
            tool_call_id=msg.tool_call_id,
            tool_name=msg.tool_name,
            error=msg.error,
            trace_id=trace_id,
            span_id=span_id,
            time_ns=at,
            model=model if msg.role is Role.ASSISTANT else "",
        )

    def _touch(
        self, plan: WritePlan, sid: str, entry: _Session, facts: TraceFacts | None, at: int
    ) -> None:
        prev = plan.sessions.get(sid)
        plan.bases.setdefault(sid, entry.stored_version)
        service = entry.service or (facts.service if facts else "")
        entry.service = service
        old = self._tail_of.get(sid)
        if old is not None and self._tails.get(old) == sid:
            del self._tails[old]
        self._tail_of[sid] = entry.state.tail
        self._tails[entry.state.tail] = sid
        plan.sessions[sid] = SessionWrite(
            id=sid,
            service=service,
            keyed=entry.keyed,
            disabled=(facts.disabled if facts else False) or (prev.disabled if prev else False),
            tail=entry.state.tail,
            next_seq=entry.state.next_seq,
            last_message_ns=max(at, prev.last_message_ns if prev else 0) or time.time_ns(),
        )

    def _forget(self, plan: WritePlan) -> None:
        for sid in {
            *plan.sessions,
            *plan.bases,
            *(m.session_id for m, _ in plan.messages),
            *(n for _, n in plan.rehomes),
        }:
            self._sessions.pop(sid, None)
        self._traces.clear()
        self._tails.clear()
        self._tail_of.clear()

    def _evict_if_needed(self) -> None:
        while len(self._sessions) > self._max_sessions:
            self._sessions.pop(next(iter(self._sessions)))
        if len(self._traces) > 4 * self._max_sessions:
            self._traces.clear()
        if len(self._tails) > 4 * self._max_sessions:
            self._tails.clear()
            self._tail_of.clear()


def _cached(loaded: tuple[TranscriptState, list[Message]] | None, *, keyed: bool) -> _Session:
    """A session's cache entry from what the store holds (None: a new session)."""
    if loaded is None:
        return _Session(state=TranscriptState(), ledger=ToolLedger(), keyed=keyed)
    state, messages = loaded
    ledger = ToolLedger.restore(state.tool_state, messages)
    return _Session(state=state, ledger=ledger, keyed=keyed, stored_version=state.version)


def _input_count(call: Call) -> int:
    """How many of a call's messages are its input (history), not its output."""
    return len(call.content.messages) - call.content.output_count


def _chat(message: Message) -> ChatMessage:
    return ChatMessage(
        message.role,
        message.content,
        message.tool_calls,
        message.tool_call_id,
        message.tool_name,
        message.error,
    )


def _apply_error_flags(plan: WritePlan, flagged: set[tuple[str, int]]) -> None:
    """Flag results written in this batch in place; the rest become updates."""
    for i, (message, chain) in enumerate(plan.messages):
        key = (message.session_id, message.seq)
        if key in flagged:
            plan.messages[i] = (_with_error(message), chain)
            flagged.discard(key)
    plan.error_flags.extend(sorted(flagged))


def _with_error(message: Message) -> Message:
    return replace(message, error=True)
