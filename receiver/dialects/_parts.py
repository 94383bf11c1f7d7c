"""Chat messages in the GenAI semantic-convention shapes, to :class:`ChatMessage`.

Three shapes are read, all pure and tolerant (bad items are skipped):

* the "parts" format of ``gen_ai.input.messages`` / ``gen_ai.output.messages``
  (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-input-messages.json),
  as JSON text or as structured AnyValues; plain OpenAI chat dicts
  (``content`` string, ``tool_calls``) are accepted too;
* ``gen_ai.system_instructions`` (a list of parts, or a string);
* the older indexed attributes ``gen_ai.prompt.<i>.*`` / ``gen_ai.completion.<i>.*``.

:func:`read_call` reads a whole model call from span or log-record attributes;
:func:`llm_content` builds the :class:`SpanContent` of a call, passing input and
output through :func:`~._tidy.tidy`, which gives every reader the same message
boundaries, so a message reads the same from the output of one call and from
the input of the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tasktrace.model import AttrValue, ChatMessage, Role, SpanContent, SpanRole, ToolCall
from tasktrace.receiver.dialects._common import (
    as_dict,
    as_int,
    as_list,
    as_role,
    as_str,
    canonical_json,
    first_attr,
    join_text,
    structured,
    unparsable,
)
from tasktrace.receiver.dialects._history import HistoryCache
from tasktrace.receiver.dialects._tidy import tidy
from tasktrace.receiver.sessions import SESSION_KEYS
from tasktrace.sequences import concat

_TEXT_PARTS = ("text", "output_text", "input_text")


def read_messages(value: object) -> list[ChatMessage]:
    """Messages in the parts format (JSON text or structured), in order; never raises."""
    messages: list[ChatMessage] = []
    for item in as_list(structured(value)):
        messages.extend(_read_message(as_dict(item)))
    return messages


def read_instructions(value: object) -> str:
    """The text of ``gen_ai.system_instructions``: text parts joined, or a plain string."""
    parsed = structured(value)
    if parsed is None and isinstance(value, str):
        return value
    if isinstance(parsed, str):
        return parsed
    if isinstance(parsed, dict):
        parsed = [parsed]
    return join_text([_part_text(as_dict(part)) for part in as_list(parsed)])


def _read_message(item: Mapping[str, Any]) -> list[ChatMessage]:
    role = as_role(item.get("role"))
    if role is None:
        return []
    parts = item.get("parts")
    if not isinstance(parts, list):
        return [chat_message(role, item)]
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    for part in parts:
        part = as_dict(part)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            texts.append(_part_text(part))
        elif kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            response = part.get("response", part.get("result"))
            results.append(
                ChatMessage(
                    Role.TOOL, content=as_str(response), tool_call_id=as_str(part.get("id"))
                )
            )
    if results:
        return results
    text = join_text(texts)
    if role is Role.TOOL:
        return [ChatMessage(Role.TOOL, content=text, tool_call_id=as_str(item.get("tool_call_id")))]
    return [ChatMessage(role, content=text, tool_calls=tuple(calls))]


def _part_text(part: Mapping[str, Any]) -> str:
    if part.get("type", "text") not in _TEXT_PARTS:
        return ""
    return as_str(part.get("content", part.get("text")))


def chat_message(role: Role, body: Mapping[str, Any]) -> ChatMessage:
    """A message from an OpenAI-chat-style dict: ``content`` (string or list of text
    parts), ``tool_calls`` (``{id, function: {name, arguments}}``), and ``id`` or
    ``tool_call_id`` for a tool result. Also the body of the legacy GenAI events."""
    content = body.get("content")
    if isinstance(content, list):
        text = join_text([_part_text(as_dict(part)) for part in content])
    else:
        text = as_str(content)
    if role is Role.TOOL:
        call_id = as_str(body.get("tool_call_id") or body.get("id"))
        return ChatMessage(
            Role.TOOL, content=text, tool_call_id=call_id, tool_name=as_str(body.get("name"))
        )
    calls = []
    for raw in as_list(body.get("tool_calls")):
        raw = as_dict(raw)
        function = as_dict(raw.get("function")) or raw
        calls.append(tool_call(raw.get("id"), function.get("name"), function.get("arguments")))
    return ChatMessage(role, content=text, tool_calls=tuple(calls))


def tool_call(call_id: object, name: object, arguments: object) -> ToolCall:
    """A :class:`ToolCall` with canonical JSON arguments (``"{}"`` when absent)."""
    return ToolCall(as_str(call_id), as_str(name), canonical_json(arguments) or "{}")


# --- gen_ai.prompt.<i>.* / gen_ai.completion.<i>.* -----------------------------

_INDEXED = re.compile(r"^(\d+)\.(.+)$")
_CALL_FIELD = re.compile(r"^tool_calls\.(\d+)\.(.+)$")


def read_indexed(attributes: Mapping[str, AttrValue], prefix: str) -> list[ChatMessage]:
    """Messages from flattened ``<prefix>.<i>.{role,content,tool_call_id,tool_calls.<j>.*}``
    attributes (``prefix`` without the trailing dot), ordered by ``i``."""
    fields: dict[int, dict[str, AttrValue]] = {}
    start = prefix + "."
    for key, value in attributes.items():
        if key.startswith(start) and (match := _INDEXED.match(key[len(start) :])):
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
    messages: list[ChatMessage] = []
    for index in sorted(fields):
        default_role = Role.ASSISTANT if "completion" in prefix else None
        message = _indexed_message(fields[index], default_role)
        if message is not None:
            messages.append(message)
    return messages


def _indexed_message(
    fields: Mapping[str, AttrValue], default_role: Role | None
) -> ChatMessage | None:
    role = as_role(fields.get("role")) or default_role
    if role is None:
        return None
    calls: dict[int, dict[str, AttrValue]] = {}
    for key, value in fields.items():
        if match := _CALL_FIELD.match(key):
            calls.setdefault(int(match.group(1)), {})[match.group(2)] = value
    body: dict[str, Any] = {
        "content": fields.get("content"),
        "tool_call_id": fields.get("tool_call_id"),
        "tool_calls": [calls[index] for index in sorted(calls)],
    }
    return chat_message(role, body)


def read_call(attributes: Mapping[str, AttrValue]) -> SpanContent:
    """An LLM :class:`SpanContent` from span or log-record attributes: messages from
    ``gen_ai.input/output.messages`` (else the indexed ``gen_ai.prompt/completion``),
    ``gen_ai.system_instructions``, the model and token usage.

    A history given as JSON text that extends one seen before for the same
    conversation is read in time proportional to what is new (:mod:`._history`)."""
    raw = attributes.get("gen_ai.input.messages")
    system = read_instructions(attributes.get("gen_ai.system_instructions"))
    before: Sequence[ChatMessage] | None
    if isinstance(raw, str):
        before = _HISTORIES.tidied(_conversation(attributes, raw), raw, system)
    else:
        inputs = read_messages(raw)
        before = _history(inputs, system) if inputs else None
    unparsed = 0
    if before is None:
        unparsed += unparsable(raw)
        before = _history(read_indexed(attributes, "gen_ai.prompt"), system)
    raw_outputs = attributes.get("gen_ai.output.messages")
    outputs = read_messages(raw_outputs)
    if not outputs:
        unparsed += unparsable(raw_outputs)
    return _content(
        before,
        tidy(outputs or read_indexed(attributes, "gen_ai.completion")),
        unparsed=unparsed,
        model=as_str(first_attr(attributes, "gen_ai.response.model", "gen_ai.request.model")),
        input_tokens=as_int(
            first_attr(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        ),
        output_tokens=as_int(
            first_attr(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        ),
    )


def llm_content(
    inputs: Sequence[ChatMessage],
    outputs: Sequence[ChatMessage],
    *,
    system: str = "",
    model: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    unparsed: int = 0,
    history_start: int = 0,
) -> SpanContent:
    """An LLM :class:`SpanContent` from a call's input and output messages.

    ``system`` (the ``gen_ai.system_instructions`` text) is put first unless the
    input already holds a system message (OpenLIT sends both) or lost its start
    (``history_start`` above 0)."""
    content = _content(
        _history(inputs, "" if history_start else system),
        tidy(outputs),
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        unparsed=unparsed,
    )
    return replace(content, history_start=history_start) if history_start else content


def _history(inputs: Sequence[ChatMessage], system: str) -> tuple[ChatMessage, ...]:
    history = list(inputs)
    if system and not any(m.role is Role.SYSTEM for m in history):
        history.insert(0, ChatMessage(Role.SYSTEM, content=system))
    return tidy(history)


def _content(
    before: Sequence[ChatMessage],
    after: Sequence[ChatMessage],
    *,
    model: str,
    input_tokens: int,
    output_tokens: int,
    unparsed: int = 0,
) -> SpanContent:
    return SpanContent(
        role=SpanRole.LLM,
        messages=concat(before, after),
        output_count=len(after),
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        unparsed=unparsed,
    )


def _conversation(attributes: Mapping[str, AttrValue], text: str) -> str:
    """Which conversation a history belongs to: its session key, else how it begins."""
    for key in SESSION_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return "k:" + value
    return "t:" + text[:256]


#: input histories read so far (the parsed form of the texts they extend)
_HISTORIES = HistoryCache(read_messages)
