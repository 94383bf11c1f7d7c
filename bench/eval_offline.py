"""Offline evaluation of the heuristic extractor on a labeled dataset (no server).

Each conversation is fed the way a live session would be: in chunks of
``--chunk`` messages with the previous messages as context, the ops applied
with :func:`apply_ops` between chunks; and once all at once, to check that both
give the same tasks. Prints the score table and writes
``bench/results/eval-offline-<name>.json``.

    python bench/eval_offline.py [../shared/datasets/sgd-dev.jsonl] [--chunk 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tasktrace.config.extractor import CriteriaConfig
from tasktrace.evaluation.dataset import (
    LabeledConversation,
    conversation_messages,
    load_conversations,
)
from tasktrace.evaluation.scoring import ConversationScore, aggregate, score_conversation
from tasktrace.extractor.heuristic import CONTEXT_MESSAGES, HeuristicExtractor
from tasktrace.extractor.offline import run_in_chunks
from tasktrace.model import Message, Task

#: the labeled datasets live beside the repository, never in it (their licence asks it)
DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sgd-dev.jsonl"
SYSTEM_PROMPT = "You are a helpful assistant. Use the tools when they help."


def run_session(
    messages: Sequence[Message], *, chunk: int, criteria: CriteriaConfig
) -> tuple[Task, ...]:
    """Feed ``messages`` in chunks of ``chunk`` (0: all at once) and apply the ops."""
    extractor = HeuristicExtractor(criteria)
    return asyncio.run(run_in_chunks(extractor, messages, chunk=chunk, context=CONTEXT_MESSAGES))


def comparable(tasks: Sequence[Task]) -> list[tuple[object, ...]]:
    """The parts of tasks that must not depend on chunking (not the timestamps)."""
    return [
        (
            t.order,
            t.description,
            t.status,
            t.progress,
            t.preferences,
            t.message_ids,
            tuple(h.status for h in t.history),
            t.revision,
        )
        for t in tasks
    ]


def evaluate(
    convs: Sequence[LabeledConversation], *, chunk: int, criteria: CriteriaConfig
) -> tuple[list[ConversationScore], list[str]]:
    """Scores of the chunked run, and the ids whose whole-run tasks differ."""
    scores, differ = [], []
    for conv in convs:
        messages = conversation_messages(conv, system_prompt=SYSTEM_PROMPT)
        chunked = run_session(messages, chunk=chunk, criteria=criteria)
        whole = run_session(messages, chunk=0, criteria=criteria)
        if comparable(chunked) != comparable(whole):
            differ.append(conv.id)
        scores.append(score_conversation(conv, messages, chunked))
    return scores, differ


def _table(result: dict[str, object]) -> str:
    keys = [
        "conversations",
        "segmentation_f1",
        "segmentation_precision",
        "segmentation_recall",
        "status_accuracy",
        "status_balanced_accuracy",
        "progress_attribution",
        "preference_recall",
        "preference_precision",
    ]
    lines = [
        f"{k:28s} {result[k]:.3f}" if isinstance(result[k], float) else f"{k:28s} {result[k]}"
        for k in keys
    ]
    lines.append("confusion (expected -> extracted):")
    for want, row in sorted(dict(result["confusion"]).items()):  # type: ignore[call-overload]
        lines.append(f"  {want:8s} {json.dumps(row, sort_keys=True)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", default=DEFAULT_DATASET)
    parser.add_argument("--chunk", type=int, default=16, help="messages per flush (0: all at once)")
    parser.add_argument("--out", default="", help="JSON output path")
    args = parser.parse_args(argv)
    convs = load_conversations(args.dataset)
    started = time.perf_counter()
    scores, differ = evaluate(convs, chunk=args.chunk, criteria=CriteriaConfig())
    elapsed = time.perf_counter() - started
    result = aggregate(scores).to_dict()
    result.update(
        dataset=str(args.dataset),
        chunk=args.chunk,
        context_messages=CONTEXT_MESSAGES,
        chunked_differs_from_whole=differ,
        seconds=round(elapsed, 2),
    )
    name = Path(args.dataset).name.removesuffix(".jsonl")
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"eval-offline-{name}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(_table(result))
    print(
        f"chunked (every {args.chunk}) vs whole: {len(differ)} of {len(convs)} conversations differ"
    )
    print(f"{elapsed:.1f}s (both runs); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
