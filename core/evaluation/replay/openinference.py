"""OpenInference (Arize): what ``openinference-instrumentation-openai`` plus an
app using ``using_session`` and OITracer AGENT/TOOL spans emits (the fixture
``openinference``).

``session.id`` is on every span. Per request, a trace with a root AGENT span
named after the agent (``input.value`` = the user's words, ``output.value`` =
the answer); one ``ChatCompletion`` LLM span per model call with the messages
flattened into ``llm.input_messages.<i>.message.*`` /
``llm.output_messages.<i>.message.*`` (plus the raw request and response in
``input.value`` / ``output.value``); one TOOL span per tool run named after
the tool (status ERROR and an ``exception`` event when it failed).
"""

from __future__ import annotations

import json

from tasktrace.evaluation.replay._shapes import (
    finish_reason,
    openai_message,
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
from tasktrace.model import (
    AttrValue,
    ChatMessage,
    Role,
    Span,
    SpanEvent,
    SpanKind,
    StatusCode,
)

NAME = "openinference"
LLM_SCOPE = "openinference.instrumentation.openai"
APP_SCOPE = "replay_agent"
AGENT = "replay_agent"
_TEMPERATURE = 0.2


def flatten(prefix: str, messages: tuple[ChatMessage, ...]) -> dict[str, AttrValue]:
    """Messages as OpenInference flattens them under ``prefix`` (``llm.input_messages``)."""
    out: dict[str, AttrValue] = {}
    for i, message in enumerate(messages):
        key = f"{prefix}.{i}.message"
        out[f"{key}.role"] = message.role.value
        if message.role is Role.TOOL:
            out[f"{key}.tool_call_id"] = message.tool_call_id
        if message.content:
            out[f"{key}.content"] = message.content
        for j, call in enumerate(message.tool_calls):
            out[f"{key}.tool_calls.{j}.tool_call.id"] = call.id
            out[f"{key}.tool_calls.{j}.tool_call.function.name"] = call.name
            out[f"{key}.tool_calls.{j}.tool_call.function.arguments"] = call.arguments
    return out


def _llm_span(replay: Replay, request: Request, call: ModelCall) -> Span:
    assert call.output is not None
    sent = {
        "model": replay.model,
        "messages": [openai_message(m) for m in call.inputs],
        "temperature": _TEMPERATURE,
    }
    choice = {
        "finish_reason": finish_reason(call.output),
        "index": 0,
        "message": openai_message(call.output),
    }
    tokens_in, tokens_out = estimate_tokens(call.inputs), estimate_tokens([call.output])
    attrs: dict[str, AttrValue] = {
        "llm.system": "openai",
        "input.value": json.dumps(sent, ensure_ascii=False),
        "input.mime_type": "application/json",
        "output.value": compact_json({"id": response_id(call.span_id), "choices": [choice]}),
        "output.mime_type": "application/json",
        "session.id": replay.session_id,
        "llm.invocation_parameters": json.dumps(
            {"model": replay.model, "temperature": _TEMPERATURE}
        ),
        **flatten("llm.input_messages", call.inputs),
        "llm.model_name": replay.model,
        "llm.token_count.total": tokens_in + tokens_out,
        "llm.token_count.prompt": tokens_in,
        "llm.token_count.completion": tokens_out,
        **flatten("llm.output_messages", (call.output,)),
        "llm.finish_reason": finish_reason(call.output),
        "openinference.span.kind": "LLM",
    }
    return request_span(
        request,
        call,
        "ChatCompletion",
        SpanKind.INTERNAL,
        attrs,
        LLM_SCOPE,
        status_code=StatusCode.OK,
    )


def _tool_span(replay: Replay, request: Request, run: ToolExecution) -> Span:
    attrs: dict[str, AttrValue] = {
        "session.id": replay.session_id,
        "tool.name": run.call.name,
        "tool.description": f"Tool {run.call.name}",
        "tool.id": run.call.id,
        "input.value": run.call.arguments,
        "input.mime_type": "application/json",
    }
    events: tuple[SpanEvent, ...] = ()
    if run.error:
        exception = {"exception.type": "RuntimeError", "exception.message": run.failure}
        events = (SpanEvent("exception", run.end_ns, exception),)
    else:
        attrs["output.value"] = run.result
        attrs["output.mime_type"] = "text/plain"
    attrs["openinference.span.kind"] = "TOOL"
    return request_span(
        request,
        run,
        run.call.name,
        SpanKind.INTERNAL,
        attrs,
        APP_SCOPE,
        status_code=StatusCode.ERROR if run.error else StatusCode.UNSET,
        status_message=f"RuntimeError: {run.failure}" if run.error else "",
        events=events,
    )


def _agent_span(replay: Replay, request: Request) -> Span:
    attrs: dict[str, AttrValue] = {
        "session.id": replay.session_id,
        "input.value": request.user,
        "input.mime_type": "text/plain",
    }
    if request.answer:
        attrs["output.value"] = request.answer
        attrs["output.mime_type"] = "text/plain"
    attrs["openinference.span.kind"] = "AGENT"
    return request_span(
        request,
        None,
        AGENT,
        SpanKind.INTERNAL,
        attrs,
        APP_SCOPE,
    )


def request_spans(replay: Replay, request: Request) -> list[Span]:
    """The spans of ``request`` that were exported, in the order they ended."""
    spans = []
    for step in request.steps:
        if isinstance(step, ToolExecution):
            spans.append(_tool_span(replay, request, step))
        elif step.output is not None:
            spans.append(_llm_span(replay, request, step))
    if request.finished:
        spans.append(_agent_span(replay, request))
    return spans


def encode(replay: Replay) -> list[Export]:
    """One trace export per request, in conversation order."""
    return [item for r in replay.requests for item in exports(request_spans(replay, r))]
