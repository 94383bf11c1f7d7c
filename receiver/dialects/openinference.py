"""OpenInference (Arize) spans: ``openinference.span.kind`` says what a span is.

LLM spans carry their messages flattened into one attribute per field
(``llm.input_messages.<i>.message.role``, ``...tool_calls.<j>.tool_call.id``,
``...contents.<j>.message_content.text``), see
https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md.
The OpenAI Agents instrumentation writes Responses items in the same flattened
form but splits parallel tool calls into one assistant message each; they are
grouped back into one turn (:func:`~._parts.tidy`). When an Agents SDK span has
no flattened input, its raw Responses items in ``input.value`` / ``output.value``
are read instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tasktrace.model import (
    AttrValue,
    ChatMessage,
    Role,
    Span,
    SpanContent,
    SpanRole,
    ToolRun,
)
from tasktrace.receiver.dialects._common import (
    SpansOnly,
    as_int,
    as_role,
    as_str,
    canonical_json,
    first_attr,
    join_text,
    span_error,
    structured,
)
from tasktrace.receiver.dialects._parts import llm_content, tool_call
from tasktrace.receiver.dialects._responses import (
    item_messages,
    response_instructions,
    response_output,
)

_KIND = "openinference.span.kind"
_INPUT = "llm.input_messages."
_OUTPUT = "llm.output_messages."
_AGENT_KINDS = frozenset({"AGENT", "CHAIN"})
#: ``<i>.message.<field>`` with field possibly nested (``tool_calls.<j>.tool_call.id``)
_MESSAGE_KEY = re.compile(r"(\d+)\.message\.(.+)")
_NESTED_KEY = re.compile(r"(tool_calls|contents)\.(\d+)\.(?:tool_call|message_content)\.(.+)")


class OpenInferenceDialect(SpansOnly):
    name = "openinference"

    def claims_span(self, span: Span) -> bool:
        return _KIND in span.attributes

    def read_span(self, span: Span) -> SpanContent | None:
        kind = as_str(span.attributes.get(_KIND)).upper()
        if kind == "LLM":
            return _read_llm(span)
        if kind == "TOOL":
            return SpanContent(role=SpanRole.TOOL, tool_run=_read_tool(span))
        if kind in _AGENT_KINDS:
            return SpanContent(role=SpanRole.AGENT)
        return SpanContent(role=SpanRole.OTHER)


DIALECT = OpenInferenceDialect()


def _read_llm(span: Span) -> SpanContent:
    attrs = span.attributes
    start, inputs = history_window(attrs)
    outputs = flattened_messages(attrs, _OUTPUT)
    system = ""
    raw_input = structured(attrs.get("input.value"))
    if not inputs and isinstance(raw_input, list):
        # Responses items without their flattened copy: read the raw request/response
        response = structured(attrs.get("output.value"))
        inputs, outputs = item_messages(raw_input), outputs or response_output(response)
        system = response_instructions(response)
    return llm_content(
        inputs,
        outputs,
        system=system,
        model=as_str(first_attr(attrs, "llm.model_name", "gen_ai.response.model")),
        input_tokens=as_int(
            first_attr(attrs, "llm.token_count.prompt", "gen_ai.usage.input_tokens")
        ),
        output_tokens=as_int(
            first_attr(attrs, "llm.token_count.completion", "gen_ai.usage.output_tokens")
        ),
        history_start=start,
    )


def _read_tool(span: Span) -> ToolRun:
    attrs = span.attributes
    failed, message = span_error(span)
    return ToolRun(
        name=as_str(first_attr(attrs, "tool.name", "gen_ai.tool.name")) or span.name,
        call_id=as_str(first_attr(attrs, "tool.id", "tool_call.id", "gen_ai.tool.call.id")),
        arguments=canonical_json(first_attr(attrs, "input.value", "gen_ai.tool.call.arguments")),
        result=as_str(first_attr(attrs, "output.value", "gen_ai.tool.call.result")),
        error=failed,
        error_message=message,
    )


def flattened_messages(attributes: Mapping[str, AttrValue], prefix: str) -> list[ChatMessage]:
    """The messages flattened under ``prefix`` (``llm.input_messages.``), in index
    order; not yet grouped into turns (:func:`~._parts.llm_content` does that)."""
    fields = _fields(attributes, prefix)
    messages = (_message(fields[index]) for index in sorted(fields))
    return [message for message in messages if message is not None]


def history_window(attributes: Mapping[str, AttrValue]) -> tuple[int, list[ChatMessage]]:
    """The input messages and the index of the first one in the call's history.

    The SDK keeps at most 128 attributes per span by default and drops the oldest
    first, so a long history loses its start: whole messages, then the fields of
    one, its role first. Such a history starts at its first message whose role
    is left; what is before it is dropped rather than read half."""
    fields = _fields(attributes, _INPUT)
    if not fields or "role" in fields.get(0, {}):
        return 0, flattened_messages(attributes, _INPUT)
    start = min((i for i, f in fields.items() if "role" in f), default=max(fields) + 1)
    messages = (_message(fields[index]) for index in sorted(fields) if index >= start)
    return start, [message for message in messages if message is not None]


def _fields(attributes: Mapping[str, AttrValue], prefix: str) -> dict[int, dict[str, AttrValue]]:
    fields: dict[int, dict[str, AttrValue]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        match = _MESSAGE_KEY.fullmatch(key[len(prefix) :])
        if match:
            fields.setdefault(int(match[1]), {})[match[2]] = value
    return fields


def _message(fields: Mapping[str, AttrValue]) -> ChatMessage | None:
    role = as_role(fields.get("role"))
    if role is None:
        return None
    nested = _nested(fields)
    content = as_str(fields.get("content")) or join_text(
        [
            as_str(part.get("text"))
            for part in nested["contents"]
            if as_str(part.get("type", "text")) == "text"
        ]
    )
    calls = tuple(
        tool_call(call.get("id"), call.get("function.name"), call.get("function.arguments"))
        for call in nested["tool_calls"]
        if call.get("function.name") is not None
    )
    call_id = as_str(fields.get("tool_call_id"))
    if role == Role.TOOL or call_id:
        return ChatMessage(
            role=Role.TOOL,
            content=content,
            tool_call_id=call_id,
            tool_name=as_str(fields.get("name")),
        )
    return ChatMessage(role=role, content=content, tool_calls=calls)


def _nested(fields: Mapping[str, AttrValue]) -> dict[str, list[dict[str, Any]]]:
    """The ``tool_calls`` and ``contents`` sub-records of one message, in index order."""
    groups: dict[str, dict[int, dict[str, Any]]] = {"tool_calls": {}, "contents": {}}
    for key, value in fields.items():
        match = _NESTED_KEY.fullmatch(key)
        if match:
            groups[match[1]].setdefault(int(match[2]), {})[match[3]] = value
    return {name: [items[index] for index in sorted(items)] for name, items in groups.items()}
