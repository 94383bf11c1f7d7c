"""What ``tasktrace eval`` prints and writes, from hand-made results (no server)."""

from __future__ import annotations

import io
from dataclasses import replace

from tasktrace.cli.eval import ProgressBar, format_table, render_bar
from tasktrace.evaluation.dataset import parse_conversation
from tasktrace.evaluation.harness import ConversationResult, Evaluation
from tasktrace.evaluation.scoring import ConversationScore, aggregate


def make_result(
    id: str = "c1",
    *,
    session_id: str = "s1",
    statuses: tuple[tuple[str, str], ...] = (("success", "success"),),
    tokens: tuple[int, int] = (0, 0),
) -> ConversationResult:
    score = ConversationScore(
        id=id,
        source="hand",
        expected=len(statuses),
        extracted=sum(1 for _, got in statuses if got != "missing"),
        matched=sum(1 for _, got in statuses if got != "missing"),
        statuses=statuses,
        progress_expected=2,
        progress_found=1,
        preferences_expected=2,
        preferences_found=2,
        preferences_extracted=4,
        preferences_correct=2,
    )
    return ConversationResult(id, session_id, score, *tokens)


def make_evaluation(*results: ConversationResult, extractor: str = "heuristic") -> Evaluation:
    return Evaluation(
        score=aggregate([r.score for r in results]),
        conversations=results,
        dataset="hand.jsonl",
        extractor=extractor,
        dialect="genai",
        model="tiny" if extractor == "llm" else "",
        seconds=1.234,
    )


def test_the_bar_fills_in_proportion_to_the_conversations_done() -> None:
    assert render_bar(3, 10, 1.5, width=10) == "eval [###.......] 3/10 conversations  1.5s"
    assert render_bar(0, 0, 0.0, width=4) == "eval [####] 0/0 conversations  0.0s"


def test_off_a_terminal_the_progress_bar_prints_only_the_final_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for done in range(4):
        bar(done, 3)
    assert stream.getvalue().count("conversations") == 1
    assert stream.getvalue().startswith("\reval [") and stream.getvalue().endswith(
        "3/3 conversations  0.0s\n"
    )


def test_the_json_has_the_headline_scores_and_per_conversation_tokens() -> None:
    data = make_evaluation(
        make_result("a", tokens=(100, 10)),
        make_result("b", session_id="", statuses=(("failed", "missing"),)),
        extractor="llm",
    ).to_dict()
    for key in (
        "segmentation_f1",
        "status_accuracy",
        "status_balanced_accuracy",
        "progress_attribution",
        "preference_recall",
        "preference_precision",
    ):
        assert 0.0 <= data[key] <= 1.0
    assert data["conversations"] == 2 and data["model"] == "tiny"
    assert data["sessions_missing"] == ["b"]
    assert data["tokens"] == {
        "input": 100,
        "output": 10,
        "input_per_conversation": 50.0,
        "output_per_conversation": 5.0,
    }
    first = data["per_conversation"][0]
    assert (first["id"], first["input_tokens"], first["statuses"]) == (
        "a",
        100,
        [["success", "success"]],
    )


def test_the_table_shows_scores_statuses_and_the_confusion_matrix() -> None:
    table = format_table(
        make_evaluation(
            make_result("a", statuses=(("success", "success"), ("failed", "running"))),
        ).to_dict()
    )
    lines = table.splitlines()
    assert lines[0] == "dataset    hand.jsonl (1 conversations, 2 tasks expected, 2 extracted)"
    assert "segmentation F1            1.000" in lines
    assert "status accuracy            0.500" in lines
    assert "failed           1        1        0  0.000" in lines
    assert "success          1        1        1  1.000" in lines
    confusion = lines[lines.index("confusion  expected \\ extracted") + 1 :]
    assert confusion[0].split() == ["success", "failed", "running", "pending", "expired", "missing"]
    assert confusion[1].split() == ["failed", "0", "0", "1", "0", "0", "0"]
    assert "tokens" not in table


def test_the_table_reports_llm_tokens_and_conversations_that_left_nothing() -> None:
    table = format_table(
        make_evaluation(
            make_result("a", tokens=(300, 30)), make_result("b", session_id=""), extractor="llm"
        ).to_dict()
    )
    assert "extractor  llm (tiny)   dialect genai   1.2s" in table
    assert "in 300 (150.0 per conversation), out 30 (15.0 per conversation)" in table
    assert "1 conversations left no session" in table


def test_the_table_warns_when_statuses_are_an_outcome_verdict() -> None:
    plain = format_table(make_evaluation(make_result("a")).to_dict())
    verdict = replace(make_result("b"), status_is_verdict=True)
    warned = format_table(make_evaluation(make_result("a"), verdict).to_dict())
    assert "caveat" not in plain
    assert "status labels of 1 conversations are an outcome verdict" in warned
    assert "reported, not tuned" in warned


def test_a_reward_in_the_line_marks_its_statuses_as_a_verdict() -> None:
    line = {"id": "x", "turns": [{"role": "user", "content": "hi"}], "reward": 0.0}
    assert parse_conversation(line).status_is_verdict
    assert not parse_conversation({"id": "y", "turns": []}).status_is_verdict
