"""Extraction quality end to end: labeled conversations replayed as OTLP through
the real receiver and pipeline, tasks read back through the query API, scored.

:func:`evaluate` starts one in-process :class:`~tasktrace.server.pipeline.Service` on
free 127.0.0.1 ports with a fresh Postgres schema (an embedded PostgreSQL in a
temporary directory when no DSN is given), buffering so that only a flush
extracts. Per conversation, with a bounded number in flight: encode it as the
chosen library would (:mod:`tasktrace.evaluation.replay`), send it over OTLP/HTTP, flush
its session, read its transcript and tasks, score (:mod:`tasktrace.evaluation.scoring`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tasktrace.config import Config, load_config
from tasktrace.evaluation.client import FLUSH_DEADLINE, EvalClient, EvaluationError
from tasktrace.evaluation.dataset import LabeledConversation, load_conversations
from tasktrace.evaluation.replay import DEFAULT_ENCODER, Encoder, encoder, plan
from tasktrace.evaluation.scoring import ConversationScore, Score, aggregate, score_conversation
from tasktrace.server.embedded import EmbeddedPostgres
from tasktrace.server.pipeline import Service

#: (conversations done, conversations in all)
Progress = Callable[[int, int], None]

SYSTEM_PROMPT = "You are a helpful assistant. Use the tools when they help."
#: only a flush extracts: no session reaches these while it is being replayed
_NO_AUTOMATIC_EXTRACTION = (
    "processors.tasktrace.buffer.max_turns=10000",
    "processors.tasktrace.buffer.idle_timeout=24h",
    # replayed timestamps lie in the past: open tasks must not expire mid-run
    "processors.tasktrace.task_ttl=87600h",
)


@dataclass(frozen=True, slots=True)
class ConversationResult:
    """One conversation: where it landed, its score, the extractor's tokens."""

    id: str
    session_id: str
    score: ConversationScore
    input_tokens: int = 0
    output_tokens: int = 0
    #: False when extraction had not caught up by the flush deadline (scored as it stood)
    flushed: bool = True
    #: its expected statuses are an outcome verdict the trace does not show
    status_is_verdict: bool = False


@dataclass(frozen=True, slots=True)
class Evaluation:
    score: Score
    conversations: tuple[ConversationResult, ...]
    dataset: str
    extractor: str
    dialect: str
    model: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The score's fields at the top level, then how the run was made,
        the extractor's token use and per-conversation results."""
        out = self.score.to_dict()
        tokens_in = sum(c.input_tokens for c in self.conversations)
        tokens_out = sum(c.output_tokens for c in self.conversations)
        count = max(len(self.conversations), 1)
        out.update(
            dataset=self.dataset,
            extractor=self.extractor,
            dialect=self.dialect,
            model=self.model,
            seconds=round(self.seconds, 2),
            sessions_missing=[c.id for c in self.conversations if not c.session_id],
            flush_timeouts=[c.id for c in self.conversations if not c.flushed],
            status_verdicts=sum(1 for c in self.conversations if c.status_is_verdict),
            tokens={
                "input": tokens_in,
                "output": tokens_out,
                "input_per_conversation": round(tokens_in / count, 1),
                "output_per_conversation": round(tokens_out / count, 1),
            },
            per_conversation=[_conversation_dict(c) for c in self.conversations],
        )
        return out


def _conversation_dict(result: ConversationResult) -> dict[str, Any]:
    score = asdict(result.score)
    score["statuses"] = [list(pair) for pair in result.score.statuses]
    del score["id"]
    return {
        "id": result.id,
        "session_id": result.session_id,
        **score,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "flushed": result.flushed,
    }


def eval_config(
    dsn: str,
    *,
    extractor: str = "heuristic",
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """The service config of a run: free local ports, a fresh schema, flush-only
    extraction; ``overrides`` (``KEY=VALUE``) come last and win."""
    base = [
        "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
        "receivers.otlp.protocols.http.endpoint=127.0.0.1:0",
        f"exporters.postgres.dsn={dsn}",
        f"exporters.postgres.schema=eval_{uuid.uuid4().hex[:12]}",
        "exporters.otlp.endpoint=",
        f"processors.tasktrace.extractor.type={extractor}",
        *_NO_AUTOMATIC_EXTRACTION,
    ]
    return load_config(None, overrides=[*base, *overrides], environ=environ)


@asynccontextmanager
async def scratch_database(dsn: str | None) -> AsyncIterator[tuple[str, Path]]:
    """``(dsn, scratch dir)``: the given DSN, or an embedded PostgreSQL of its own."""
    with tempfile.TemporaryDirectory(prefix="tasktrace-eval-") as scratch:
        if dsn:
            yield dsn, Path(scratch)
            return
        server = EmbeddedPostgres(Path(scratch) / "postgres")
        uri = await asyncio.to_thread(server.start)
        try:
            yield uri, Path(scratch)
        finally:
            await asyncio.to_thread(server.stop)


async def evaluate(
    path: str | Path,
    *,
    extractor: str = "heuristic",
    dialect: str = DEFAULT_ENCODER,
    limit: int | None = None,
    dsn: str | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    concurrency: int = 8,
    flush_deadline: float = FLUSH_DEADLINE,
    progress: Progress | None = None,
) -> Evaluation:
    """Replay the conversations of the dataset ``path`` (the first ``limit``)
    through a real service and score the tasks it extracts.

    ``flush_deadline`` bounds the wait for one session's extraction; a session
    still behind then is scored as it stands and listed in ``flush_timeouts``.
    Raises ConfigError (bad ``overrides``), KeyError (unknown ``dialect``),
    OSError/ValueError (unreadable dataset), EvaluationError (delivery failed).
    The schema the run used is dropped at the end.
    """
    encode = encoder(dialect)
    conversations = load_conversations(path)[:limit]
    started = time.perf_counter()
    async with scratch_database(dsn) as (uri, scratch):
        config = eval_config(uri, extractor=extractor, overrides=overrides, environ=environ)
        schema = config.exporters.postgres.schema_name
        try:
            async with Service(config, scratch) as service:
                results = await _replay_all(
                    service.endpoints.http,
                    conversations,
                    encode,
                    concurrency=concurrency,
                    flush_deadline=flush_deadline,
                    progress=progress,
                )
            tokens = await _session_tokens(uri, schema)
        finally:
            if dsn:
                await _drop_schema(uri, schema)
    results = [_with_tokens(r, *tokens.get(r.session_id, (0, 0))) for r in results]
    llm = config.processors.tasktrace.extractor.llm
    return Evaluation(
        score=aggregate([r.score for r in results]),
        conversations=tuple(results),
        dataset=str(path),
        extractor=extractor,
        dialect=dialect,
        model=llm.model if extractor == "llm" else "",
        seconds=time.perf_counter() - started,
    )


async def _replay_all(
    endpoint: str,
    conversations: Sequence[LabeledConversation],
    encode: Encoder,
    *,
    concurrency: int,
    flush_deadline: float,
    progress: Progress | None,
) -> list[ConversationResult]:
    """Replay and score every conversation, ``concurrency`` at a time, in order."""
    gate = asyncio.Semaphore(concurrency)
    done = 0
    async with EvalClient(endpoint) as client:

        async def one(conv: LabeledConversation) -> ConversationResult:
            nonlocal done
            async with gate:
                result = await _replay(client, encode, conv, flush_deadline)
            done += 1
            if progress is not None:
                progress(done, len(conversations))
            return result

        if progress is not None:
            progress(0, len(conversations))
        async with asyncio.TaskGroup() as group:
            runs = [group.create_task(one(c)) for c in conversations]
    return [run.result() for run in runs]


async def _replay(
    client: EvalClient, encode: Encoder, conv: LabeledConversation, flush_deadline: float
) -> ConversationResult:
    """Send one conversation, flush its session, read it back and score it."""
    replay = plan(conv, system_prompt=SYSTEM_PROMPT)
    await client.send(encode(replay))
    candidates = (conv.session_id, *replay.trace_ids)
    session_id, flushed = await client.flush_first(candidates, deadline=flush_deadline)
    messages, tasks = await client.read(session_id)
    score = score_conversation(conv, messages, tasks)
    return ConversationResult(
        conv.id, session_id, score, flushed=flushed, status_is_verdict=conv.status_is_verdict
    )


def _with_tokens(result: ConversationResult, tokens_in: int, tokens_out: int) -> ConversationResult:
    return replace(result, input_tokens=tokens_in, output_tokens=tokens_out)


async def _session_tokens(dsn: str, schema: str) -> dict[str, tuple[int, int]]:
    """The extractor's token use per session (``sessions.input_tokens/output_tokens``)."""
    query = sql.SQL("SELECT id, input_tokens, output_tokens FROM {}.sessions").format(
        sql.Identifier(schema)
    )
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(query)
        rows = await cur.fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


async def _drop_schema(dsn: str, schema: str) -> None:
    statement = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(statement)
    except psycopg.Error:  # the run's result stands; a leftover schema is only litter
        pass


__all__ = [
    "ConversationResult",
    "Evaluation",
    "EvaluationError",
    "eval_config",
    "evaluate",
]
