"""Run an extractor over a whole message list, chunk by chunk, the way the live
scheduler feeds a session: each call sees the current tasks, the new messages
and the messages just before them as context. For benchmarks and evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tasktrace.extractor.apply import apply_ops
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput, ExtractionResult, Extractor
from tasktrace.model import Message, Task

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ChunkCall:
    """One extractor call: how many new messages it saw and what it cost."""

    new_messages: int
    seconds: float
    input_tokens: int
    output_tokens: int
    ops: int
    error: str = ""


async def run_in_chunks(
    extractor: Extractor,
    messages: Sequence[Message],
    *,
    chunk: int,
    context: int,
    on_call: Callable[[ChunkCall], None] | None = None,
) -> tuple[Task, ...]:
    """The tasks after feeding ``messages`` in chunks of ``chunk`` (0: all at once).

    A chunk whose extraction fails is counted (``on_call``) and skipped, as the
    live scheduler would retry it; the run goes on with the next chunk.
    """
    size = chunk if chunk > 0 else max(len(messages), 1)
    known = {m.id: m for m in messages}
    tasks: tuple[Task, ...] = ()
    for i, begin in enumerate(range(0, len(messages), size)):
        now = START + timedelta(seconds=i)
        request = ExtractionInput(
            session_id=messages[0].session_id,
            tasks=tasks,
            messages=tuple(messages[begin : begin + size]),
            now=now,
            context=tuple(messages[max(0, begin - context) : begin]),
        )
        started = time.perf_counter()
        error = ""
        try:
            result = await extractor.extract(request)
        except ExtractionFailed as exc:
            result, error = ExtractionResult(ops=()), str(exc) or type(exc).__name__
        if on_call is not None:
            on_call(
                ChunkCall(
                    len(request.messages),
                    time.perf_counter() - started,
                    result.input_tokens,
                    result.output_tokens,
                    len(result.ops),
                    error,
                )
            )
        tasks = apply_ops(
            tasks,
            result.ops,
            session_id=request.session_id,
            now=now,
            extractor=extractor.name,
            messages=known,
        )
    return tasks
