"""The ``genai`` and ``genai_events`` dialects on small hand-written spans and records."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tasktrace.model import (
    AttrValue,
    ChatMessage,
    LogRecord,
    Role,
    Span,
    SpanContent,
    SpanEvent,
    SpanRole,
    StatusCode,
    ToolCall,
)
from tasktrace.receiver.dialects._common import as_int, canonical_json
from tasktrace.receiver.dialects.genai import DIALECT as GENAI
from tasktrace.receiver.dialects.genai_events import DIALECT as EVENTS

SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Oslo?"}]}


def make_span(
    name: str = "chat gpt-4o-mini",
    attrs: dict[str, AttrValue] | None = None,
    status: StatusCode = StatusCode.UNSET,
    status_message: str = "",
    events: tuple[SpanEvent, ...] = (),
) -> Span:
    return Span(
        trace_id="t" * 32,
        span_id="s" * 16,
        name=name,
        attributes=attrs or {},
        status_code=status,
        status_message=status_message,
        events=events,
    )


def make_record(event_name: str, body: Any = None, **attrs: AttrValue) -> LogRecord:
    return LogRecord(time_ns=1, event_name=event_name, body=body, attributes=attrs)


def read(span: Span) -> SpanContent:
    assert GENAI.claims_span(span)
    content = GENAI.read_span(span)
    assert content is not None
    return content


def call(calls: list[dict[str, Any]], text: str = "") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
    parts += [{"type": "tool_call", **c} for c in calls]
    return {"role": "assistant", "parts": parts}


def result(call_id: str, response: str) -> dict[str, Any]:
    part = {"type": "tool_call_response", "id": call_id, "response": response}
    return {"role": "tool", "parts": [part]}


def test_canonical_json_sorts_keys_and_keeps_non_json_text() -> None:
    assert canonical_json('{"b": 1, "a": "é"}') == '{"a":"é","b":1}'
    assert canonical_json({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'
    assert canonical_json("not json {") == "not json {"
    assert canonical_json(None) == ""


def test_tolerant_readers_give_neutral_values_for_wrong_types() -> None:
    assert as_int("12") == 12
    assert as_int("x") == 0
    assert as_int(3.5) == 0


def chat_span(
    inputs: Any = None,
    outputs: Any = None,
    extra: Mapping[str, AttrValue] | None = None,
    status: StatusCode = StatusCode.UNSET,
) -> Span:
    """A chat span; lists of messages are written as JSON text, other values as given."""
    attrs: dict[str, AttrValue] = {"gen_ai.operation.name": "chat", **(extra or {})}
    for key, value in (("gen_ai.input.messages", inputs), ("gen_ai.output.messages", outputs)):
        if value is not None:
            attrs[key] = json.dumps(value) if isinstance(value, list) else value
    return make_span(attrs=attrs, status=status)


def test_a_chat_span_reads_as_history_then_output_with_usage() -> None:
    output = call([{"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}])
    usage: dict[str, AttrValue] = {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
    }
    content = read(chat_span([SYSTEM, USER], [output], usage))
    assert content.role is SpanRole.LLM
    assert content.output_count == 1
    assert [m.role for m in content.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert content.messages[-1].tool_calls == (ToolCall("c1", "weather", '{"city":"Oslo"}'),)
    assert (content.model, content.input_tokens, content.output_tokens) == (
        "gpt-4o-mini-2024-07-18",
        10,
        4,
    )


def test_structured_messages_read_the_same_as_json_text() -> None:
    messages: list[Any] = [SYSTEM, USER, call([{"id": "c1", "name": "f", "arguments": {}}])]
    structured = make_span(
        attrs={"gen_ai.operation.name": "chat", "gen_ai.input.messages": messages}
    )
    assert read(chat_span(messages)) == read(structured)


def test_system_instructions_come_first_unless_the_input_has_a_system_message() -> None:
    instructions = {"gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]'}
    only_user = read(chat_span([USER], extra=instructions))
    both = read(chat_span([SYSTEM, USER], extra=instructions))
    assert only_user.messages == both.messages
    assert both.messages[0] == ChatMessage(Role.SYSTEM, content="Be brief.")


@pytest.mark.parametrize(
    "value", ["not json", "{}", "[1, 2]", '[{"role": 5}]', '[{"role":"user","parts":"x"}]', 42]
)
def test_bad_message_values_never_raise_and_give_no_messages(value: AttrValue) -> None:
    content = read(chat_span(value, value))
    assert content.role is SpanRole.LLM
    assert content.messages == ()


def test_a_call_without_output_is_an_llm_span_with_no_output() -> None:
    content = read(chat_span([USER], status=StatusCode.ERROR))
    assert content.output_count == 0
    assert [m.content for m in content.messages] == ["Weather in Oslo?"]


def test_responses_items_group_the_same_in_output_and_in_the_next_input() -> None:
    text_then_calls = [
        {"role": "assistant", "parts": [{"type": "text", "content": "Checking."}]},
        call([{"id": "call_1", "name": "a", "arguments": {"x": 1}}]),
        call([{"id": "call_2", "name": "b", "arguments": {}}]),
    ]
    first = read(chat_span([SYSTEM, USER], text_then_calls))
    # the next call's input names the calls by item id (fc_...), the results by call_id
    repeated = [
        {
            **m,
            "parts": [
                {**p, "id": p["id"].replace("call", "fc")} if "id" in p else p for p in m["parts"]
            ],
        }
        for m in text_then_calls
    ]
    results = [result("call_1", "one"), result("call_2", "two")]
    second = read(chat_span([SYSTEM, USER, *repeated, *results]))
    assert first.output_count == 1
    assert second.messages[2] == first.messages[2]
    assert [(m.tool_call_id, m.tool_name) for m in second.messages[3:]] == [
        ("call_1", "a"),
        ("call_2", "b"),
    ]


def test_indexed_prompt_and_completion_attributes_read_as_messages() -> None:
    span = make_span(
        name="openai.chat",
        attrs={
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather in Oslo?",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "c1",
            "gen_ai.prompt.2.tool_calls.0.name": "weather",
            "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Oslo"}',
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.tool_call_id": "c1",
            "gen_ai.prompt.3.content": "sunny",
            "gen_ai.completion.0.content": "It is sunny.",
            "gen_ai.completion.0.finish_reason": "stop",
        },
    )
    content = read(span)
    assert [m.role for m in content.messages] == [
        Role.SYSTEM,
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    assert content.messages[2].tool_calls == (ToolCall("c1", "weather", '{"city":"Oslo"}'),)
    assert content.messages[3] == ChatMessage(
        Role.TOOL, content="sunny", tool_call_id="c1", tool_name="weather"
    )
    assert content.output_count == 1


def test_an_execute_tool_span_reads_as_a_failed_tool_run() -> None:
    span = make_span(
        name="execute_tool deploy",
        attrs={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "deploy",
            "gen_ai.tool.call.id": "c9",
            "gen_ai.tool.call.arguments": '{"env": "prod"}',
            "error.type": "RuntimeError",
        },
        status=StatusCode.ERROR,
        status_message="no access",
    )
    run = read(span).tool_run
    assert run is not None
    assert (run.name, run.call_id, run.arguments) == ("deploy", "c9", '{"env":"prod"}')
    assert (run.error, run.error_message) == (True, "no access")


def test_a_traceloop_tool_span_reads_kwargs_as_arguments_and_decodes_the_output() -> None:
    span = make_span(
        name="lookup.tool",
        attrs={
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "lookup",
            "traceloop.entity.input": json.dumps({"args": [], "kwargs": {"q": "x"}}),
            "traceloop.entity.output": json.dumps('{"hits": 2}'),
        },
    )
    run = read(span).tool_run
    assert run is not None
    assert (run.name, run.arguments, run.result, run.error) == (
        "lookup",
        '{"q":"x"}',
        '{"hits": 2}',
        False,
    )


def test_a_logfire_tool_span_takes_its_error_from_the_exception_event() -> None:
    event = SpanEvent("exception", 1, {"exception.message": "boom"})
    span = make_span(
        name="execute_tool {tool_name}",
        attrs={"tool_name": "lookup", "tool_call_id": "c2", "arguments": '{"q":"x"}'},
        events=(event,),
    )
    run = read(span).tool_run
    assert run is not None
    assert (run.name, run.call_id, run.error, run.error_message) == ("lookup", "c2", True, "boom")


@pytest.mark.parametrize(
    "attrs",
    [
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.input.messages": json.dumps([USER])},
        {"traceloop.span.kind": "workflow", "traceloop.entity.input": "{}"},
    ],
)
def test_agent_and_workflow_spans_carry_no_messages(attrs: dict[str, AttrValue]) -> None:
    assert read(make_span(name="agent", attrs=attrs)) == SpanContent(role=SpanRole.AGENT)


def test_spans_without_genai_attributes_are_not_claimed() -> None:
    assert not GENAI.claims_span(make_span(name="POST", attrs={"http.method": "POST"}))


def test_legacy_events_read_as_history_then_choices() -> None:
    tool_calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    records = [
        make_record("gen_ai.system.message", {"content": "Be brief."}),
        make_record("gen_ai.user.message", {"content": "Weather in Oslo?"}),
        make_record("gen_ai.assistant.message", {"tool_calls": tool_calls}),
        make_record("gen_ai.tool.message", {"content": "sunny", "id": "c1"}),
        make_record(
            "gen_ai.choice", {"index": 0, "message": {"role": "assistant", "content": "Sunny."}}
        ),
    ]
    assert all(EVENTS.claims_log(r) for r in records)
    content = EVENTS.read_logs(records)
    assert content is not None
    assert [m.role for m in content.messages] == [
        Role.SYSTEM,
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    assert content.messages[3].tool_name == "weather"
    assert content.output_count == 1


def test_operation_details_record_reads_structured_or_json_messages_alike() -> None:
    messages: list[Any] = [SYSTEM, USER]
    output: list[Any] = [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}]}]
    name = "gen_ai.client.inference.operation.details"
    structured = make_record(
        name, None, **{"gen_ai.input.messages": messages, "gen_ai.output.messages": output}
    )
    text = make_record(
        name,
        "",
        **{
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps(output),
        },
    )
    assert EVENTS.read_logs([structured]) == EVENTS.read_logs([text])
    content = EVENTS.read_logs([text])
    assert content is not None and content.output_count == 1


def test_event_records_without_content_give_nothing() -> None:
    assert EVENTS.read_logs([make_record("gen_ai.user.message", {})]) is None
    assert EVENTS.read_logs([make_record("gen_ai.choice", ["not", "a", "map"])]) is None
    assert not EVENTS.claims_span(make_span())
