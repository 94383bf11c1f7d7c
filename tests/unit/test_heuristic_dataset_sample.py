"""The heuristic extractor on a sample of the labeled dialogues (SGD, see the
datasets README beside the repository). The datasets stay outside the repo, as
their licence asks; without them this module is skipped. The floors sit below
the full-file numbers in BENCHMARKS.md: they catch regressions, not noise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tasktrace.config.extractor import CriteriaConfig
from tasktrace.evaluation.dataset import conversation_messages, load_conversations
from tasktrace.evaluation.scoring import Score, aggregate, score_conversation
from tasktrace.extractor.heuristic import CONTEXT_MESSAGES, HeuristicExtractor
from tasktrace.extractor.offline import run_in_chunks

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"

pytestmark = pytest.mark.skipif(
    not (DATASETS / "sgd-dev.jsonl").exists(), reason="labeled datasets not beside the repository"
)


def score_sample(name: str, every: int) -> Score:
    conversations = load_conversations(DATASETS / name)[::every]
    extractor = HeuristicExtractor(CriteriaConfig())
    scores = []
    for conv in conversations:
        messages = conversation_messages(conv, system_prompt="You are a helpful assistant.")
        tasks = asyncio.run(run_in_chunks(extractor, messages, chunk=16, context=CONTEXT_MESSAGES))
        scores.append(score_conversation(conv, messages, tasks))
    return aggregate(scores)


def test_heuristic_segments_and_judges_a_sample_of_whole_dialogues() -> None:
    result = score_sample("sgd-dev.jsonl", every=5).to_dict()
    assert result["conversations"] == 60
    assert result["segmentation_f1"] >= 0.85
    assert result["status_balanced_accuracy"] >= 0.80
    assert result["progress_attribution"] >= 0.85
    assert result["preference_precision"] >= 0.80


def test_heuristic_tells_pending_and_running_apart_on_cut_dialogues() -> None:
    result = score_sample("sgd-dev-prefixes.jsonl", every=2).to_dict()
    assert result["conversations"] == 50
    assert result["status_balanced_accuracy"] >= 0.80
