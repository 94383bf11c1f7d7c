"""Shapes shared by the encoders: OpenAI chat dicts, finish reasons, and the
ids and times of a request's spans. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tasktrace.evaluation.replay.plan import ModelCall, Request, ToolExecution
from tasktrace.model import (
    Attributes,
    ChatMessage,
    Role,
    Span,
    SpanEvent,
    SpanKind,
    StatusCode,
    ToolCall,
)


def arguments_value(arguments: str) -> Any:
    """Tool-call arguments as a structured value (the parts format's ``arguments``)."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def openai_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """``tool_calls`` as the OpenAI API returns them (arguments stay JSON text)."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """A message as the ``openai`` client sends it in a chat request."""
    if message.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role.value, "content": message.content or None}
    if message.tool_calls:
        out["tool_calls"] = openai_tool_calls(message.tool_calls)
    return out


def finish_reason(message: ChatMessage) -> str:
    return "tool_calls" if message.tool_calls else "stop"


def response_id(span_id: str) -> str:
    return f"chatcmpl-{span_id}"


def request_span(
    request: Request,
    step: ModelCall | ToolExecution | None,
    name: str,
    kind: SpanKind,
    attributes: Attributes,
    scope: str,
    status_code: StatusCode = StatusCode.UNSET,
    status_message: str = "",
    events: tuple[SpanEvent, ...] = (),
) -> Span:
    """A span of ``request``: of one of its steps (a model call or a tool run),
    under its root span; with ``step`` None, the root span itself."""
    if step is None:
        span_id, parent, start, end = request.root_span_id, "", request.start_ns, request.end_ns
    else:
        span_id, parent, start, end = step.span_id, request.root_span_id, step.start_ns, step.end_ns
    return Span(
        trace_id=request.trace_id,
        span_id=span_id,
        name=name,
        parent_span_id=parent,
        kind=kind,
        start_ns=start,
        end_ns=end,
        attributes=attributes,
        scope=scope,
        status_code=status_code,
        status_message=status_message,
        events=events,
    )
