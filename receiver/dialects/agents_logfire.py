"""OpenAI Agents SDK spans as Logfire exports them (scope ``logfire.openai_agents``).

Span names are Logfire message templates (``Responses API with
{gen_ai.request.model!r}``, ``Function: {name}``). A model call's content is in
JSON attributes: ``raw_input`` (the Responses ``input`` items, the whole session
history) and ``response`` (the ``Response`` object, whose ``instructions`` is the
system prompt and whose ``output`` items are the answer). Tool spans carry
``name``, ``input``, ``output`` and, on failure, the SDK's ``error`` dict.
"""

from __future__ import annotations

from tasktrace.model import Span, SpanContent, SpanRole, ToolRun
from tasktrace.receiver.dialects._common import (
    SpansOnly,
    as_dict,
    as_int,
    as_list,
    as_str,
    canonical_json,
    first_attr,
    span_error,
    structured,
    unparsable,
)
from tasktrace.receiver.dialects._parts import llm_content
from tasktrace.receiver.dialects._responses import (
    item_messages,
    response_instructions,
    response_output,
)

SCOPE = "logfire.openai_agents"
_MODEL_CALL = ("Responses API with ",)
_TOOL = ("Function: ",)
#: the SDK's trace, task, agent and turn spans: request structure, no history
_AGENT = ("OpenAI Agents trace: ", "Task: ", "Agent run: ", "Turn ")


class AgentsLogfireDialect(SpansOnly):
    name = "agents_logfire"

    def claims_span(self, span: Span) -> bool:
        return span.scope == SCOPE

    def read_span(self, span: Span) -> SpanContent | None:
        template = as_str(span.attributes.get("logfire.msg_template")) or span.name
        if template.startswith(_MODEL_CALL):
            return _read_model_call(span)
        if template.startswith(_TOOL):
            return SpanContent(role=SpanRole.TOOL, tool_run=_read_function(span))
        if template.startswith(_AGENT):
            return SpanContent(role=SpanRole.AGENT)
        return SpanContent(role=SpanRole.OTHER)


DIALECT = AgentsLogfireDialect()


def _read_model_call(span: Span) -> SpanContent:
    attrs = span.attributes
    response = structured(attrs.get("response"))
    raw_input = structured(attrs.get("raw_input"))
    usage = as_dict(as_dict(response).get("usage"))
    unparsed = sum(
        unparsable(attrs.get(key))
        for key, value in (("raw_input", raw_input), ("response", response))
        if value is None
    )
    return llm_content(
        item_messages(raw_input),
        response_output(response),
        unparsed=unparsed,
        system=response_instructions(response) or _system_event(attrs.get("events")),
        model=as_str(first_attr(attrs, "gen_ai.response.model", "gen_ai.request.model")),
        input_tokens=as_int(attrs.get("gen_ai.usage.input_tokens"))
        or as_int(usage.get("input_tokens")),
        output_tokens=as_int(attrs.get("gen_ai.usage.output_tokens"))
        or as_int(usage.get("output_tokens")),
    )


def _system_event(events: object) -> str:
    """The system prompt from the legacy-style ``events`` list, when the
    ``response`` (and its ``instructions``) is missing."""
    for event in as_list(structured(events)):
        event = as_dict(event)
        if event.get("event.name") == "gen_ai.system.message":
            return as_str(event.get("content"))
    return ""


def _read_function(span: Span) -> ToolRun:
    attrs = span.attributes
    failed, message = span_error(span)
    sdk_error = _sdk_error(attrs.get("error"))
    if sdk_error:
        failed, message = True, message or sdk_error
    return ToolRun(
        name=as_str(attrs.get("name")) or span.name.removeprefix("Function: "),
        arguments=canonical_json(attrs.get("input")),
        result=as_str(attrs.get("output")),
        error=failed,
        error_message=message,
    )


def _sdk_error(value: object) -> str:
    """The text of the SDK's ``error`` attribute (``{"message", "data": {"error"}}``,
    as JSON or structured; plain text as is), ``""`` when there is none."""
    parsed = structured(value)
    if parsed is None:
        return as_str(value) if value not in ("", "null") else ""
    if not isinstance(parsed, dict):
        return as_str(parsed)
    detail = as_str(as_dict(parsed.get("data")).get("error"))
    return ": ".join(text for text in (as_str(parsed.get("message")), detail) if text)
