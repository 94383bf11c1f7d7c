"""The heuristic on the seven labeled fixture conversations (``samples.jsonl``),
and the dataset loader on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasktrace.evaluation.dataset import (
    LabeledConversation,
    conversation_messages,
    load_conversations,
)
from tasktrace.evaluation.scoring import aggregate, score_conversation
from tasktrace.model import Role, TaskStatus
from tests.unit.heuristic_helpers import run

SAMPLES = Path(__file__).parent.parent / "fixtures" / "otlp" / "samples.jsonl"
CONVERSATIONS = {c.id: c for c in load_conversations(SAMPLES)}


def test_the_loader_reads_all_samples_without_first_user_turn() -> None:
    assert len(CONVERSATIONS) == 7
    assert all(e.first_user_turn is None for c in CONVERSATIONS.values() for e in c.expected_tasks)
    assert CONVERSATIONS["pending"].expected_tasks[1].status is TaskStatus.PENDING


def test_conversation_messages_number_ids_and_pair_tool_calls_with_results() -> None:
    msgs = conversation_messages(CONVERSATIONS["three-tools"], system_prompt="sys")
    assert [m.id for m in msgs] == [f"m{i}" for i in range(len(msgs))]
    assert msgs[0].role is Role.SYSTEM
    calls = [c for m in msgs for c in m.tool_calls]
    results = [m for m in msgs if m.role is Role.TOOL]
    assert [c.id for c in calls] == ["call_1", "call_2", "call_3"]
    assert [(r.tool_name, r.tool_call_id) for r in results] == [
        ("get_weather", "call_1"),
        ("search_hotels", "call_2"),
        ("book_restaurant", "call_3"),
    ]
    error = conversation_messages(CONVERSATIONS["tool-error"])
    assert [m.error for m in error if m.role is Role.TOOL] == [True]


def _statuses(conv: LabeledConversation) -> tuple[list[TaskStatus], list[TaskStatus]]:
    tasks = run(conversation_messages(conv, system_prompt="You are a helpful assistant."))
    return [t.status for t in tasks], [e.status for e in conv.expected_tasks]


@pytest.mark.parametrize("conv_id", sorted(CONVERSATIONS))
def test_each_sample_gives_its_expected_tasks_and_statuses(conv_id: str) -> None:
    got, want = _statuses(CONVERSATIONS[conv_id])
    assert got == want


def test_progress_and_preferences_of_the_samples() -> None:
    msgs = conversation_messages(CONVERSATIONS["three-tools"])
    (task,) = run(msgs)
    assert [s.split("(")[0] for s in task.progress] == [
        "get_weather",
        "search_hotels",
        "book_restaurant",
    ]
    (pref_task,) = run(conversation_messages(CONVERSATIONS["preference"]))
    assert any("bullet points" in p for p in pref_task.preferences)


def test_the_samples_score_perfectly_on_segmentation_and_status() -> None:
    scores = []
    for conv in CONVERSATIONS.values():
        msgs = conversation_messages(conv, system_prompt="sys")
        scores.append(score_conversation(conv, msgs, run(msgs)))
    score = aggregate(scores)
    assert score.segmentation_f1 == 1.0
    assert score.status_accuracy == 1.0
