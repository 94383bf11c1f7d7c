"""The Postgres side of ingest: :class:`~tasktrace.receiver.ingest.TranscriptStore`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tasktrace.exporter.postgres import connection, fetch
from tasktrace.exporter.rows import MESSAGE_COLUMNS, message_from_row
from tasktrace.model import Message, ToolCall
from tasktrace.receiver.ingest import StoredTrace, WritePlan
from tasktrace.receiver.transcript import TranscriptState


class PostgresTranscripts:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def load_traces(self, trace_ids: Sequence[str]) -> dict[str, StoredTrace]:
        rows = await self._fetch(
            "SELECT trace_id, session_id, keyed FROM traces WHERE trace_id = ANY(%s)",
            (list(trace_ids),),
        )
        return {r[0]: StoredTrace(r[1], r[2]) for r in rows}

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        rows = await self._fetch(
            "SELECT tail, id FROM sessions WHERE tail = ANY(%s)", (list(chains),)
        )
        return {bytes(r[0]): r[1] for r in rows}

    async def load_transcript(
        self, session_id: str
    ) -> tuple[TranscriptState, list[Message]] | None:
        return (await self.load_transcripts([session_id])).get(session_id)

    async def load_transcripts(
        self, session_ids: Sequence[str]
    ) -> dict[str, tuple[TranscriptState, list[Message]]]:
        # one round trip: each session's head on every row of its messages (a
        # session without messages gives one row of NULL message columns)
        rows = await self._fetch(
            f"SELECT s.id, s.next_seq, s.tail, m.chain, {_prefixed('m.', MESSAGE_COLUMNS)}"
            " FROM sessions s LEFT JOIN messages m ON m.session_id = s.id"
            " WHERE s.id = ANY(%s) ORDER BY s.id, m.seq",
            (list(session_ids),),
        )
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row)
        return {sid: _transcript(group) for sid, group in grouped.items()}

    async def write(self, plan: WritePlan) -> None:
        # one pipeline: the statements go out together, one round trip for all
        async with (
            connection(self._pool) as conn,
            conn.transaction(),
            conn.pipeline(),
            conn.cursor() as cur,
        ):
            for old, new in plan.rehomes:
                await cur.execute("DELETE FROM sessions WHERE id = %s", (old,))
                await cur.execute(
                    "UPDATE traces SET session_id = %s, keyed = true WHERE session_id = %s",
                    (new, old),
                )
            await self._write_sessions(cur, plan)
            await self._write_messages(cur, plan)
            if plan.error_flags:
                await cur.executemany(
                    "UPDATE messages SET error = true WHERE session_id = %s AND seq = %s",
                    plan.error_flags,
                )
            await self._write_traces(cur, plan)

    async def _write_sessions(self, cur: psycopg.AsyncCursor, plan: WritePlan) -> None:
        await cur.executemany(
            "INSERT INTO sessions AS s (id, service, keyed, disabled, next_seq, message_count,"
            " tail, last_message_at) VALUES (%s, %s, %s, %s, %s, %s, %s, to_timestamp(%s / 1e9))"
            " ON CONFLICT (id) DO UPDATE SET"
            " service = CASE WHEN s.service = '' THEN excluded.service ELSE s.service END,"
            " keyed = s.keyed OR excluded.keyed, disabled = s.disabled OR excluded.disabled,"
            " updated_at = now(),"
            " last_message_at = GREATEST(s.last_message_at, excluded.last_message_at),"
            " tail = CASE WHEN excluded.next_seq >= s.next_seq THEN excluded.tail ELSE s.tail END,"
            " next_seq = GREATEST(s.next_seq, excluded.next_seq),"
            " message_count = GREATEST(s.next_seq, excluded.next_seq)",
            [
                (
                    s.id,
                    s.service,
                    s.keyed,
                    s.disabled,
                    s.next_seq,
                    s.next_seq,
                    s.tail,
                    s.last_message_ns,
                )
                for s in sorted(plan.sessions.values(), key=lambda s: s.id)
            ],
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
        await cur.executemany(
            "INSERT INTO traces AS t"
            " (trace_id, session_id, keyed, root_span_id, last_span_id, service)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (trace_id) DO UPDATE SET"
            " session_id = excluded.session_id, keyed = t.keyed OR excluded.keyed,"
            " root_span_id = CASE WHEN excluded.root_span_id = '' THEN t.root_span_id"
            "   ELSE excluded.root_span_id END,"
            " last_span_id = CASE WHEN excluded.last_span_id = '' THEN t.last_span_id"
            "   ELSE excluded.last_span_id END,"
            " service = CASE WHEN t.service = '' THEN excluded.service ELSE t.service END,"
            " last_seen = now()",
            sorted(
                (t.trace_id, t.session_id, t.keyed, t.root_span_id, t.last_span_id, t.service)
                for t in plan.traces
            ),
        )

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await fetch(self._pool, query, params)


def _clean(text: str) -> str:
    """Postgres text (and jsonb) cannot hold NUL; lone surrogates cannot be encoded.
    (A tool call's arguments holding ``\\u0000`` failed its whole request: found by fuzzing.)"""
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def _prefixed(prefix: str, columns: str) -> str:
    return ", ".join(prefix + c.strip() for c in columns.split(","))


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
    return {"id": _clean(call.id), "name": _clean(call.name), "arguments": _clean(call.arguments)}
