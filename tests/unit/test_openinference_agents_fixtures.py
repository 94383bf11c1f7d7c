"""The ``openinference`` and ``agents_logfire`` dialects against the captured fixtures."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import pytest

from tasktrace.model import Role, SpanRole
from tests.unit.dialect_helpers import (
    CONVERSATIONS,
    CUT,
    SDK_TOOL_ERROR,
    assert_after_cut_reads_as_failures,
    assert_tool_runs,
    assert_transcript,
    captured_turns,
    last_llm,
    read_fixture,
    tool_runs,
)

#: variant folder -> (dialect that must read it, whether its tool spans record the call id)
BASES = {
    "openinference": ("openinference", True),
    "openinference-genai": ("openinference", True),
    "agents-openinference": ("openinference", False),
    "agents-logfire": ("agents_logfire", False),
}
VARIANTS = tuple(v for base in BASES for v in (base, f"{base}-stream"))


def _base(variant: str) -> tuple[str, bool]:
    return BASES[variant.removesuffix("-stream")]


def _expected_turns(variant: str, conversation: str) -> list[Mapping[str, Any]]:
    return captured_turns(conversation, sdk_tool_error=variant.startswith("agents-"))


@pytest.mark.parametrize("ext", ["pb", "json"])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_last_model_call_carries_the_whole_conversation(
    variant: str, conversation: str, ext: str
) -> None:
    read = read_fixture(variant, conversation, ext)
    assert {r.dialect for r in read} == {_base(variant)[0]}
    assert_transcript(last_llm(read), _expected_turns(variant, conversation))


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_model_call_repeats_the_previous_calls_messages_unchanged(
    variant: str, conversation: str
) -> None:
    calls = sorted(
        (r for r in read_fixture(variant, conversation) if r.content.role is SpanRole.LLM),
        key=lambda r: r.end_ns,
    )
    assert len(calls) >= 2
    for earlier, later in pairwise(calls):
        size = len(earlier.content.messages)
        assert later.content.messages[:size] == earlier.content.messages
        outputs = later.content.messages[len(later.content.messages) - later.content.output_count :]
        assert outputs and all(m.role is Role.ASSISTANT for m in outputs)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_tool_spans_name_each_tool_run_and_flag_the_failure(
    variant: str, conversation: str
) -> None:
    read = read_fixture(variant, conversation)
    assert_tool_runs(read, _expected_turns(variant, conversation), call_ids=_base(variant)[1])
    runs = tool_runs(read)
    assert all(run.arguments.startswith("{") and (run.result or run.error) for run in runs)
    if not _base(variant)[1]:
        assert all(run.call_id == "" for run in runs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_failing_tool_reports_why_and_the_model_sees_the_result_text(variant: str) -> None:
    read = read_fixture(variant, "tool-error")
    (run,) = tool_runs(read)
    tool_messages = [m for m in last_llm(read).messages if m.role is Role.TOOL]
    assert [m.tool_name for m in tool_messages] == ["run_deploy"]
    if variant.startswith("agents-"):
        assert "Error running tool (non-fatal)" in run.error_message
        assert tool_messages[0].content == SDK_TOOL_ERROR
    else:
        assert "lacks role 'cluster-admin'" in run.error_message


@pytest.mark.parametrize("conversation", [*CONVERSATIONS, *(f"{c}.after-cut" for c in CUT)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_protobuf_and_json_files_read_the_same(variant: str, conversation: str) -> None:
    from_pb = read_fixture(variant, conversation, "pb")
    from_json = read_fixture(variant, conversation, "json")
    assert from_pb
    assert [r.span for r in from_pb] == [r.span for r in from_json]
    assert [r.content for r in from_pb] == [r.content for r in from_json]


@pytest.mark.parametrize("ext", ["pb", "json"])
@pytest.mark.parametrize("conversation", CUT)
@pytest.mark.parametrize("variant", VARIANTS)
def test_what_arrived_after_the_cut_reads_as_a_call_without_output_or_a_failed_tool(
    variant: str, conversation: str, ext: str
) -> None:
    read = read_fixture(variant, f"{conversation}.after-cut", ext)
    assert_after_cut_reads_as_failures(read, conversation)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("stream", ["", "-stream"])
def test_both_exports_of_an_agents_sdk_run_read_as_the_same_model_calls(
    conversation: str, stream: str
) -> None:
    def calls(variant: str) -> list[tuple[Any, ...]]:
        read = read_fixture(variant + stream, conversation)
        llm = sorted((r for r in read if r.content.role is SpanRole.LLM), key=lambda r: r.end_ns)
        return [(r.content.messages, r.content.output_count) for r in llm]

    assert calls("agents-openinference") == calls("agents-logfire")
