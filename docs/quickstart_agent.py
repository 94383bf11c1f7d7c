"""A tiny tool-calling agent, instrumented with opentelemetry-instrumentation-openai-v2.

Reads OPENAI_BASE_URL / OPENAI_API_KEY and OTEL_EXPORTER_OTLP_ENDPOINT from the environment.
With the pinned libraries (docs/quickstart-requirements.txt) the instrumentation sends the
messages as OTLP log records and the calls as spans, so both exporters are set up.
"""

from __future__ import annotations

import json
import os

from openai import OpenAI
from opentelemetry import _logs, trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SESSION = "quickstart-1"
MODEL = os.environ.get("QUICKSTART_MODEL", "gpt-4o-mini")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> str:
    return json.dumps({"city": city, "forecast": "light rain", "high_c": 14})


def main() -> None:
    resource = Resource.create({"service.name": "quickstart-agent"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # the message content travels in log records: without a log exporter tasktrace sees none
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logs)
    OpenAIInstrumentor().instrument()
    tracer = trace.get_tracer("quickstart")
    client = OpenAI()
    history: list[dict] = [{"role": "system", "content": "You are a helpful assistant."}]
    for request in ("What's the weather in Paris?", "Thanks! Now tell me a joke about rain."):
        with tracer.start_as_current_span("invoke_agent quickstart") as span:
            span.set_attribute("gen_ai.conversation.id", SESSION)
            history.append({"role": "user", "content": request})
            while True:
                reply = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS)
                message = reply.choices[0].message
                history.append(message.model_dump(exclude_none=True))
                if not message.tool_calls:
                    print(message.content)
                    break
                for call in message.tool_calls:
                    args = json.loads(call.function.arguments or "{}")
                    with tracer.start_as_current_span(f"execute_tool {call.function.name}") as tool:
                        tool.set_attribute("gen_ai.tool.call.id", call.id)
                        result = get_weather(**args)
                    history.append({"role": "tool", "tool_call_id": call.id, "content": result})
    provider.shutdown()
    logs.shutdown()


if __name__ == "__main__":
    main()
