"""Scoring extracted tasks against labeled ones, on hand-made cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasktrace.evaluation.dataset import (
    LabeledConversation,
    conversation_messages,
    parse_conversation,
)
from tasktrace.evaluation.scoring import aggregate, score_conversation, step_tool_name
from tasktrace.model import Message, Task, TaskStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = TaskStatus

TURNS: list[dict[str, Any]] = [
    {"role": "user", "content": "Find a hotel in Rome."},  # turn 0, user ordinal 0
    {"role": "assistant", "tool_calls": [{"name": "SearchHotel", "arguments": {"city": "Rome"}}]},
    {"role": "tool", "name": "SearchHotel", "content": "[{}]"},
    {"role": "assistant", "content": "Hotel Roma?"},
    {"role": "user", "content": "Book it for 2 nights."},  # turn 4, user ordinal 1
    {"role": "assistant", "tool_calls": [{"name": "ReserveHotel", "arguments": {"nights": 2}}]},
    {"role": "tool", "name": "ReserveHotel", "content": "[]", "error": True},
    {"role": "assistant", "content": "Sorry, it failed."},
]


def conversation(*expected: dict[str, Any], source: str = "sgd") -> LabeledConversation:
    return parse_conversation(
        {
            "id": "c1",
            "session_id": "s",
            "source": source,
            "turns": TURNS,
            "expected_tasks": list(expected),
        }
    )


SEARCH = {
    "description": "search",
    "status": "success",
    "progress": ["SearchHotel"],
    "preferences": ["city=Rome"],
    "preferences_canonical": ["city=Rome"],
    "first_user_turn": 0,
}
RESERVE = {
    "description": "reserve",
    "status": "failed",
    "progress": ["ReserveHotel"],
    "preferences": ["nights=two"],
    "preferences_canonical": ["nights=2"],
    "first_user_turn": 4,
}


def task(
    order: int,
    ids: tuple[str, ...],
    status: TaskStatus,
    progress: tuple[str, ...] = (),
    preferences: tuple[str, ...] = (),
) -> Task:
    return Task(
        id=f"t{order}",
        session_id="s",
        order=order,
        description="",
        status=status,
        created_at=T0,
        updated_at=T0,
        progress=progress,
        preferences=preferences,
        message_ids=ids,
    )


def transcript(conv: LabeledConversation) -> tuple[Message, ...]:
    # with a system message first, as a real server stores it: user ordinals are unaffected
    return conversation_messages(conv, system_prompt="sys")


PERFECT = (
    task(1, ("m1", "m2", "m3", "m4"), S.SUCCESS, ("SearchHotel(city=Rome)",), ("city=Rome",)),
    task(2, ("m5", "m6", "m7", "m8"), S.FAILED, ("ReserveHotel(nights=2)",), ("nights=2",)),
)


def test_a_perfect_extraction_scores_one_everywhere() -> None:
    conv = conversation(SEARCH, RESERVE)
    score = aggregate([score_conversation(conv, transcript(conv), PERFECT)])
    assert score.segmentation_f1 == score.status_accuracy == score.status_balanced_accuracy == 1.0
    assert (
        score.progress_attribution == score.preference_recall == score.preference_precision == 1.0
    )
    assert score.confusion == {"success": {"success": 1}, "failed": {"failed": 1}}


def test_a_missing_task_lowers_recall_and_attribution_but_not_precision() -> None:
    conv = conversation(SEARCH, RESERVE)
    score = aggregate([score_conversation(conv, transcript(conv), PERFECT[:1])])
    assert score.segmentation_precision == 1.0 and score.segmentation_recall == 0.5
    assert score.segmentation_f1 == pytest.approx(2 / 3)
    assert score.progress_attribution == 0.5 and score.preference_recall == 0.5
    assert score.confusion["failed"] == {"missing": 1}
    assert score.status_accuracy == 1.0


def test_an_extra_task_lowers_precision_and_its_preferences_count_as_wrong() -> None:
    conv = conversation(SEARCH)
    extra = task(2, ("m5",), S.FAILED, (), ("nights=2",))
    score = aggregate([score_conversation(conv, transcript(conv), (*PERFECT[:1], extra))])
    assert score.segmentation_precision == 0.5 and score.segmentation_recall == 1.0
    assert score.preference_precision == 0.5


def test_a_task_starting_at_another_user_message_does_not_match() -> None:
    conv = conversation(RESERVE)
    late = task(1, ("m8",), S.FAILED)  # linked to the last assistant message only
    score = aggregate([score_conversation(conv, transcript(conv), (late,))])
    assert score.segmentation_f1 == 0.0


def test_a_wrong_status_shows_in_accuracy_and_confusion() -> None:
    conv = conversation(SEARCH, RESERVE)
    wrong = (PERFECT[0], task(2, ("m5",), S.SUCCESS, ("ReserveHotel()",)))
    score = aggregate([score_conversation(conv, transcript(conv), wrong)])
    assert score.status_accuracy == 0.5
    assert score.confusion["failed"] == {"success": 1}
    assert score.per_status["failed"]["recall"] == 0.0


def test_balanced_accuracy_exposes_answering_success_for_everything() -> None:
    conv = conversation(SEARCH, RESERVE)
    all_success = (PERFECT[0], task(2, ("m5",), S.SUCCESS))
    scores = [score_conversation(conv, transcript(conv), all_success)] * 9
    score = aggregate(scores)
    assert score.status_accuracy == 0.5
    assert score.status_balanced_accuracy == 0.5


def test_preferences_match_loosely_on_surface_or_canonical_value() -> None:
    conv = conversation(RESERVE)
    for text, found in [
        ("nights=2", True),
        ("Nights=Two", True),
        ("stay two nights", True),
        ("nights=22", False),
        ("rooms=3", False),
    ]:
        got = task(1, ("m5",), S.FAILED, (), (text,))
        score = aggregate([score_conversation(conv, transcript(conv), (got,))])
        assert (score.preference_recall == 1.0) is found, text


def test_progress_counts_tool_calls_with_multiplicity() -> None:
    conv = conversation({**RESERVE, "progress": ["ReserveHotel", "ReserveHotel"]})
    once = task(1, ("m5",), S.FAILED, ("ReserveHotel(nights=2)",))
    score = aggregate([score_conversation(conv, transcript(conv), (once,))])
    assert score.progress_attribution == 0.5
    assert step_tool_name("ReserveHotel(nights=2)") == "reservehotel"


def test_expected_tasks_without_first_user_turn_are_matched_by_rank() -> None:
    conv = parse_conversation(
        {"id": "c", "turns": TURNS, "expected_tasks": [{"description": "x", "status": "success"}]}
    )
    score = aggregate([score_conversation(conv, transcript(conv), (task(1, ("m9",), S.SUCCESS),))])
    assert score.segmentation_f1 == 1.0


def test_the_result_dict_has_the_agreed_keys_and_per_source_breakdown() -> None:
    a, b = (
        conversation(SEARCH, RESERVE, source="sgd"),
        conversation(SEARCH, RESERVE, source="other"),
    )
    score = aggregate(
        [
            score_conversation(a, transcript(a), PERFECT),
            score_conversation(b, transcript(b), PERFECT[:1]),
        ]
    )
    out = score.to_dict()
    assert {
        "conversations",
        "segmentation_f1",
        "segmentation_precision",
        "segmentation_recall",
        "status_accuracy",
        "status_balanced_accuracy",
        "progress_attribution",
        "preference_recall",
        "preference_precision",
        "confusion",
        "per_status",
        "per_source",
    } <= set(out)
    assert out["conversations"] == 2
    assert out["per_source"]["sgd"]["segmentation_f1"] == 1.0
    assert out["per_source"]["other"]["segmentation_recall"] == 0.5
