"""The GenAI semantic conventions on log records: content as events.

Two shapes, both for the records of one span:

* the event-based conventions (semconv <= 1.36, OpenTelemetry ``openai-v2`` in
  its default mode): one record per input message, ``gen_ai.system.message``,
  ``gen_ai.user.message``, ``gen_ai.assistant.message``, ``gen_ai.tool.message``
  (body ``{content}``, ``{tool_calls}``, ``{content, id}``), then one
  ``gen_ai.choice`` per output (body ``{index, finish_reason, message}``);
  https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-events/
* ``gen_ai.client.inference.operation.details`` (the latest conventions, and
  OpenLIT): one record per call with ``gen_ai.input.messages``,
  ``gen_ai.output.messages`` and ``gen_ai.system_instructions`` as attributes,
  either JSON text or structured values.

This dialect reads logs only; it never claims a span.
"""

from __future__ import annotations

from collections.abc import Sequence

from tasktrace.model import ChatMessage, LogRecord, Role, Span, SpanContent
from tasktrace.receiver.dialects._common import as_dict
from tasktrace.receiver.dialects._parts import chat_message, llm_content, read_call

DETAILS = "gen_ai.client.inference.operation.details"
CHOICE = "gen_ai.choice"
_MESSAGE_EVENTS = {
    "gen_ai.system.message": Role.SYSTEM,
    "gen_ai.user.message": Role.USER,
    "gen_ai.assistant.message": Role.ASSISTANT,
    "gen_ai.tool.message": Role.TOOL,
}


class GenAIEventsDialect:
    """Log records in the GenAI event conventions (see the module docstring)."""

    name = "genai_events"

    def claims_span(self, span: Span) -> bool:
        return False

    def read_span(self, span: Span) -> SpanContent | None:
        return None

    def claims_log(self, record: LogRecord) -> bool:
        return record.event_name in _MESSAGE_EVENTS or record.event_name in (CHOICE, DETAILS)

    def read_logs(self, records: Sequence[LogRecord]) -> SpanContent | None:
        details = [r for r in records if r.event_name == DETAILS]
        if details:
            return read_call(details[-1].attributes)
        inputs: list[ChatMessage] = []
        outputs: list[ChatMessage] = []
        for record in records:
            # content capture off: bodies are empty; a bare string body is the content
            body = (
                {"content": record.body} if isinstance(record.body, str) else as_dict(record.body)
            )
            if record.event_name == CHOICE:
                message = as_dict(body.get("message"))
                outputs.append(chat_message(Role.ASSISTANT, message))
            elif (role := _MESSAGE_EVENTS.get(record.event_name)) is not None:
                inputs.append(chat_message(role, body))
        content = llm_content(inputs, outputs)
        return content if content.messages else None


DIALECT = GenAIEventsDialect()
