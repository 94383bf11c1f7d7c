"""Message shapes shared by the encoders: OpenAI chat dicts and finish reasons. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tasktrace.model import ChatMessage, Role, ToolCall


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
