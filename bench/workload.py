"""Synthetic agent sessions as GenAI semantic-convention spans, made with the real SDK.

A turn is an ``invoke_agent`` span holding a ``chat`` span that asks for a tool,
the ``execute_tool`` span, and a second ``chat`` span that answers: four spans
and four new messages (user, assistant tool call, tool result, assistant text).
Each ``chat`` span carries the whole history so far in ``gen_ai.input.messages``
(parts format), as instrumentations do, so span size grows turn by turn.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

_CITIES = ("Berkeley", "Rome", "Oslo", "Lisbon", "Kyoto", "Austin", "Lyon", "Porto", "Cairo")
_ASKS = (
    "Please book a table for {n} at a restaurant in {city} on Friday evening.",
    "Find me a cheap flight to {city} on May {n}, I prefer mornings.",
    "What is the weather going to be in {city} this weekend?",
    "Reserve a hotel room in {city} for {n} nights, under 150 dollars a night.",
    "Call me a taxi to the {city} central station at {n} pm.",
)
_TOOLS = ("search_restaurants", "search_flights", "get_weather", "book_hotel", "call_taxi")


def text_part(role: str, text: str) -> dict[str, object]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def encode(message: dict[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"))


@dataclass
class SessionState:
    """One synthetic conversation: its id and history as encoded parts-format items."""

    id: str
    rng: random.Random
    items: list[str] = field(default_factory=list)
    turns: int = 0

    def history_json(self, *extra: str) -> str:
        return "[" + ",".join([*self.items, *extra]) + "]"

    def filler(self, count: int) -> None:
        """Append ``count`` earlier messages without sending them (history preloading)."""
        for i in range(count):
            role = "user" if i % 2 == 0 else "assistant"
            self.items.append(
                encode(text_part(role, f"Earlier message {i} of {self.id}: {_ask(self.rng)}"))
            )


def _ask(rng: random.Random) -> str:
    return rng.choice(_ASKS).format(n=rng.randint(2, 9), city=rng.choice(_CITIES))


def tool_turn(tracer: Tracer, session: SessionState, model: str = "gpt-4o-mini") -> int:
    """Emit one four-span turn; returns the number of spans."""
    rng = session.rng
    kind = rng.randrange(len(_ASKS))
    city = rng.choice(_CITIES)
    tool = _TOOLS[kind]
    call_id = f"call_{session.turns}_{rng.randrange(1 << 30):x}"
    arguments = json.dumps({"city": city, "n": rng.randint(1, 9)})
    user = encode(text_part("user", _ASKS[kind].format(n=rng.randint(2, 9), city=city)))
    asks = encode(
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call_id, "name": tool, "arguments": arguments}],
        }
    )
    result_text = json.dumps(
        {"ok": True, "city": city, "options": [f"{city}-{i}" for i in range(3)]}
    )
    result = encode(
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": call_id, "response": result_text}],
        }
    )
    answer = encode(
        text_part("assistant", f"Done: I used {tool} for {city}. The first option is {city}-0.")
    )
    common = {"gen_ai.conversation.id": session.id}
    with tracer.start_as_current_span(
        "invoke_agent travel", attributes={**common, "gen_ai.operation.name": "invoke_agent"}
    ):
        _chat(tracer, session.history_json(user), "[" + asks + "]", model, common)
        tool_attrs = {
            **common,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.arguments": arguments,
            "gen_ai.tool.call.result": result_text,
        }
        with tracer.start_as_current_span(f"execute_tool {tool}", attributes=tool_attrs):
            pass
        _chat(tracer, session.history_json(user, asks, result), "[" + answer + "]", model, common)
    session.items += [user, asks, result, answer]
    session.turns += 1
    return 4


def chat_turn(
    tracer: Tracer, session: SessionState, *, answer: bool = True, model: str = "gpt-4o-mini"
) -> int:
    """Emit one ``chat`` span (its own trace): a new user message and, if
    ``answer``, the assistant's reply. Returns the number of spans (1)."""
    rng = session.rng
    city = rng.choice(_CITIES)
    user = encode(
        text_part("user", _ASKS[rng.randrange(len(_ASKS))].format(n=rng.randint(2, 9), city=city))
    )
    reply = encode(
        text_part("assistant", f"Done: all set for {city}, confirmation {rng.randrange(10**6)}.")
    )
    outputs = "[" + reply + "]" if answer else "[]"
    _chat(
        tracer, session.history_json(user), outputs, model, {"gen_ai.conversation.id": session.id}
    )
    session.items += [user, reply] if answer else [user]
    session.turns += 1
    return 1


def _chat(tracer: Tracer, inputs: str, outputs: str, model: str, common: dict[str, str]) -> None:
    attrs: dict[str, AttributeValue] = {
        **common,
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.input.messages": inputs,
        "gen_ai.output.messages": outputs,
        "gen_ai.usage.input_tokens": len(inputs) // 4,
        "gen_ai.usage.output_tokens": len(outputs) // 4,
    }
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs):
        pass


def provider_and_exporter(
    endpoint: str,
    protocol: str,
    *,
    service: str,
    batch: int = 512,
    queue: int = 16384,
    delay_ms: int = 200,
) -> tuple[TracerProvider, CountingExporter, Tracer]:
    """A TracerProvider with a BatchSpanProcessor around a counting OTLP exporter."""
    exporter = CountingExporter(otlp_exporter(endpoint, protocol))
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_queue_size=queue,
            max_export_batch_size=batch,
            schedule_delay_millis=delay_ms,
        )
    )
    return provider, exporter, provider.get_tracer("bench.agent")


def simple_tracer(endpoint: str, service: str) -> tuple[TracerProvider, Tracer]:
    """A TracerProvider exporting each span over OTLP/gRPC as it ends."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(otlp_exporter(endpoint, "grpc")))
    return provider, provider.get_tracer("bench.probe")


def otlp_exporter(endpoint: str, protocol: str) -> SpanExporter:
    """The real OTLP span exporter: gRPC, or HTTP/protobuf."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(endpoint=f"http://{endpoint}/v1/traces")


class CountingExporter(SpanExporter):
    """Counts the spans the server acknowledged and when."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self.ok = 0
        self.failed = 0
        self.first = 0.0
        self.last = 0.0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        start = time.time()
        result = self._inner.export(spans)
        with self._lock:
            self.first = self.first or start
            if result is SpanExportResult.SUCCESS:
                self.ok += len(spans)
                self.last = time.time()
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
