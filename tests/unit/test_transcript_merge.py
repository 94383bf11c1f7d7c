"""Transcript merge on the message lists real libraries send: each message stored once."""

from __future__ import annotations

from tasktrace.model import ChatMessage, Role, ToolCall
from tasktrace.receiver.transcript import merge, window_chains
from tasktrace.records import TranscriptState


def user(text: str) -> ChatMessage:
    return ChatMessage(Role.USER, text)


def calls(text: str, *names: str) -> ChatMessage:
    tool_calls = tuple(ToolCall(f"id-{n}", n, '{"id": "H9ZU1C"}') for n in names)
    return ChatMessage(Role.ASSISTANT, text, tool_calls=tool_calls)


def result(name: str, text: str) -> ChatMessage:
    return ChatMessage(Role.TOOL, text, tool_call_id=f"id-{name}", tool_name=name)


def texts(state: TranscriptState, *lists: list[ChatMessage]) -> list[str]:
    return [
        f"{m.role.value}:{m.content}"
        for msgs in lists
        for m in (n.message for n in merge(state, msgs))
    ]


def test_an_assistant_message_sent_again_without_the_text_of_its_tool_calls_is_stored_once() -> (
    None
):
    # openai-v2 legacy: the output has text and calls, the next call's history only the calls
    state = TranscriptState()
    first = [user("change my flight"), calls("Let me look.", "get_reservation")]
    again = [
        user("change my flight"),
        calls("", "get_reservation"),
        result("get_reservation", "{}"),
    ]
    stored = texts(state, first, again)
    assert stored == ["user:change my flight", "assistant:Let me look.", "tool:{}"]


def test_a_history_that_lost_its_oldest_messages_continues_the_stored_transcript() -> None:
    # OpenInference past the attribute limit: the next call's history starts at message 3
    state = TranscriptState()
    history = [
        ChatMessage(Role.SYSTEM, "policy"),
        user("change my flight"),
        calls("", "get_reservation"),
        result("get_reservation", '{"flights": 2}'),
        ChatMessage(Role.ASSISTANT, "Which flight?"),
    ]
    merge(state, history)
    window = [*history[3:], user("the first one"), calls("", "update_reservation")]
    added = merge(state, window, window_chains(state, window, 3))
    assert [n.message for n in added] == window[2:]
    assert [n.seq for n in added] == [5, 6]


def test_a_window_the_session_cannot_place_is_chained_from_the_start() -> None:
    state = TranscriptState()
    window = [user("hello"), ChatMessage(Role.ASSISTANT, "hi")]
    assert [n.message for n in merge(state, window, window_chains(state, window, 7))] == window
