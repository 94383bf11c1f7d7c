"""The ``genai`` and ``genai_events`` dialects against the captured fixtures."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tasktrace.model import Role, SpanContent, SpanRole, StatusCode
from tests.unit.dialect_helpers import (
    CONVERSATIONS,
    CUT,
    FIXTURES,
    assert_tool_runs,
    assert_transcript,
    captured_turns,
    last_llm,
    load_logs,
    load_spans,
    read_fixture,
)

BASE_VARIANTS = (
    "openai-v2-legacy",
    "openai-v2-latest-span",
    "openai-v2-latest-event",
    "openllmetry",
    "traceloop-sdk",
    "openlit",
    "logfire",
    "agents-openllmetry",
    "agents-traceloop",
)
VARIANTS = tuple(v for base in BASE_VARIANTS for v in (base, f"{base}-stream"))
MINE = {"genai", "genai_events"}

#: the in-flight request's input logs are emitted when the call starts (README, "In-flight")
PENDING_INPUT_EXPORTED = {"openai-v2-legacy", "openai-v2-legacy-stream"}
#: libraries that record the tool-call id on their tool spans
TOOL_SPAN_CALL_IDS = ("openai-v2-", "openlit", "logfire")


def _base(variant: str) -> str:
    return variant.removesuffix("-stream")


def expected_turns(variant: str, conversation: str) -> list[Mapping[str, Any]]:
    """The turns the last model call of the fixture carries."""
    expected = captured_turns(
        conversation,
        pending_input_exported=variant in PENDING_INPUT_EXPORTED,
        sdk_tool_error=variant.startswith("agents-"),
    )
    if _base(variant) == "openlit":
        # OpenLIT leaves the assistant tool-call turns out of gen_ai.input.messages
        expected = [
            t for t in expected[:-1] if not (t["role"] == "assistant" and t.get("tool_calls"))
        ] + expected[-1:]
    return expected


@pytest.mark.parametrize("ext", ["pb", "json"])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_last_model_call_carries_the_whole_conversation(
    variant: str, conversation: str, ext: str
) -> None:
    read = read_fixture(variant, conversation, ext)
    assert {r.dialect for r in read} <= MINE
    assert_transcript(last_llm(read), expected_turns(variant, conversation))


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_model_call_reads_as_system_prompt_history_and_output(
    variant: str, conversation: str
) -> None:
    read = [r for r in read_fixture(variant, conversation) if r.content.role is SpanRole.LLM]
    with_content: dict[tuple[str, str], SpanContent] = {}
    for r in read:
        if r.content.messages:
            previous = with_content.setdefault((r.trace_id, r.span_id), r.content)
            assert previous.messages == r.content.messages  # OpenLIT: span and log record agree
    assert with_content
    for content in with_content.values():
        assert content.messages[0].role is Role.SYSTEM
        # Logfire streaming: the call span ends before the stream, without output
        assert content.output_count >= 1 or conversation == "pending" or variant == "logfire-stream"
        outputs = content.messages[len(content.messages) - content.output_count :]
        assert all(m.role is Role.ASSISTANT for m in outputs)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if _base(v) != "openllmetry"])
def test_tool_spans_name_each_tool_run_and_flag_the_failure(
    variant: str, conversation: str
) -> None:
    assert_tool_runs(
        read_fixture(variant, conversation),
        expected_turns(variant, conversation),
        call_ids=variant.startswith(TOOL_SPAN_CALL_IDS),
    )


AFTER_CUT = [
    (variant, conversation)
    for variant in VARIANTS
    for conversation in CUT
    if (FIXTURES / variant / f"{conversation}.after-cut.pb").exists()
]


@pytest.mark.parametrize("ext", ["pb", "json"])
@pytest.mark.parametrize(("variant", "conversation"), AFTER_CUT)
def test_what_arrived_after_the_cut_reads_as_failed_calls(
    variant: str, conversation: str, ext: str
) -> None:
    read = read_fixture(variant, f"{conversation}.after-cut", ext)
    failed = [r for r in read if r.span and r.span.status_code is StatusCode.ERROR]
    assert failed
    for r in failed:
        role = r.content.role
        assert role in (SpanRole.LLM, SpanRole.TOOL, SpanRole.AGENT, SpanRole.OTHER)
        if role is SpanRole.LLM:
            assert r.content.output_count == 0
        if role is SpanRole.TOOL:
            assert r.content.tool_run is not None and r.content.tool_run.error
    roles = {r.content.role for r in failed}
    assert (SpanRole.LLM if conversation == "pending" else SpanRole.TOOL) in roles


def _stems(variant: str) -> Sequence[str]:
    return sorted(p.name.removesuffix(".pb") for p in (FIXTURES / variant).glob("*.pb"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_protobuf_and_json_fixtures_decode_to_the_same_spans_and_records(variant: str) -> None:
    for stem in _stems(variant):
        folder = FIXTURES / variant
        if stem.endswith(".logs"):
            assert load_logs(folder / f"{stem}.pb") == load_logs(folder / f"{stem}.json")
        else:
            assert load_spans(folder / f"{stem}.pb") == load_spans(folder / f"{stem}.json")


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if _base(v) != "openlit"])
def test_a_calls_output_reads_the_same_in_the_next_calls_input(
    variant: str, conversation: str
) -> None:
    read = read_fixture(variant, conversation)
    llm_spans = {(r.trace_id, r.span_id) for r in read if r.content.role is SpanRole.LLM}
    calls = sorted(
        (
            r.content
            for r in read
            if r.content.role is SpanRole.LLM
            and r.content.output_count
            # the receiver drops an LLM span inside an LLM span (agents-traceloop)
            and not (r.span and (r.trace_id, r.span.parent_span_id) in llm_spans)
        ),
        key=lambda c: len(c.messages),
    )
    assert len(calls) >= 2
    for call, following in itertools.pairwise(calls):
        size = len(call.messages)
        output = call.messages[size - call.output_count :]
        assert following.messages[size - call.output_count : size] == output
