"""The Postgres side of ingest: :class:`~tasktrace.stores.TranscriptStore`.

Several instances may write the same session: each write first locks its
sessions and checks the plan's view of them (``tasktrace_lock_chains``,
migration 7), and sets each session's ``due_at`` for extraction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from tasktrace.errors import StaleTranscript
from tasktrace.exporter.postgres import connection, fetch, unnest_columns
from tasktrace.exporter.rows import MESSAGE_COLUMNS, column_list, message_from_row
from tasktrace.model import Message, ToolCall
from tasktrace.records import Lookup, StoredTrace, TranscriptState, WritePlan

_TRACES: Query = "SELECT trace_id, session_id, keyed FROM traces WHERE trace_id = ANY(%s)"
_TAILS: Query = "SELECT tail, id FROM sessions WHERE tail = ANY(%s)"
# each session's head on every row of its messages (a session without messages
# gives one row of NULL message columns)
_TRANSCRIPTS = sql.SQL(
    "SELECT s.id, s.next_seq, s.tail, s.version, s.tool_state, m.chain, {}"
    " FROM sessions s LEFT JOIN messages m ON m.session_id = s.id"
    " WHERE s.id = ANY(%s) ORDER BY s.id, m.seq"
).format(column_list(MESSAGE_COLUMNS, "m"))


class PostgresTranscripts:
    """``idle_timeout`` and ``max_turns``: the extraction buffer's, for ``due_at``."""

    def __init__(
        self, pool: AsyncConnectionPool, *, idle_timeout: float = 8.0, max_turns: int = 16
    ) -> None:
        self._pool = pool
        self._idle = idle_timeout
        self._max_turns = max_turns

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        return _tails(await self._fetch(_TAILS, (list(chains),)))

    async def lookup(
        self, trace_ids: Sequence[str], session_ids: Sequence[str], chains: Sequence[bytes]
    ) -> Lookup:
        # one pipeline: the three queries go out together, one round trip for all
        queries = ((_TRACES, trace_ids), (_TRANSCRIPTS, session_ids), (_TAILS, chains))
        results: list[list[tuple[Any, ...]]] = [[], [], []]
        if any(keys for _, keys in queries):
            async with connection(self._pool) as conn, _autocommit(conn), conn.pipeline():
                cursors = [
                    (i, await conn.execute(query, (list(keys),)))
                    for i, (query, keys) in enumerate(queries)
                    if keys
                ]
                for i, cur in cursors:
                    results[i] = list(await cur.fetchall())
        return Lookup(_traces(results[0]), _transcripts(results[1]), _tails(results[2]))

    async def load_transcript(
        self, session_id: str
    ) -> tuple[TranscriptState, list[Message]] | None:
        return _transcripts(await self._fetch(_TRANSCRIPTS, ([session_id],))).get(session_id)

    async def write(self, plan: WritePlan) -> None:
        """Raises :class:`StaleTranscript` (nothing written) when another
        instance changed one of the plan's sessions since it was read."""
        # one pipeline: the statements go out together, one round trip for all;
        # the first takes the locks and checks the plan's view, the others are
        # rolled back if that view was stale
        async with (
            connection(self._pool) as conn,
            conn.transaction(),
            conn.cursor() as check,
        ):
            async with conn.pipeline(), conn.cursor() as cur:
                await check.execute(
                    "SELECT tasktrace_lock_chains(%s, %s, %s, %s, %s, %s)", _lock_args(plan)
                )
                await self._write(cur, plan)
            stale = await check.fetchone()
            if stale is not None and stale[0]:
                raise StaleTranscript(tuple(stale[0].split(",")))

    async def _write(self, cur: psycopg.AsyncCursor, plan: WritePlan) -> None:
        # one statement per table, over arrays, rather than one per row
        for old, new in plan.rehomes:
            # its tasks go with the session (a cascade); their history by hand (no reference)
            await cur.execute(
                "DELETE FROM task_history WHERE task_id IN"
                " (SELECT id FROM tasks WHERE session_id = %s)",
                (old,),
            )
            await cur.execute("DELETE FROM sessions WHERE id = %s", (old,))
            await cur.execute(
                "UPDATE traces SET session_id = %s, keyed = true WHERE session_id = %s",
                (new, old),
            )
        await self._write_sessions(cur, plan)
        await self._write_messages(cur, plan)
        if plan.error_flags:
            await cur.execute(
                "UPDATE messages m SET error = true"
                " FROM unnest(%s::text[], %s::int[]) AS f(session_id, seq)"
                " WHERE m.session_id = f.session_id AND m.seq = f.seq",
                unnest_columns(plan.error_flags, 2),
            )
        await self._write_traces(cur, plan)

    async def _write_sessions(self, cur: psycopg.AsyncCursor, plan: WritePlan) -> None:
        # one statement over arrays rather than one per row (in id order: rows
        # are locked in the same order by every writer)
        rows = sorted(plan.sessions.values(), key=lambda s: s.id)
        if not rows:
            return
        await cur.execute(
            "INSERT INTO sessions AS s (id, service, keyed, disabled, next_seq, message_count,"
            " tail, tool_state, version, last_message_at, due_at)"
            " SELECT id, service, keyed, disabled, next_seq, next_seq, tail, tool_state, 1,"
            " to_timestamp(at_ns / 1e9), CASE WHEN next_seq = 0 THEN NULL"
            " WHEN next_seq >= %s THEN now() ELSE now() + %s * interval '1 second' END"
            " FROM unnest(%s::text[], %s::text[], %s::bool[], %s::bool[], %s::int[],"
            " %s::bytea[], %s::text[], %s::float8[])"
            " AS u(id, service, keyed, disabled, next_seq, tail, tool_state, at_ns)"
            " ON CONFLICT (id) DO UPDATE SET"
            # new messages: due when the buffer is full, else once idle
            " due_at = CASE WHEN excluded.next_seq <= s.next_seq THEN s.due_at"
            "   WHEN excluded.next_seq - 1 - s.cursor_seq >= %s THEN now()"
            "   ELSE now() + %s * interval '1 second' END,"
            " service = CASE WHEN s.service = '' THEN excluded.service ELSE s.service END,"
            " keyed = s.keyed OR excluded.keyed, disabled = s.disabled OR excluded.disabled,"
            " updated_at = now(), version = s.version + 1, tool_state = excluded.tool_state,"
            " last_message_at = GREATEST(s.last_message_at, excluded.last_message_at),"
            " tail = CASE WHEN excluded.next_seq >= s.next_seq THEN excluded.tail ELSE s.tail END,"
            " next_seq = GREATEST(s.next_seq, excluded.next_seq),"
            " message_count = GREATEST(s.next_seq, excluded.next_seq)",
            (
                self._max_turns,
                self._idle,
                *_columns(rows, "id", "service", "keyed", "disabled", "next_seq", "tail"),
                *_columns(rows, "tool_state"),
                [float(s.last_message_ns) for s in rows],
                self._max_turns,
                self._idle,
            ),
        )

    async def _write_messages(self, cur: psycopg.AsyncCursor, plan: WritePlan) -> None:
        if not plan.messages:
            return
        # one statement over one JSON document (serialised in C) rather than one
        # statement per row
        rows = [
            {
                "session_id": m.session_id,
                "seq": m.seq,
                "id": m.id,
                "role": m.role.value,
                "content": _clean(m.content),
                "tool_calls": [_call_json(c) for c in m.tool_calls],
                "tool_call_id": _clean(m.tool_call_id),
                "tool_name": _clean(m.tool_name),
                "error": m.error,
                "trace_id": m.trace_id,
                "span_id": m.span_id,
                "time_ns": m.time_ns,
                "model": _clean(m.model),
                "chain": "\\x" + chain.hex(),
            }
            for m, chain in plan.messages
        ]
        await cur.execute(
            "INSERT INTO messages (session_id, seq, id, role, content, tool_calls, tool_call_id,"
            " tool_name, error, trace_id, span_id, time_ns, model, chain)"
            " SELECT session_id, seq, id, role, content, tool_calls, tool_call_id, tool_name,"
            " error, trace_id, span_id, time_ns, model, chain"
            " FROM json_populate_recordset(NULL::messages, %s::json) ON CONFLICT DO NOTHING",
            (json.dumps(rows, ensure_ascii=False),),
        )

    async def _write_traces(self, cur: psycopg.AsyncCursor, plan: WritePlan) -> None:
        if not plan.traces:
            return
        rows = sorted({t.trace_id: t for t in plan.traces}.values(), key=lambda t: t.trace_id)
        await cur.execute(
            "INSERT INTO traces AS t"
            " (trace_id, session_id, keyed, root_span_id, last_span_id, service)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::bool[], %s::text[], %s::text[],"
            " %s::text[]) ON CONFLICT (trace_id) DO UPDATE SET"
            " session_id = excluded.session_id, keyed = t.keyed OR excluded.keyed,"
            " root_span_id = CASE WHEN excluded.root_span_id = '' THEN t.root_span_id"
            "   ELSE excluded.root_span_id END,"
            " last_span_id = CASE WHEN excluded.last_span_id = '' THEN t.last_span_id"
            "   ELSE excluded.last_span_id END,"
            " service = CASE WHEN t.service = '' THEN excluded.service ELSE t.service END,"
            " last_seen = now()",
            _columns(
                rows, "trace_id", "session_id", "keyed", "root_span_id", "last_span_id", "service"
            ),
        )

    async def _fetch(self, query: Query, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


def _lock_args(plan: WritePlan) -> tuple[Any, ...]:
    """``tasktrace_lock_chains``'s arguments: the lock keys of the plan's
    sessions and unkeyed traces (a trace's own session name), sorted so that
    writers never wait on each other in a cycle; what the plan assumed."""
    names = {*plan.bases, *(t.trace_id for t in plan.traces if not t.keyed)}
    keys = sorted({_lock_key(name) for name in names})
    targets = {t.trace_id: t.session_id for t in plan.traces}
    traces = sorted(plan.trace_bases)
    return (
        keys,
        list(plan.bases),
        list(plan.bases.values()),
        traces,
        [plan.trace_bases[t] for t in traces],
        [targets.get(t, "") for t in traces],
    )


def _lock_key(name: str) -> int:
    digest = hashlib.blake2b(b"tasktrace.session:" + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _clean(text: str) -> str:
    """Postgres text (and jsonb) cannot hold NUL; lone surrogates cannot be encoded.
    (A tool call's arguments holding ``\\u0000`` failed its whole request: found by fuzzing.)"""
    if text.isascii() and "\x00" not in text:  # most text: nothing to change, checked in C
        return text
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


@contextlib.asynccontextmanager
async def _autocommit(conn: psycopg.AsyncConnection) -> AsyncIterator[None]:
    """Autocommit for the block (no BEGIN/COMMIT round trips), then back. A
    connection left busy or broken is not touched: the pool discards it."""
    await conn.set_autocommit(True)
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status is TransactionStatus.IDLE:
            await conn.set_autocommit(False)


def _columns(rows: Sequence[object], *names: str) -> tuple[list[Any], ...]:
    """The named attribute of every row, one list per name: a statement's array parameters."""
    return tuple([getattr(row, name) for row in rows] for name in names)


def _traces(rows: list[tuple[Any, ...]]) -> dict[str, StoredTrace]:
    return {r[0]: StoredTrace(r[1], r[2]) for r in rows}


def _tails(rows: list[tuple[Any, ...]]) -> dict[bytes, str]:
    return {bytes(r[0]): r[1] for r in rows}


def _transcripts(rows: list[tuple[Any, ...]]) -> dict[str, tuple[TranscriptState, list[Message]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return {sid: _transcript(group) for sid, group in grouped.items()}


def _transcript(rows: list[tuple[Any, ...]]) -> tuple[TranscriptState, list[Message]]:
    """A session's merge state and messages from its ``load_transcripts`` rows."""
    next_seq, tail, version, tool_state = rows[0][1:5]
    stored = [r[5:] for r in rows if r[5] is not None]
    messages = [message_from_row(r[1:]) for r in stored]
    state = TranscriptState(
        next_seq=next_seq,
        chains={bytes(r[0]): m.seq for r, m in zip(stored, messages, strict=True)},
        tail=bytes(tail) if tail is not None else b"\x00" * 16,
        version=version,
        tool_state=tool_state,
    )
    return state, messages


def _call_json(call: ToolCall) -> dict[str, str]:
    return {"id": _clean(call.id), "name": _clean(call.name), "arguments": _clean(call.arguments)}
