"""Reading the captured OTLP fixtures through the dialect registry, and comparing
what comes out with the conversations in ``samples.jsonl``.

Shared by the dialect tests: a variant is a folder under ``tests/fixtures/otlp``,
a conversation one of :data:`CONVERSATIONS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tasktrace.model import (
    ChatMessage,
    LogRecord,
    Role,
    Span,
    SpanContent,
    SpanRole,
    StatusCode,
    ToolRun,
)
from tasktrace.receiver.dialects import dialect_for_log, dialect_for_span
from tasktrace.receiver.dialects._common import canonical_json
from tasktrace.receiver.otlp_decode import (
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_trace_request,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "otlp"
CONVERSATIONS = (
    "two-requests",
    "three-tools",
    "tool-error",
    "clarification",
    "preference",
    "pending",
    "running",
)
CUT = ("pending", "running")

#: what one message reads as in a comparison: role, text, tool calls (name, JSON args)
MessageView = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class ReadSpan:
    """One span, or the log records of one span, as the claiming dialect read it."""

    trace_id: str
    span_id: str
    dialect: str
    content: SpanContent
    end_ns: int
    span: Span | None = None


@cache
def samples() -> Mapping[str, Mapping[str, Any]]:
    """The conversations of ``samples.jsonl`` by id."""
    lines = (FIXTURES / "samples.jsonl").read_text().splitlines()
    return {sample["id"]: sample for sample in map(json.loads, filter(None, lines))}


def turns(conversation: str) -> list[Mapping[str, Any]]:
    return list(samples()[conversation]["turns"])


def fixture(variant: str, name: str) -> Path:
    return FIXTURES / variant / name


def load_spans(path: Path) -> list[Span]:
    """The spans of a ``.pb`` or ``.json`` trace request, in file order."""
    request = parse_trace_request(path.read_bytes(), json_body=path.suffix == ".json")
    return list(iter_spans(request))


def load_logs(path: Path) -> list[LogRecord]:
    """The log records of a ``.logs.pb`` or ``.logs.json`` request; none if it is absent."""
    if not path.exists():
        return []
    request = parse_logs_request(path.read_bytes(), json_body=path.suffix == ".json")
    return list(iter_log_records(request))


def logs_by_span(records: Iterable[LogRecord]) -> dict[tuple[str, str], list[LogRecord]]:
    """Records grouped by (trace id, span id), each group in emission order."""
    groups: dict[tuple[str, str], list[LogRecord]] = {}
    for record in records:
        groups.setdefault((record.trace_id, record.span_id), []).append(record)
    return groups


def read_fixture(variant: str, stem: str, ext: str = "pb") -> list[ReadSpan]:
    """Every claimed span of ``<variant>/<stem>.<ext>`` and every claimed group of
    log records of ``<stem>.logs.<ext>``, read by the dialect the registry picks."""
    spans = load_spans(fixture(variant, f"{stem}.{ext}"))
    return read_telemetry(spans, load_logs(fixture(variant, f"{stem}.logs.{ext}")))


def read_telemetry(spans: Sequence[Span], records: Sequence[LogRecord]) -> list[ReadSpan]:
    """Every claimed span and every claimed group of log records (by span), read
    by the dialect the registry picks."""
    end_by_id = {(s.trace_id, s.span_id): s.end_ns for s in spans}
    read: list[ReadSpan] = []
    for span in spans:
        dialect = dialect_for_span(span)
        content = dialect.read_span(span) if dialect else None
        if dialect and content:
            read.append(
                ReadSpan(span.trace_id, span.span_id, dialect.name, content, span.end_ns, span)
            )
    for (trace_id, span_id), group in logs_by_span(records).items():
        claimed = [r for r in group if dialect_for_log(r)]
        dialect = dialect_for_log(claimed[0]) if claimed else None
        content = dialect.read_logs(claimed) if dialect else None
        if dialect and content:
            # a span that never arrived (cut) ends, at the earliest, at its last record
            end_ns = end_by_id.get((trace_id, span_id), max(r.time_ns for r in group))
            read.append(ReadSpan(trace_id, span_id, dialect.name, content, end_ns))
    return read


def last_llm(read: Sequence[ReadSpan]) -> SpanContent:
    """The content of the model call that ended last among those carrying messages."""
    calls = [r for r in read if r.content.role is SpanRole.LLM and r.content.messages]
    assert calls, "no model call with content"
    return max(calls, key=lambda r: r.end_ns).content


def tool_runs(read: Sequence[ReadSpan]) -> list[ToolRun]:
    """The tool runs of the spans, in start order."""
    spans = sorted(
        (r for r in read if r.content.tool_run), key=lambda r: r.span.start_ns if r.span else 0
    )
    return [r.content.tool_run for r in spans if r.content.tool_run]


def message_view(message: ChatMessage) -> MessageView:
    calls = tuple((call.name, call.arguments) for call in message.tool_calls)
    return (message.role.value, message.content, calls)


def turn_view(turn: Mapping[str, Any]) -> MessageView:
    calls = tuple(
        (call["name"], canonical_json(call.get("arguments", {})))
        for call in turn.get("tool_calls", ())
    )
    return (turn["role"], turn.get("content", ""), calls)


def assert_transcript(content: SpanContent, expected: Sequence[Mapping[str, Any]]) -> None:
    """``content`` is a system prompt followed by exactly the ``expected`` turns
    (roles, texts, tool-call names and arguments, tool results and, where the
    library reports one, the tool name)."""
    assert content.messages, "no messages"
    system, *rest = content.messages
    assert system.role is Role.SYSTEM and system.content
    assert [message_view(m) for m in rest] == [turn_view(t) for t in expected]
    for message, turn in zip(rest, expected, strict=True):
        if message.role is Role.TOOL and message.tool_name:
            assert message.tool_name == turn["name"]


#: what the Agents SDK gives the model instead of a failing tool's exception text
SDK_TOOL_ERROR = "An error occurred while running the tool. Please try again."


def captured_turns(
    conversation: str, *, pending_input_exported: bool = False, sdk_tool_error: bool = False
) -> list[Mapping[str, Any]]:
    """The turns of ``conversation`` that the fixture's last model call carries.

    ``pending`` lacks its last user message unless the library exports a call's
    input when the call starts (``pending_input_exported``); with the Agents SDK
    a failed tool's result reads :data:`SDK_TOOL_ERROR` (``sdk_tool_error``)."""
    expected = turns(conversation)
    if conversation == "pending" and not pending_input_exported:
        expected = expected[:-1]
    if sdk_tool_error:
        expected = [{**t, "content": SDK_TOOL_ERROR} if t.get("error") else t for t in expected]
    return expected


def assert_tool_runs(
    read: Sequence[ReadSpan], expected: Sequence[Mapping[str, Any]], *, call_ids: bool
) -> None:
    """The tool spans name the tools of the ``expected`` tool results in order, flag
    exactly the failed one (with a reason), return the result text when they record
    one, and (``call_ids``) carry the call ids the model call's history holds."""
    runs = tool_runs(read)
    results = [t for t in expected if t["role"] == "tool"]
    assert [run.name for run in runs] == [t["name"] for t in results]
    assert [run.error for run in runs] == [t["error"] for t in results]
    for run, turn in zip(runs, results, strict=True):
        assert run.error_message if run.error else run.result in ("", turn["content"])
    if call_ids:
        history = last_llm(read).messages
        assert [run.call_id for run in runs] == [
            m.tool_call_id for m in history if m.role is Role.TOOL
        ]


def assert_after_cut_reads_as_failures(read: Sequence[ReadSpan], conversation: str) -> None:
    """Every failed span of ``<conversation>.after-cut`` reads as a model call without
    output, a failed tool run, or an agent/other span; ``pending`` shows the failed
    model call, ``running`` the failed tool."""
    failed = [r for r in read if r.span and r.span.status_code is StatusCode.ERROR]
    assert failed
    for r in failed:
        if r.content.role is SpanRole.LLM:
            assert r.content.output_count == 0
        elif r.content.role is SpanRole.TOOL:
            assert r.content.tool_run is not None and r.content.tool_run.error
        else:
            assert not r.content.messages
    roles = {r.content.role for r in failed}
    assert (SpanRole.LLM if conversation == "pending" else SpanRole.TOOL) in roles
