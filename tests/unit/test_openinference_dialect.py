"""The ``openinference`` dialect on small hand-written spans."""

from __future__ import annotations

from dataclasses import replace

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
    ToolRun,
)
from tasktrace.receiver.dialects import dialect_for_span
from tasktrace.receiver.dialects.openinference import DIALECT
from tests.unit.dialect_helpers import fixture, load_spans


def make_span(
    attrs: dict[str, AttrValue] | None = None,
    *,
    kind: str = "LLM",
    name: str = "response",
    status_code: StatusCode = StatusCode.UNSET,
    events: tuple[SpanEvent, ...] = (),
) -> Span:
    attributes = {"openinference.span.kind": kind, **(attrs or {})}
    return Span("t1", "s1", name, attributes=attributes, status_code=status_code, events=events)


def read(span: Span) -> SpanContent:
    content = DIALECT.read_span(span)
    assert content is not None
    return content


def test_spans_with_an_openinference_kind_are_claimed_before_the_genai_dialects() -> None:
    span = make_span({"gen_ai.input.messages": "[]"})
    assert dialect_for_span(span) is DIALECT
    assert not DIALECT.claims_span(Span("t1", "s1", "POST", attributes={"http.method": "POST"}))
    assert not DIALECT.claims_log(LogRecord(time_ns=1, body="x"))


def test_flattened_messages_read_in_index_order_with_output_last() -> None:
    content = read(
        make_span(
            {
                "llm.input_messages.10.message.role": "user",
                "llm.input_messages.10.message.content": "second",
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "be brief",
                "llm.input_messages.2.message.role": "user",
                "llm.input_messages.2.message.contents.1.message_content.type": "text",
                "llm.input_messages.2.message.contents.1.message_content.text": "b",
                "llm.input_messages.2.message.contents.0.message_content.type": "text",
                "llm.input_messages.2.message.contents.0.message_content.text": "a",
                "llm.input_messages.2.message.contents.2.message_content.type": "image",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "done",
                "llm.model_name": "gpt-4o-mini-2024-07-18",
                "llm.token_count.prompt": 12,
                "llm.token_count.completion": "3",
            }
        )
    )
    assert content.role is SpanRole.LLM
    assert [(m.role, m.content) for m in content.messages] == [
        (Role.SYSTEM, "be brief"),
        (Role.USER, "a\nb"),
        (Role.USER, "second"),
        (Role.ASSISTANT, "done"),
    ]
    assert content.output_count == 1
    assert (content.model, content.input_tokens, content.output_tokens) == (
        "gpt-4o-mini-2024-07-18",
        12,
        3,
    )


def test_tool_calls_split_over_assistant_messages_read_as_one_turn_and_results_get_names() -> None:
    p = "llm.input_messages"
    content = read(
        make_span(
            {
                f"{p}.0.message.role": "user",
                f"{p}.0.message.content": "weather and hotels",
                f"{p}.1.message.role": "assistant",
                f"{p}.1.message.tool_calls.0.tool_call.id": "call_1",
                f"{p}.1.message.tool_calls.0.tool_call.function.name": "get_weather",
                f"{p}.1.message.tool_calls.0.tool_call.function.arguments": '{"b": 1, "a": [1, 2]}',
                f"{p}.2.message.role": "assistant",
                f"{p}.2.message.tool_calls.0.tool_call.id": "call_2",
                f"{p}.2.message.tool_calls.0.tool_call.function.name": "search_hotels",
                f"{p}.2.message.tool_calls.0.tool_call.function.arguments": "not json",
                f"{p}.3.message.role": "tool",
                f"{p}.3.message.tool_call_id": "call_2",
                f"{p}.3.message.content": "[]",
            }
        )
    )
    assert content.messages[1:] == (
        ChatMessage(
            Role.ASSISTANT,
            tool_calls=(
                ToolCall("call_1", "get_weather", '{"a":[1,2],"b":1}'),
                ToolCall("call_2", "search_hotels", "not json"),
            ),
        ),
        ChatMessage(Role.TOOL, content="[]", tool_call_id="call_2", tool_name="search_hotels"),
    )
    assert content.output_count == 0


def test_bad_values_are_skipped_without_raising() -> None:
    content = read(
        make_span(
            {
                "llm.input_messages.0.message.role": 7,
                "llm.input_messages.0.message.content": "no role",
                "llm.input_messages.x.message.role": "user",
                "llm.input_messages.1.message.role": "assistant",
                "llm.input_messages.2.message.role": "user",
                "llm.input_messages.2.message.content": ["a", "list"],
                "llm.input_messages.3.message.role": "assistant",
                "llm.input_messages.3.message.tool_calls.0.tool_call.id": "call_1",
                "llm.token_count.prompt": "many",
            }
        )
    )
    assert [m.role for m in content.messages] == [Role.USER]
    assert content.input_tokens == 0


def test_a_tool_span_reads_name_call_id_arguments_and_result() -> None:
    attrs: dict[str, AttrValue] = {
        "tool.name": "get_weather",
        "tool.id": "call_1",
        "input.value": '{"city": "Paris"}',
        "output.value": "rain",
    }
    span = make_span(attrs, kind="TOOL", name="get_weather")
    assert read(span) == SpanContent(
        role=SpanRole.TOOL,
        tool_run=ToolRun("get_weather", "call_1", '{"city":"Paris"}', "rain"),
    )


def test_a_failed_tool_span_carries_the_error_message_of_its_exception() -> None:
    span = make_span(
        {"input.value": "{}"},
        kind="TOOL",
        name="run_deploy",
        status_code=StatusCode.ERROR,
        events=(SpanEvent("exception", 5, {"exception.message": "denied"}),),
    )
    run = read(span).tool_run
    assert run is not None
    assert (run.name, run.error, run.error_message, run.arguments) == (
        "run_deploy",
        True,
        "denied",
        "{}",
    )


def test_agent_and_chain_spans_are_agent_spans_and_other_kinds_are_other() -> None:
    agent = make_span({"input.value": "hello"}, kind="AGENT", name="replay_agent")
    assert read(agent) == SpanContent(role=SpanRole.AGENT)
    assert read(make_span(kind="chain")).role is SpanRole.AGENT
    assert read(make_span(kind="RETRIEVER")).role is SpanRole.OTHER


@pytest.mark.parametrize("conversation", ["three-tools", "tool-error", "two-requests"])
def test_agents_spans_read_the_same_from_raw_responses_items_as_from_flattened_ones(
    conversation: str,
) -> None:
    spans = load_spans(fixture("agents-openinference", f"{conversation}.pb"))
    calls = [s for s in spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert calls
    for span in calls:
        flattened = ("llm.input_messages.", "llm.output_messages.")
        raw_only = {k: v for k, v in span.attributes.items() if not k.startswith(flattened)}
        assert read(replace(span, attributes=raw_only)) == read(span)


def test_a_history_cut_at_the_attribute_limit_starts_at_its_first_whole_message() -> None:
    # the SDK dropped messages 0-1 and the role of message 2 (oldest attributes first)
    content = read(
        make_span(
            {
                "llm.input_messages.2.message.content": "half a message",
                "llm.input_messages.3.message.role": "user",
                "llm.input_messages.3.message.content": "the first one",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Booked.",
                "input.value": '{"messages": [{"role": "system", "content": "policy"}]}',
            }
        )
    )
    assert content.history_start == 3
    assert [(m.role, m.content) for m in content.messages] == [
        (Role.USER, "the first one"),
        (Role.ASSISTANT, "Booked."),
    ]


def test_a_whole_history_starts_at_zero() -> None:
    content = read(
        make_span(
            {
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "hello",
            }
        )
    )
    assert content.history_start == 0
    assert [m.content for m in content.messages] == ["hello"]


def test_a_history_whose_first_message_lost_its_role_starts_after_it() -> None:
    content = read(
        make_span(
            {
                "llm.input_messages.0.message.content": "policy",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": "hello",
            }
        )
    )
    assert content.history_start == 1
    assert [(m.role, m.content) for m in content.messages] == [(Role.USER, "hello")]
