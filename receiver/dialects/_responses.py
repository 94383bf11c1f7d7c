"""OpenAI Responses API items as chat messages.

The Responses API has no "assistant message with tool calls": a model turn is a
run of items (an optional ``message`` with text, then ``function_call`` items),
and each tool result is its own ``function_call_output`` item
(https://platform.openai.com/docs/api-reference/responses). Here each item
becomes one message; :func:`~._parts.tidy` (applied by
:func:`~._parts.llm_content`) then folds a turn's items into one assistant
message, so the same items read the same from a call's ``output`` and from the
next call's ``input``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasktrace.model import ChatMessage, Role
from tasktrace.receiver.dialects._common import as_dict, as_list, as_role, as_str
from tasktrace.receiver.dialects._parts import chat_message, tool_call


def item_messages(items: object) -> list[ChatMessage]:
    """Responses ``input`` (a string or a list of items) or ``output`` items as
    chat messages, one per item, not yet grouped into turns. Unknown or empty
    items are skipped; never raises."""
    if isinstance(items, str):
        return [ChatMessage(role=Role.USER, content=items)] if items else []
    messages = (_item_message(as_dict(item)) for item in as_list(items))
    return [message for message in messages if message is not None]


def response_output(response: object) -> list[ChatMessage]:
    """The output messages of a Responses ``Response`` object (a dict)."""
    return item_messages(as_dict(response).get("output"))


def response_instructions(response: object) -> str:
    """The system prompt a ``Response`` object echoes back, else ``""``."""
    instructions = as_dict(response).get("instructions")
    return instructions if isinstance(instructions, str) else ""


def _item_message(item: Mapping[str, Any]) -> ChatMessage | None:
    kind = item.get("type")
    if kind == "function_call":
        call_id = item.get("call_id") or item.get("id")
        call = tool_call(call_id, item.get("name"), item.get("arguments"))
        return ChatMessage(Role.ASSISTANT, tool_calls=(call,))
    if kind == "function_call_output":
        output = item.get("output")
        content = output if isinstance(output, list) else as_str(output)
        return chat_message(Role.TOOL, {"tool_call_id": item.get("call_id"), "content": content})
    if kind not in (None, "message"):
        return None  # reasoning, web search, ...: nothing a transcript shows
    role = as_role(item.get("role"))
    if role is None or role is Role.TOOL:
        return None
    return chat_message(role, {"content": item.get("content")})
