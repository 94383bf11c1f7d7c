"""The official GenAI conventions, content on spans: what
``opentelemetry-instrumentation-openai-v2`` with ``opentelemetry-util-genai``
emits in its "latest experimental" span mode (the fixture
``openai-v2-latest-span``).

Per request, a trace whose root ``invoke_agent replay_agent`` span carries
``gen_ai.conversation.id``; one ``chat <model>`` CLIENT span per model call with
``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON text, parts
format, the whole history every call); one ``execute_tool <name>`` span per
tool run with ``gen_ai.tool.call.*`` (no result and status ERROR when it
failed). Spans are exported when they end: an unfinished request has no root
span, and the call or tool still running has no span at all.
"""

from __future__ import annotations

from typing import Any

from tasktrace.evaluation.replay._shapes import (
    arguments_value,
    finish_reason,
    request_span,
    response_id,
)
from tasktrace.evaluation.replay.otlp import Export, compact_json, exports
from tasktrace.evaluation.replay.plan import (
    ModelCall,
    Replay,
    Request,
    ToolExecution,
    estimate_tokens,
)
from tasktrace.model import AttrValue, ChatMessage, Role, Span, SpanKind, StatusCode

NAME = "genai"
SCOPE = "opentelemetry.util.genai.handler"
AGENT = "replay_agent"


def parts_message(message: ChatMessage, *, output: bool = False) -> dict[str, Any]:
    """One message in the parts format; output messages carry their finish reason."""
    if message.role is Role.TOOL:
        part = {"response": message.content, "id": message.tool_call_id}
        return {"role": "tool", "parts": [{**part, "type": "tool_call_response"}]}
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"content": message.content, "type": "text"})
    for call in message.tool_calls:
        arguments = arguments_value(call.arguments)
        parts.append(
            {"arguments": arguments, "name": call.name, "id": call.id, "type": "tool_call"}
        )
    out: dict[str, Any] = {"role": message.role.value, "parts": parts}
    if output:
        out["finish_reason"] = finish_reason(message)
    return out


def _chat_span(replay: Replay, request: Request, call: ModelCall) -> Span:
    assert call.output is not None
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": replay.model,
        "gen_ai.provider.name": "openai",
        "gen_ai.response.finish_reasons": [finish_reason(call.output)],
        "gen_ai.response.model": replay.model,
        "gen_ai.response.id": response_id(call.span_id),
        "gen_ai.usage.input_tokens": estimate_tokens(call.inputs),
        "gen_ai.usage.output_tokens": estimate_tokens([call.output]),
        "gen_ai.input.messages": compact_json([parts_message(m) for m in call.inputs]),
        "gen_ai.output.messages": compact_json([parts_message(call.output, output=True)]),
    }
    return request_span(
        request,
        call,
        f"chat {replay.model}",
        SpanKind.CLIENT,
        attrs,
        SCOPE,
    )


def _tool_span(request: Request, run: ToolExecution) -> Span:
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": run.call.name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": run.call.id,
        "gen_ai.tool.call.arguments": compact_json(arguments_value(run.call.arguments)),
    }
    if run.error:
        attrs["error.type"] = "RuntimeError"
    else:
        attrs["gen_ai.tool.call.result"] = run.result
    return request_span(
        request,
        run,
        f"execute_tool {run.call.name}",
        SpanKind.INTERNAL,
        attrs,
        SCOPE,
        status_code=StatusCode.ERROR if run.error else StatusCode.UNSET,
        status_message=run.failure if run.error else "",
    )


def _agent_span(replay: Replay, request: Request) -> Span:
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.request.model": replay.model,
        "gen_ai.agent.name": AGENT,
        "gen_ai.conversation.id": replay.session_id,
        "gen_ai.input.messages": compact_json(
            [parts_message(ChatMessage(Role.USER, request.user))]
        ),
    }
    if request.answer:
        answer = ChatMessage(Role.ASSISTANT, request.answer)
        attrs["gen_ai.output.messages"] = compact_json([parts_message(answer, output=True)])
    return request_span(
        request,
        None,
        f"invoke_agent {AGENT}",
        SpanKind.INTERNAL,
        attrs,
        SCOPE,
    )


def request_spans(replay: Replay, request: Request) -> list[Span]:
    """The spans of ``request`` that were exported, in the order they ended."""
    spans = []
    for step in request.steps:
        if isinstance(step, ToolExecution):
            spans.append(_tool_span(request, step))
        elif step.output is not None:
            spans.append(_chat_span(replay, request, step))
    if request.finished:
        spans.append(_agent_span(replay, request))
    return spans


def encode(replay: Replay) -> list[Export]:
    """One trace export per request, in conversation order."""
    return [item for r in replay.requests for item in exports(request_spans(replay, r))]
