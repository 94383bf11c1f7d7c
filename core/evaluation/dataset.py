"""Labeled conversations (the replay format plus ``expected_tasks``), typed.

One JSON object per line, as in ``tests/fixtures/otlp/samples.jsonl`` and the
SGD-derived sets: ``turns`` (user / assistant / tool) and the tasks a correct
extractor should report. Optional fields (``first_user_turn``, ``order``,
``preferences_canonical``, ``complete``, ``source``) default when absent.

:func:`parse_conversation` and :func:`conversation_messages` are pure;
:func:`load_conversations` reads a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasktrace.model import Message, Role, TaskStatus, ToolCall


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a labeled conversation. ``name`` is the tool name on tool turns."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    error: bool = False


@dataclass(frozen=True, slots=True)
class ExpectedTask:
    description: str
    status: TaskStatus
    progress: tuple[str, ...] = ()
    preferences: tuple[str, ...] = ()
    preferences_canonical: tuple[str, ...] = ()
    #: index into the conversation's ``turns`` of the user turn that began the task
    first_user_turn: int | None = None
    order: int | None = None


@dataclass(frozen=True, slots=True)
class LabeledConversation:
    id: str
    session_id: str
    turns: tuple[Turn, ...]
    expected_tasks: tuple[ExpectedTask, ...]
    complete: bool = True
    source: str = ""
    #: the status labels are an outcome verdict (a ``reward``) that the trace does not show
    status_is_verdict: bool = False


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def _parse_turn(raw: Mapping[str, Any]) -> Turn:
    calls = tuple(
        ToolCall(
            id=str(c.get("id") or ""),
            name=str(c["name"]),
            arguments=_arguments_text(c.get("arguments")),
        )
        for c in raw.get("tool_calls") or ()
    )
    return Turn(
        role=Role(raw["role"]),
        content=str(raw.get("content") or ""),
        tool_calls=calls,
        tool_call_id=str(raw.get("tool_call_id") or ""),
        name=str(raw.get("name") or ""),
        error=bool(raw.get("error", False)),
    )


def _parse_expected(raw: Mapping[str, Any]) -> ExpectedTask:
    first = raw.get("first_user_turn")
    order = raw.get("order")
    return ExpectedTask(
        description=str(raw.get("description") or ""),
        status=TaskStatus(raw["status"]),
        progress=tuple(str(p) for p in raw.get("progress") or ()),
        preferences=tuple(str(p) for p in raw.get("preferences") or ()),
        preferences_canonical=tuple(str(p) for p in raw.get("preferences_canonical") or ()),
        first_user_turn=int(first) if first is not None else None,
        order=int(order) if order is not None else None,
    )


def parse_conversation(raw: Mapping[str, Any]) -> LabeledConversation:
    """One dataset line (already JSON-decoded). Raises KeyError/ValueError on bad input."""
    return LabeledConversation(
        id=str(raw["id"]),
        session_id=str(raw.get("session_id") or raw["id"]),
        turns=tuple(_parse_turn(t) for t in raw["turns"]),
        expected_tasks=tuple(_parse_expected(e) for e in raw.get("expected_tasks") or ()),
        complete=bool(raw.get("complete", True)),
        source=str(raw.get("source") or ""),
        status_is_verdict="reward" in raw,
    )


def parse_lines(lines: Iterable[str]) -> tuple[LabeledConversation, ...]:
    return tuple(parse_conversation(json.loads(line)) for line in lines if line.strip())


def load_conversations(path: str | Path) -> tuple[LabeledConversation, ...]:
    """Read a ``.jsonl`` dataset file."""
    with open(path, encoding="utf-8") as f:
        return parse_lines(f)


def _trace_id(session_id: str, request: int) -> str:
    return hashlib.sha256(f"{session_id}/request/{request}".encode()).hexdigest()[:32]


def conversation_messages(
    conv: LabeledConversation, *, system_prompt: str | None = None
) -> tuple[Message, ...]:
    """The conversation as a session transcript.

    Ids are ``m<seq>``; with ``system_prompt`` the transcript starts with that
    system message (seq 0), as real agents' transcripts do. Tool calls keep the
    ids the turns give, else get ``call_<n>``; a tool turn without an id
    answers the oldest open call of the same name (else the oldest open call).
    Each user turn starts a new trace, as one request per trace in real apps.
    """
    out: list[Message] = []
    seq = 0
    request = 0
    generated = 0
    open_calls: list[ToolCall] = []

    def add(role: Role, **kw: Any) -> None:
        nonlocal seq
        out.append(
            Message(
                id=f"m{seq}",
                session_id=conv.session_id,
                seq=seq,
                role=role,
                trace_id=_trace_id(conv.session_id, request),
                time_ns=(seq + 1) * 1_000_000_000,
                **kw,
            )
        )
        seq += 1

    if system_prompt is not None:
        add(Role.SYSTEM, content=system_prompt)
    for turn in conv.turns:
        if turn.role is Role.USER:
            request += 1
            add(Role.USER, content=turn.content)
        elif turn.role is Role.TOOL:
            call_id = turn.tool_call_id
            if not call_id:
                match = next((c for c in open_calls if c.name == turn.name), None)
                match = match or (open_calls[0] if open_calls else None)
                call_id = match.id if match else ""
            open_calls = [c for c in open_calls if c.id != call_id]
            add(
                Role.TOOL,
                content=turn.content,
                tool_call_id=call_id,
                tool_name=turn.name,
                error=turn.error,
            )
        else:
            calls = []
            for call in turn.tool_calls:
                generated += 1
                calls.append(
                    call if call.id else ToolCall(f"call_{generated}", call.name, call.arguments)
                )
            open_calls.extend(calls)
            add(turn.role, content=turn.content, tool_calls=tuple(calls))
    return tuple(out)
