"""The GenAI semantic conventions on spans: content as span attributes.

Reads what OpenTelemetry's own ``openai-v2`` (``span_only``), OpenLLMetry and
the Traceloop SDK, OpenLIT and Logfire put on their spans
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/):

* model calls: ``gen_ai.input.messages`` / ``gen_ai.output.messages`` /
  ``gen_ai.system_instructions`` (parts format), or the older
  ``gen_ai.prompt.<i>.*`` / ``gen_ai.completion.<i>.*``; a call with no
  content (content in logs, or a failed call) is still an LLM span;
* tool executions: ``execute_tool`` spans with ``gen_ai.tool.*``, Traceloop
  ``<name>.tool`` spans (``traceloop.entity.input/output``), Logfire
  ``execute_tool {tool_name}`` spans (``tool_name``, ``tool_call_id``,
  ``arguments``, ``result``), OpenLIT app spans (``gen_ai.tool.*`` plus the
  result in ``gen_ai.output.messages``);
* agent and workflow spans (``invoke_agent``, Traceloop workflow/agent/task).

Everything else carrying a ``gen_ai.*`` attribute is claimed as OTHER, so the
receiver still sees its session id.
"""

from __future__ import annotations

from collections.abc import Sequence

from tasktrace.model import LogRecord, Span, SpanContent, SpanRole, ToolRun
from tasktrace.receiver.dialects._common import (
    as_dict,
    as_str,
    canonical_json,
    first_attr,
    loads_or_none,
    span_error,
)
from tasktrace.receiver.dialects._parts import read_call

_LLM_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "completion", "responses"}
)
_AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent", "invoke_workflow"})
_TRACELOOP_AGENT_KINDS = frozenset({"workflow", "agent", "task"})
_CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.role",
)


class GenAIDialect:
    """Spans carrying GenAI semantic-convention attributes (see the module docstring)."""

    name = "genai"

    def claims_span(self, span: Span) -> bool:
        return (
            span.name.startswith("execute_tool")
            or "traceloop.span.kind" in span.attributes
            or any(key.startswith("gen_ai.") for key in span.attributes)
        )

    def read_span(self, span: Span) -> SpanContent | None:
        attrs = span.attributes
        operation = as_str(attrs.get("gen_ai.operation.name"))
        traceloop_kind = as_str(attrs.get("traceloop.span.kind"))
        if operation == "execute_tool":
            return _tool_content(span)
        if operation in _LLM_OPERATIONS:
            return read_call(attrs)
        if operation in _AGENT_OPERATIONS or traceloop_kind in _TRACELOOP_AGENT_KINDS:
            return SpanContent(role=SpanRole.AGENT)
        if (
            traceloop_kind == "tool"
            or span.name.startswith("execute_tool")
            or "gen_ai.tool.name" in attrs
        ):
            return _tool_content(span)
        if any(key in attrs for key in _CONTENT_KEYS):
            content = read_call(attrs)
            if content.messages:
                return content
        return SpanContent(role=SpanRole.OTHER)

    def claims_log(self, record: LogRecord) -> bool:
        return False

    def read_logs(self, records: Sequence[LogRecord]) -> SpanContent | None:
        return None


def _tool_content(span: Span) -> SpanContent:
    attrs = span.attributes
    entity_input = as_dict(loads_or_none(attrs.get("traceloop.entity.input")))
    arguments: object = first_attr(
        attrs, "gen_ai.tool.call.arguments", "arguments", "gen_ai.tool.args"
    )
    if arguments is None and entity_input:
        # Traceloop's @tool records the Python call: {"args": [...], "kwargs": {...}}
        kwargs, args = entity_input.get("kwargs"), entity_input.get("args")
        arguments = kwargs if not args else entity_input
    failed, message = span_error(span)
    error_type = as_str(attrs.get("error.type"))
    return SpanContent(
        role=SpanRole.TOOL,
        tool_run=ToolRun(
            name=_tool_name(span),
            call_id=as_str(first_attr(attrs, "gen_ai.tool.call.id", "tool_call_id")),
            arguments=canonical_json(arguments),
            result=_tool_result(span),
            error=failed or bool(error_type),
            error_message=message or error_type,
        ),
    )


def _tool_name(span: Span) -> str:
    named = as_str(
        first_attr(span.attributes, "gen_ai.tool.name", "tool_name", "traceloop.entity.name")
    )
    if named:
        return named
    if span.name.startswith("execute_tool "):
        return span.name.removeprefix("execute_tool ")
    return span.name.removesuffix(".tool")


def _tool_result(span: Span) -> str:
    attrs = span.attributes
    result = first_attr(attrs, "gen_ai.tool.call.result", "result")
    if result is not None:
        return as_str(result)
    if "traceloop.entity.output" in attrs:
        # JSON of the function's return value: a returned string comes back as itself
        raw = attrs["traceloop.entity.output"]
        decoded = loads_or_none(raw)
        return as_str(decoded) if decoded is not None else as_str(raw)
    # OpenLIT's start_trace(...).set_result() writes the plain result here
    return as_str(attrs.get("gen_ai.output.messages"))


DIALECT = GenAIDialect()
