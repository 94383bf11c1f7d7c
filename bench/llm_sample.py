"""Run the ``llm`` extractor on a few labeled conversations and measure it.

Each conversation is fed as a live session would be: chunks of ``--chunk``
messages with a few earlier ones as context, ops applied between chunks.
Reports tasks found vs expected (scored like ``eval_offline.py``), tokens per
conversation, prompt tokens per new message, and seconds per call. Without
``--base-url`` it starts the local llama.cpp test server (``.ci/install-llm.sh``).

    python bench/llm_sample.py [--count 10] [--chunk 16] [--base-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.evaluation.dataset import (
    LabeledConversation,
    conversation_messages,
    load_conversations,
)
from tasktrace.evaluation.scoring import ConversationScore, aggregate, score_conversation
from tasktrace.extractor.llm import LLMExtractor
from tasktrace.extractor.offline import ChunkCall, run_in_chunks
from tasktrace.model import Message, Task

#: the labeled datasets live beside the repository, never in it (their licence asks it)
DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sgd-dev.jsonl"
SYSTEM_PROMPT = "You are a helpful assistant. Use the tools when they help."
CONTEXT_MESSAGES = 6  # what the prompt shows at most (extractor/llm_prompt.py)


@dataclass(frozen=True, slots=True)
class Call:
    conversation: str
    new_messages: int
    seconds: float
    input_tokens: int
    output_tokens: int
    ops: int
    failed: bool


async def run_session(
    extractor: LLMExtractor, messages: Sequence[Message], chunk: int, calls: list[Call]
) -> tuple[Task, ...]:
    session = messages[0].session_id

    def record(call: ChunkCall) -> None:
        if call.error:
            print(f"  {session}: {call.error}", file=sys.stderr)
        calls.append(Call(
            session, call.new_messages, call.seconds, call.input_tokens, call.output_tokens,
            call.ops, bool(call.error),
        ))  # fmt: skip

    return await run_in_chunks(
        extractor, messages, chunk=chunk, context=CONTEXT_MESSAGES, on_call=record
    )


def sample(convs: Sequence[LabeledConversation], count: int) -> list[LabeledConversation]:
    """``count`` conversations spread evenly over the file (deterministic)."""
    step = max(len(convs) // max(count, 1), 1)
    return list(convs[::step][:count])


async def evaluate(
    base_url: str, convs: Sequence[LabeledConversation], chunk: int
) -> tuple[list[ConversationScore], list[Call], list[dict[str, object]]]:
    config = LLMExtractorConfig(base_url=base_url, model="local", timeout=300, max_retries=0)
    extractor = LLMExtractor(config, CriteriaConfig())
    scores: list[ConversationScore] = []
    calls: list[Call] = []
    found: list[dict[str, object]] = []
    try:
        for conv in convs:
            messages = conversation_messages(conv, system_prompt=SYSTEM_PROMPT)
            tasks = await run_session(extractor, messages, chunk, calls)
            scores.append(score_conversation(conv, messages, tasks))
            found.append({
                "id": conv.id,
                "expected": [f"{e.status.value}: {e.description}" for e in conv.expected_tasks],
                "extracted": [f"{t.status.value}: {t.description}" for t in tasks],
            })  # fmt: skip
            print(f"{conv.id}: expected {len(conv.expected_tasks)}, extracted {len(tasks)}")
    finally:
        await extractor.aclose()
    return scores, calls, found


@contextlib.contextmanager
def _endpoint(base_url: str) -> Iterator[str]:
    if base_url:
        yield base_url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/
    from tests.support.llm_server import running_server

    with running_server() as url:
        yield url


def summary(scores: list[ConversationScore], calls: list[Call]) -> dict[str, object]:
    ok = [c for c in calls if not c.failed]
    per_conv: dict[str, int] = {}
    for c in calls:
        used = c.input_tokens + c.output_tokens
        per_conv[c.conversation] = per_conv.get(c.conversation, 0) + used
    return {
        "score": aggregate(scores).to_dict(),
        "tasks_expected": sum(s.expected for s in scores),
        "tasks_extracted": sum(s.extracted for s in scores),
        "tasks_matched": sum(s.matched for s in scores),
        "calls": len(calls),
        "failed_calls": len(calls) - len(ok),
        "seconds_per_call_mean": statistics.fmean(c.seconds for c in ok) if ok else 0.0,
        "seconds_per_call_max": max((c.seconds for c in ok), default=0.0),
        "tokens_per_conversation_mean": statistics.fmean(per_conv.values()) if per_conv else 0.0,
        "input_tokens_per_new_message": [
            round(c.input_tokens / c.new_messages, 1) for c in ok if c.new_messages
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", default=DEFAULT_DATASET)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--base-url", default="")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "llm-sample.json"))
    args = parser.parse_args(argv)
    convs = sample(load_conversations(args.dataset), args.count)
    with _endpoint(args.base_url) as url:
        scores, calls, found = asyncio.run(evaluate(url, convs, args.chunk))
    result = summary(scores, calls)
    result.update(chunk=args.chunk, conversations=found, call_log=[asdict(c) for c in calls])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.items():
        if key not in ("score", "conversations", "call_log"):
            print(f"{key:32s} {value}")
    score = result["score"]
    assert isinstance(score, dict)
    for key in ("segmentation_f1", "status_accuracy", "preference_recall"):
        print(f"{key:32s} {score[key]:.3f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
