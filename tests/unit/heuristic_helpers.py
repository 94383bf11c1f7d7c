"""Builders for the extractor tests: conversations written as short turn lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tasktrace.config.extractor import CriteriaConfig
from tasktrace.evaluation.dataset import conversation_messages, parse_conversation
from tasktrace.extractor.apply import apply_ops
from tasktrace.extractor.base import ExtractionInput
from tasktrace.extractor.heuristic import CONTEXT_MESSAGES, extract_ops
from tasktrace.model import Message, Task

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "tool_calls": [{"name": name, "arguments": arguments}]}


def result(name: str, content: Any, *, error: bool = False) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"role": "tool", "name": name, "content": text, "error": error}


def messages(
    *turns: dict[str, Any], system: str | None = "You are helpful."
) -> tuple[Message, ...]:
    conv = parse_conversation({"id": "c", "session_id": "s1", "turns": list(turns)})
    return conversation_messages(conv, system_prompt=system)


def run(
    msgs: Sequence[Message], *, chunk: int = 0, criteria: CriteriaConfig | None = None
) -> tuple[Task, ...]:
    """Feed ``msgs`` in chunks (0: all at once) the way a live session would."""
    size = chunk or max(len(msgs), 1)
    known = {m.id: m for m in msgs}
    tasks: tuple[Task, ...] = ()
    for start in range(0, len(msgs), size):
        request = ExtractionInput(
            session_id="s1",
            tasks=tasks,
            messages=tuple(msgs[start : start + size]),
            now=NOW,
            context=tuple(msgs[max(0, start - CONTEXT_MESSAGES) : start]),
        )
        ops = extract_ops(request, criteria or CriteriaConfig())
        tasks = apply_ops(
            tasks, ops, session_id="s1", now=NOW, extractor="heuristic", messages=known
        )
    return tasks


def tasks_of(*turns: dict[str, Any], criteria: CriteriaConfig | None = None) -> tuple[Task, ...]:
    return run(messages(*turns), criteria=criteria)
