"""Each replay encoder writes a conversation so that our dialects read from it
what they read from the real capture of the library it imitates."""

from __future__ import annotations

import pytest

from tasktrace.evaluation.dataset import LabeledConversation, parse_conversation
from tasktrace.evaluation.replay import ENCODERS, Export, encode, encoder, plan
from tasktrace.evaluation.replay.plan import ModelCall, ToolExecution
from tasktrace.model import LogRecord, Role, Span
from tasktrace.receiver.otlp_decode import (
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_trace_request,
)
from tests.unit.dialect_helpers import (
    CONVERSATIONS,
    ReadSpan,
    last_llm,
    message_view,
    read_fixture,
    read_telemetry,
    samples,
    tool_runs,
)

#: encoder -> the captured fixture variant of the library it imitates
VARIANTS = {
    "genai": "openai-v2-latest-span",
    "openinference": "openinference",
    "genai-events": "openai-v2-legacy",
}


def conversation(name: str) -> LabeledConversation:
    return parse_conversation(samples()[name])


def decode(exports: list[Export]) -> tuple[list[Span], list[LogRecord]]:
    spans: list[Span] = []
    records: list[LogRecord] = []
    for kind, data in exports:
        if kind == "traces":
            spans.extend(iter_spans(parse_trace_request(data)))
        else:
            records.extend(iter_log_records(parse_logs_request(data)))
    return spans, records


def read_encoded(name: str, conv: str, system_prompt: str) -> list[ReadSpan]:
    return read_telemetry(*decode(encode(name, conversation(conv), system_prompt=system_prompt)))


def test_every_encoder_has_a_fixture_to_be_checked_against() -> None:
    assert set(ENCODERS) == set(VARIANTS)


@pytest.mark.parametrize("conv", CONVERSATIONS)
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_last_model_call_reads_as_in_the_real_capture(name: str, conv: str) -> None:
    real = read_fixture(VARIANTS[name], conv)
    system_prompt = last_llm(real).messages[0].content
    encoded = read_encoded(name, conv, system_prompt)
    assert [message_view(m) for m in last_llm(encoded).messages] == [
        message_view(m) for m in last_llm(real).messages
    ]
    assert last_llm(encoded).output_count == last_llm(real).output_count


@pytest.mark.parametrize("conv", CONVERSATIONS)
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_tool_runs_and_dialects_match_the_real_capture(name: str, conv: str) -> None:
    real = read_fixture(VARIANTS[name], conv)
    encoded = read_encoded(name, conv, last_llm(real).messages[0].content)
    assert [(r.name, r.error, r.result) for r in tool_runs(encoded)] == [
        (r.name, r.error, r.result) for r in tool_runs(real)
    ]
    assert {r.dialect for r in encoded} == {r.dialect for r in real}
    assert {r.content.role for r in encoded} == {r.content.role for r in real}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_encoding_is_deterministic_and_ids_depend_on_the_session(name: str) -> None:
    conv = conversation("three-tools")
    first, second = encode(name, conv), encode(name, conv)
    assert first == second
    other = encode(name, parse_conversation({**samples()["three-tools"], "session_id": "other"}))
    ids = {s.span_id for s in decode(first)[0]}
    assert ids.isdisjoint(s.span_id for s in decode(other)[0])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_request_is_one_trace_whose_root_names_the_session(name: str) -> None:
    spans, _ = decode(encode(name, conversation("two-requests")))
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == len({s.trace_id for s in spans}) == 2
    for root in roots:
        assert "sess-two-requests-001" in (
            root.attributes.get("gen_ai.conversation.id"),
            root.attributes.get("session.id"),
        )
        children = [s for s in spans if s.trace_id == root.trace_id and s is not root]
        assert all(s.parent_span_id == root.span_id for s in children)
        assert all(root.start_ns < s.start_ns <= s.end_ns < root.end_ns for s in children)


def test_timestamps_increase_through_the_conversation() -> None:
    replay = plan(conversation("three-tools"))
    steps = [s for r in replay.requests for s in r.steps]
    times = [t for s in steps for t in (s.start_ns, s.end_ns)]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_a_conversation_ending_on_a_user_turn_has_its_last_call_in_flight() -> None:
    replay = plan(conversation("pending"))
    *done, last = replay.requests
    assert all(r.finished for r in done) and not last.finished
    assert last.calls[-1].output is None
    assert last.calls[-1].inputs[-1].role is Role.USER


def test_a_conversation_ending_on_a_tool_call_leaves_the_tool_running() -> None:
    replay = plan(conversation("running"))
    (request,) = replay.requests
    assert not request.finished
    last_call = request.calls[-1]
    assert last_call.output is not None and last_call.output.tool_calls
    assert isinstance(request.steps[-1], ModelCall)  # no run for the open call


def test_tool_results_answer_their_calls_with_generated_ids_in_order() -> None:
    replay = plan(conversation("three-tools"))
    runs = [s for s in replay.requests[0].steps if isinstance(s, ToolExecution)]
    calls = [c for m in replay.requests[0].calls if m.output for c in m.output.tool_calls]
    assert [r.call for r in runs] == calls
    assert len({c.id for c in calls}) == 3 and all(c.id.startswith("call_") for c in calls)


def test_an_unknown_dialect_is_refused_with_the_known_names() -> None:
    with pytest.raises(KeyError, match="genai"):
        encoder("langfuse")
    assert encoder("genai_events") is ENCODERS["genai-events"]
