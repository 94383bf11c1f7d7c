"""The Postgres side of ingest: :class:`~tasktrace.stores.TranscriptStore`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch
from tasktrace.exporter.rows import MESSAGE_COLUMNS, message_from_row
from tasktrace.model import Message, ToolCall
from tasktrace.records import Lookup, StoredTrace, TranscriptState, WritePlan

_TRACES = "SELECT trace_id, session_id, keyed FROM traces WHERE trace_id = ANY(%s)"
_TAILS = "SELECT tail, id FROM sessions WHERE tail = ANY(%s)"
# each session's head on every row of its messages (a session without messages
# gives one row of NULL message columns)
_M_COLUMNS = ", ".join("m." + c.strip() for c in MESSAGE_COLUMNS.split(","))
_TRANSCRIPTS = (
    f"SELECT s.id, s.next_seq, s.tail, m.chain, {_M_COLUMNS}"
    " FROM sessions s LEFT JOIN messages m ON m.session_id = s.id"
    " WHERE s.id = ANY(%s) ORDER BY s.id, m.seq"
)


class PostgresTranscripts:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def load_traces(self, trace_ids: Sequence[str]) -> dict[str, StoredTrace]:
        return _traces(await self._fetch(_TRACES, (list(trace_ids),)))

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        return _tails(await self._fetch(_TAILS, (list(chains),)))

    async def lookup(
        self, trace_ids: Sequence[str], session_ids: Sequence[str], chains: Sequence[bytes]
    ) -> Lookup:
        # one pipeline: the three queries go out together, one round trip for all
        queries = [(_TRACES, trace_ids), (_TRANSCRIPTS, session_ids), (_TAILS, chains)]
        results: list[list[tuple[Any, ...]]] = [[], [], []]
        wanted = [i for i, (_, keys) in enumerate(queries) if keys]
        if wanted:
            async with connection(self._pool) as conn, _autocommit(conn), conn.pipeline():
                cursors = [
                    (i, await conn.execute(queries[i][0], (list(queries[i][1]),))) for i in wanted
                ]
                for i, cur in cursors:
                    results[i] = list(await cur.fetchall())
        return Lookup(_traces(results[0]), _transcripts(results[1]), _tails(results[2]))

    async def load_transcript(
        self, session_id: str
    ) -> tuple[TranscriptState, list[Message]] | None:
        return (await self.load_transcripts([session_id])).get(session_id)

    async def load_transcripts(
        self, session_ids: Sequence[str]
    ) -> dict[str, tuple[TranscriptState, list[Message]]]:
        return _transcripts(await self._fetch(_TRANSCRIPTS, (list(session_ids),)))

    async def write(self, plan: WritePlan) -> None:
        # one pipeline and one round trip: in autocommit mode the statements up to
        # the pipeline's sync run as one implicit transaction (no BEGIN, no COMMIT
        # round trips); if one fails, the rest are skipped and all is rolled back.
        # Not prepared: a failed pipeline would leave psycopg believing in
        # statements whose Parse the server skipped
        async with (
            connection(self._pool) as conn,
            _autocommit(conn),
            conn.pipeline(),
            conn.cursor() as cur,
        ):
            for old, new in plan.rehomes:
                await cur.execute("DELETE FROM sessions WHERE id = %s", (old,), prepare=False)
                await cur.execute(
                    "UPDATE traces SET session_id = %s, keyed = true WHERE session_id = %s",
                    (new, old),
                    prepare=False,
                )
            await self._write_sessions(cur, plan)
            await self._write_messages(cur, plan)
            if plan.error_flags:
                sessions, seqs = zip(*plan.error_flags, strict=True)
                await cur.execute(
                    "UPDATE messages m SET error = true"
                    " FROM unnest(%s::text[], %s::int[]) AS f(session_id, seq)"
                    " WHERE m.session_id = f.session_id AND m.seq = f.seq",
                    (list(sessions), list(seqs)),
                    prepare=False,
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
            " tail, last_message_at)"
            " SELECT id, service, keyed, disabled, next_seq, next_seq, tail,"
            " to_timestamp(at_ns / 1e9) FROM unnest(%s::text[], %s::text[], %s::bool[],"
            " %s::bool[], %s::int[], %s::bytea[], %s::float8[])"
            " AS u(id, service, keyed, disabled, next_seq, tail, at_ns)"
            " ON CONFLICT (id) DO UPDATE SET"
            " service = CASE WHEN s.service = '' THEN excluded.service ELSE s.service END,"
            " keyed = s.keyed OR excluded.keyed, disabled = s.disabled OR excluded.disabled,"
            " updated_at = now(),"
            " last_message_at = GREATEST(s.last_message_at, excluded.last_message_at),"
            " tail = CASE WHEN excluded.next_seq >= s.next_seq THEN excluded.tail ELSE s.tail END,"
            " next_seq = GREATEST(s.next_seq, excluded.next_seq),"
            " message_count = GREATEST(s.next_seq, excluded.next_seq)",
            (
                [s.id for s in rows],
                [s.service for s in rows],
                [s.keyed for s in rows],
                [s.disabled for s in rows],
                [s.next_seq for s in rows],
                [s.tail for s in rows],
                [float(s.last_message_ns) for s in rows],
            ),
            prepare=False,
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
                "tool_call_id": m.tool_call_id,
                "tool_name": m.tool_name,
                "error": m.error,
                "trace_id": m.trace_id,
                "span_id": m.span_id,
                "time_ns": m.time_ns,
                "model": m.model,
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
            prepare=False,
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
            (
                [t.trace_id for t in rows],
                [t.session_id for t in rows],
                [t.keyed for t in rows],
                [t.root_span_id for t in rows],
                [t.last_span_id for t in rows],
                [t.service for t in rows],
            ),
            prepare=False,
        )

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


def _clean(text: str) -> str:
    """Postgres text cannot hold NUL; lone surrogates cannot be encoded."""
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
    next_seq, tail = rows[0][1], rows[0][2]
    stored = [r[3:] for r in rows if r[3] is not None]
    messages = [message_from_row(r[1:]) for r in stored]
    state = TranscriptState(
        next_seq=next_seq,
        chains={bytes(r[0]): m.seq for r, m in zip(stored, messages, strict=True)},
        tail=bytes(tail) if tail is not None else b"\x00" * 16,
    )
    return state, messages


def _call_json(call: ToolCall) -> dict[str, str]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}
