"""The ``agents_logfire`` dialect (and the Responses item reader) on hand-written spans."""

from __future__ import annotations

import json
from typing import Any

from tasktrace.model import (
    AttrValue,
    ChatMessage,
    LogRecord,
    Role,
    Span,
    SpanContent,
    SpanRole,
    StatusCode,
    ToolCall,
)
from tasktrace.receiver.dialects import dialect_for_span
from tasktrace.receiver.dialects.agents_logfire import DIALECT, SCOPE

MODEL_CALL = "Responses API with {gen_ai.request.model!r}"
USER = {"role": "user", "content": "weather in Paris and Rome?"}
TEXT = {
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Checking both.", "annotations": []}],
}
CALLS = [
    {"type": "function_call", "call_id": f"call_{i}", "id": f"fc_{i}", "name": "get_weather",
     "arguments": json.dumps({"city": city})}
    for i, city in ((1, "Paris"), (2, "Rome"))
]  # fmt: skip
SUN = [{"type": "input_text", "text": "sun"}]
RESULTS = [
    {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
    {"type": "function_call_output", "call_id": "call_2", "output": SUN},
]


def make_span(
    attrs: dict[str, AttrValue],
    *,
    template: str = MODEL_CALL,
    status_code: StatusCode = StatusCode.UNSET,
    status_message: str = "",
) -> Span:
    attributes = {"logfire.msg_template": template, **attrs}
    return Span(
        "t1",
        "s1",
        template,
        attributes=attributes,
        scope=SCOPE,
        status_code=status_code,
        status_message=status_message,
    )


def model_call(raw_input: Any, output: Any = None, **attrs: AttrValue) -> SpanContent:
    response = {"instructions": "be brief", "output": output} if output is not None else None
    span = make_span(
        {"raw_input": json.dumps(raw_input), "response": json.dumps(response), **attrs}
    )
    content = DIALECT.read_span(span)
    assert content is not None
    return content


def test_only_spans_of_the_agents_scope_are_claimed_and_never_log_records() -> None:
    assert dialect_for_span(make_span({})) is DIALECT
    other = Span("t1", "s1", MODEL_CALL, attributes={"raw_input": "[]"}, scope="logfire.openai")
    assert not DIALECT.claims_span(other)
    assert not DIALECT.claims_log(LogRecord(time_ns=1, scope=SCOPE))


def test_a_turn_of_text_and_tool_calls_reads_the_same_as_output_and_as_next_input() -> None:
    first = model_call([USER], [TEXT, *CALLS])
    second = model_call([USER, TEXT, *CALLS, *RESULTS], [TEXT])
    turn = ChatMessage(
        Role.ASSISTANT,
        content="Checking both.",
        tool_calls=(
            ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
            ToolCall("call_2", "get_weather", '{"city":"Rome"}'),
        ),
    )
    assert first.messages == (
        ChatMessage(Role.SYSTEM, "be brief"),
        ChatMessage(Role.USER, USER["content"]),
        turn,
    )
    assert first.output_count == 1
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[3:] == (
        ChatMessage(Role.TOOL, "rain", tool_call_id="call_1", tool_name="get_weather"),
        ChatMessage(Role.TOOL, "sun", tool_call_id="call_2", tool_name="get_weather"),
        ChatMessage(Role.ASSISTANT, "Checking both."),
    )


def test_model_and_tokens_come_from_the_span_attributes() -> None:
    usage: dict[str, AttrValue] = {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
    }
    content = model_call([USER], [TEXT], **usage)
    assert (content.model, content.input_tokens, content.output_tokens) == (
        "gpt-4o-mini-2024-07-18",
        10,
        4,
    )


def test_a_failed_model_call_reads_as_a_call_without_output() -> None:
    span = make_span(
        {"response": "null", "raw_input": "{not json", "gen_ai.request.model": "gpt-4o-mini"},
        status_code=StatusCode.ERROR,
        status_message="InternalServerError: 503",
    )
    assert DIALECT.read_span(span) == SpanContent(
        role=SpanRole.LLM,
        model="gpt-4o-mini",
        unparsed=1,  # raw_input is not JSON
    )


def test_without_a_response_the_system_prompt_comes_from_the_events() -> None:
    events = [{"event.name": "gen_ai.system.message", "content": "be brief", "role": "system"}]
    content = model_call("just a string", events=json.dumps(events))
    assert content.messages == (
        ChatMessage(Role.SYSTEM, "be brief"),
        ChatMessage(Role.USER, "just a string"),
    )
    assert content.output_count == 0


def test_unknown_items_and_wrong_types_are_skipped() -> None:
    content = model_call(
        [
            USER,
            {"type": "reasoning", "summary": []},
            3,
            {"role": 5},
            {"role": "user", "content": []},
        ],
        [{"type": "function_call", "name": "f", "arguments": {"b": 2, "a": 1}}],
    )
    assert [m.role for m in content.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert content.messages[-1].tool_calls == (ToolCall("", "f", '{"a":1,"b":2}'),)


def test_a_function_span_reads_name_arguments_and_result() -> None:
    span = make_span(
        {"name": "get_weather", "input": '{"city": "Paris"}', "output": "rain"},
        template="Function: {name}",
    )
    run = DIALECT.read_span(span)
    assert run is not None and run.tool_run is not None
    assert run.role is SpanRole.TOOL
    assert (run.tool_run.name, run.tool_run.call_id, run.tool_run.arguments) == (
        "get_weather",
        "",
        '{"city":"Paris"}',
    )
    assert (run.tool_run.result, run.tool_run.error) == ("rain", False)


def test_a_function_span_with_the_sdk_error_dict_is_a_failed_tool_run() -> None:
    error = {"message": "Error running tool (non-fatal)", "data": {"error": "redacted"}}
    span = make_span(
        {"name": "run_deploy", "input": "{}", "error": json.dumps(error)},
        template="Function: {name}",
        status_code=StatusCode.ERROR,
    )
    content = DIALECT.read_span(span)
    assert content is not None and content.tool_run is not None
    assert content.tool_run.error
    assert content.tool_run.error_message == "Error running tool (non-fatal): redacted"
    plain = make_span({"name": "f", "error": "boom"}, template="Function: {name}")
    content = DIALECT.read_span(plain)
    assert content is not None and content.tool_run is not None
    assert (content.tool_run.error, content.tool_run.error_message) == (True, "boom")


def test_trace_task_agent_and_turn_spans_are_agent_spans_and_others_are_other() -> None:
    templates = ("OpenAI Agents trace: {name}", "Task: replay_agent", "Agent run: {name!r}")
    for template in (*templates, "Turn {turn} for agent replay_agent"):
        assert DIALECT.read_span(make_span({}, template=template)) == SpanContent(SpanRole.AGENT)
    handoff = DIALECT.read_span(make_span({}, template="Handoff: {from_agent} -> {to_agent}"))
    assert handoff == SpanContent(SpanRole.OTHER)
