"""Synthetic conversations as OTLP requests in the GenAI semantic conventions.

One request turn (a user message and the assistant's answer) is one trace with
one ``chat`` span whose ``gen_ai.input.messages`` holds the whole history so
far, as every instrumentation library sends it
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/). Ids are
derived from the session id and the turn number, so sending a turn twice
sends the same spans.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

MODEL = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class Turn:
    """One request; an empty ``assistant`` is a model call that ended without an answer."""

    user: str
    assistant: str = ""


def numbered_turns(count: int, *, topic: str = "EUR") -> list[Turn]:
    """``count`` distinct, self-contained requests, each answered."""
    return [
        Turn(f"Please convert {i + 1}0 USD to {topic}.", f"{i + 1}0 USD is about {i + 1}9 {topic}.")
        for i in range(count)
    ]


def chat_request(
    session_id: str,
    turns: Sequence[Turn],
    *,
    first: int = 0,
    service: str = "chat-app",
    disabled: bool = False,
) -> ExportTraceServiceRequest:
    """The spans of ``turns[first:]``; each carries the history of all turns before it."""
    spans = [
        _chat_span(session_id, turns, index, disabled=disabled)
        for index in range(first, len(turns))
    ]
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource_spans.resource.attributes.append(_kv("service.name", service))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def _chat_span(session_id: str, turns: Sequence[Turn], index: int, *, disabled: bool) -> Span:
    attributes = turn_attributes(session_id, turns, index, disabled=disabled)
    start = time.time_ns()
    span = Span(
        trace_id=_id(16, session_id, index),
        span_id=_id(8, session_id, index),
        name=f"chat {MODEL}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000_000,
    )
    span.attributes.extend(_kv(k, v) for k, v in attributes.items())
    return span


def turn_attributes(
    session_id: str, turns: Sequence[Turn], index: int, *, disabled: bool = False
) -> dict[str, str]:
    """The ``chat`` span attributes of ``turns[index]``, with the history before it."""
    history: list[dict[str, Any]] = []
    for turn in turns[:index]:
        history.append(_message("user", turn.user))
        if turn.assistant:
            history.append(_message("assistant", turn.assistant))
    history.append(_message("user", turns[index].user))
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.conversation.id": session_id,
        "gen_ai.input.messages": json.dumps(history),
    }
    if turns[index].assistant:
        output = [_message("assistant", turns[index].assistant) | {"finish_reason": "stop"}]
        attributes["gen_ai.output.messages"] = json.dumps(output)
    if disabled:
        attributes["tasktrace.disabled"] = "true"
    return attributes


def _message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _id(size: int, session_id: str, index: int) -> bytes:
    return hashlib.sha256(f"{session_id}/{index}".encode()).digest()[:size]
