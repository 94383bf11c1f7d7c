"""The GenAI event conventions, content in log records: what
``opentelemetry-instrumentation-openai-v2`` emits in its default (legacy) mode
(the fixture ``openai-v2-legacy``).

Spans carry no content: the root ``invoke_agent replay_agent`` span (the only
one with ``gen_ai.conversation.id``), ``chat <model>`` CLIENT spans, and
``execute_tool <name>`` CLIENT spans without arguments or result. Each model
call's content is a series of log records pointing at its span:
``gen_ai.{system,user,assistant,tool}.message`` for the whole input history,
emitted when the call starts, and ``gen_ai.choice`` when it ends. So a call
still in flight already shows its input, though its span is never exported.
"""

from __future__ import annotations

from typing import Any

from tasktrace.evaluation.replay._shapes import (
    finish_reason,
    openai_tool_calls,
    request_span,
    response_id,
)
from tasktrace.evaluation.replay.otlp import Export, exports
from tasktrace.evaluation.replay.plan import (
    ModelCall,
    Replay,
    Request,
    ToolExecution,
    estimate_tokens,
)
from tasktrace.model import AttrValue, ChatMessage, LogRecord, Role, Span, SpanKind, StatusCode

NAME = "genai-events"
CHAT_SCOPE = "opentelemetry.instrumentation.openai_v2"
HANDLER_SCOPE = "opentelemetry.util.genai.handler"
AGENT = "replay_agent"
_SYSTEM: dict[str, AttrValue] = {"gen_ai.system": "openai"}


def _body(message: ChatMessage) -> dict[str, AttrValue]:
    if message.role is Role.TOOL:
        return {"content": message.content, "id": message.tool_call_id}
    body: dict[str, Any] = {}
    if message.content:
        body["content"] = message.content
    if message.tool_calls:
        body["tool_calls"] = openai_tool_calls(message.tool_calls)
    return body


def _choice(message: ChatMessage) -> dict[str, AttrValue]:
    return {
        "index": 0,
        "finish_reason": finish_reason(message),
        "message": {"role": "assistant", **_body(message)},
    }


def call_records(request: Request, call: ModelCall) -> list[LogRecord]:
    """The log records of one model call: its input when it starts, its choice when it ends."""
    records = [
        LogRecord(
            time_ns=call.start_ns + i,
            event_name=f"gen_ai.{message.role.value}.message",
            body=_body(message),
            trace_id=request.trace_id,
            span_id=call.span_id,
            attributes=_SYSTEM,
            scope=CHAT_SCOPE,
        )
        for i, message in enumerate(call.inputs)
    ]
    if call.output is not None:
        records.append(
            LogRecord(
                time_ns=call.end_ns,
                event_name="gen_ai.choice",
                body=_choice(call.output),
                trace_id=request.trace_id,
                span_id=call.span_id,
                attributes=_SYSTEM,
                scope=CHAT_SCOPE,
            )
        )
    return records


def _chat_span(replay: Replay, request: Request, call: ModelCall) -> Span:
    assert call.output is not None
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": replay.model,
        "gen_ai.system": "openai",
        "gen_ai.response.model": replay.model,
        "gen_ai.response.finish_reasons": [finish_reason(call.output)],
        "gen_ai.response.id": response_id(call.span_id),
        "gen_ai.usage.input_tokens": estimate_tokens(call.inputs),
        "gen_ai.usage.output_tokens": estimate_tokens([call.output]),
    }
    return request_span(
        request,
        call,
        f"chat {replay.model}",
        SpanKind.CLIENT,
        attrs,
        CHAT_SCOPE,
    )


def _tool_span(request: Request, run: ToolExecution) -> Span:
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": run.call.name,
        "gen_ai.tool.call.id": run.call.id,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": f"Tool {run.call.name}",
    }
    if run.error:
        attrs["error.type"] = "RuntimeError"
    return request_span(
        request,
        run,
        f"execute_tool {run.call.name}",
        SpanKind.CLIENT,
        attrs,
        HANDLER_SCOPE,
        status_code=StatusCode.ERROR if run.error else StatusCode.UNSET,
        status_message=run.failure if run.error else "",
    )


def _agent_span(replay: Replay, request: Request) -> Span:
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": replay.model,
        "gen_ai.agent.name": AGENT,
        "gen_ai.conversation.id": replay.session_id,
    }
    return request_span(
        request,
        None,
        f"invoke_agent {AGENT}",
        SpanKind.INTERNAL,
        attrs,
        HANDLER_SCOPE,
    )


def request_telemetry(replay: Replay, request: Request) -> tuple[list[Span], list[LogRecord]]:
    """The exported spans of ``request`` (in the order they ended) and its log records."""
    spans: list[Span] = []
    records: list[LogRecord] = []
    for step in request.steps:
        if isinstance(step, ToolExecution):
            spans.append(_tool_span(request, step))
            continue
        records.extend(call_records(request, step))
        if step.output is not None:
            spans.append(_chat_span(replay, request, step))
    if request.finished:
        spans.append(_agent_span(replay, request))
    return spans, records


def encode(replay: Replay) -> list[Export]:
    """Per request, in conversation order: a trace export, then a logs export."""
    out: list[Export] = []
    for request in replay.requests:
        out.extend(exports(*request_telemetry(replay, request)))
    return out
