"""The same tasks whichever library carried the conversation.

Reads replays made by real instrumentation libraries (one folder per library,
``<lib>/<conversation-id>.pb`` and ``.logs.pb``, as the replay tool writes
them), sends each library's replay into its own in-process tasktrace
(:class:`~tasktrace.server.pipeline.Service` on free 127.0.0.1 ports, a fresh schema
per library, the conversations one after another over OTLP/HTTP) and compares,
per conversation, the task lists: count, order, descriptions, statuses and the
number of progress steps. Prints the share of conversations whose task lists
agree across all libraries, every difference, and per library the transcript
counts (users, tool calls, tool results, failed results) that explain most of
them. With ``--labels`` (the labeled JSONL the replays were made from) it
also scores each library's tasks as ``tasktrace eval`` does, so the eval
numbers can be compared per library. Writes ``bench/results/crosslib-<name>.json``.

    python bench/crosslib.py REPLAY_DIR [REPLAY_DIR ...] [--libs a,b] [--limit N]
        [--labels DATASET.jsonl ...] [--after-cut]

A replay of a conversation that ends on a user turn is cut while the model call
answering it is in flight: a library that logs a call's input when the call
starts (openai-v2 legacy events) has shown that last user turn by then, one that
records it on the span at the end has not. ``--after-cut`` compares the exports
once that call has ended (failed, as the replay makes it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import write_result

from tasktrace.evaluation.client import EvalClient
from tasktrace.evaluation.dataset import LabeledConversation, load_conversations
from tasktrace.evaluation.harness import eval_config, scratch_database
from tasktrace.evaluation.scoring import ConversationScore, aggregate, score_conversation
from tasktrace.model import Message, Role, Task
from tasktrace.receiver.otlp_decode import (
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_trace_request,
)
from tasktrace.server.pipeline import Service

DEFAULT_LIBS = (
    "openai-v2-latest-span",
    "openai-v2-legacy",
    "openinference",
    "openllmetry",
    "openlit",
    "logfire",
)
#: what a task list is compared on: (description, status, number of progress steps)
TaskView = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One conversation as one library's replay came out of tasktrace."""

    session_id: str
    tasks: tuple[TaskView, ...]
    #: users, assistant tool calls, tool results, failed tool results
    counts: tuple[int, int, int, int]
    #: the eval score against the labels, when the conversation has them
    score: ConversationScore | None = None


def task_views(tasks: Sequence[Task]) -> tuple[TaskView, ...]:
    ordered = sorted(tasks, key=lambda t: t.order)
    return tuple((t.description, t.status.value, len(t.progress)) for t in ordered)


def transcript_counts(messages: Sequence[Message]) -> tuple[int, int, int, int]:
    users = sum(m.role is Role.USER for m in messages)
    calls = sum(len(m.tool_calls) for m in messages if m.role is Role.ASSISTANT)
    results = [m for m in messages if m.role is Role.TOOL]
    return users, calls, len(results), sum(m.error for m in results)


def conversation_files(
    folder: Path, *, after_cut: bool = False
) -> dict[str, list[tuple[str, bytes]]]:
    """Conversation id -> its export calls (traces, then logs). The cut-off parts
    (what the replay exported after the cut: the model call left in flight, ended
    by its failure) are left out, or with ``after_cut`` sent last."""
    out: dict[str, list[tuple[str, bytes]]] = {}
    for path in sorted(folder.glob("*.pb")):
        stem = path.name.removesuffix(".pb")
        if stem.endswith((".logs", ".after-cut", ".after-cut.logs")):
            continue
        parts = [stem, f"{stem}.after-cut"] if after_cut else [stem]
        exports = []
        for part in parts:
            for signal, suffix in (("traces", ".pb"), ("logs", ".logs.pb")):
                file = folder / f"{part}{suffix}"
                if file.exists():
                    exports.append((signal, file.read_bytes()))
        out[stem] = exports
    return out


def session_candidates(conversation: str, exports: Sequence[tuple[str, bytes]]) -> list[str]:
    """The replay's session id (the conversation id), then its trace ids in file order:
    an unkeyed session is named after its first trace."""
    found: dict[str, None] = {conversation: None}
    for signal, body in exports:
        if signal == "traces":
            found.update((s.trace_id, None) for s in iter_spans(parse_trace_request(body)))
        else:
            found.update((r.trace_id, None) for r in iter_log_records(parse_logs_request(body)))
    return [c for c in found if c]


async def replay_library(
    folder: Path,
    conversations: Sequence[str],
    dsn: str,
    scratch: Path,
    labels: Mapping[str, LabeledConversation],
    after_cut: bool,
) -> dict[str, Outcome]:
    """Send every conversation of ``folder`` (in order, each flushed before the
    next) into a fresh service; their outcomes by conversation id."""
    files = conversation_files(folder, after_cut=after_cut)
    config = eval_config(dsn)
    outcomes: dict[str, Outcome] = {}
    async with Service(config, scratch) as service, EvalClient(service.endpoints.http) as client:
        for conv in conversations:
            if conv not in files:
                continue
            await client.send(files[conv])
            session_id, _ = await client.flush_first(session_candidates(conv, files[conv]))
            messages, tasks = await client.read(session_id)
            label = labels.get(conv)
            score = score_conversation(label, messages, tasks) if label else None
            outcomes[conv] = Outcome(
                session_id, task_views(tasks), transcript_counts(messages), score
            )
    return outcomes


def compare(
    by_lib: Mapping[str, Mapping[str, Outcome]], conversations: Sequence[str]
) -> tuple[list[str], list[dict[str, object]]]:
    """Conversations whose task lists agree in every library, and the others
    with each library's tasks and transcript counts."""
    same: list[str] = []
    differ: list[dict[str, object]] = []
    for conv in conversations:
        got = {lib: out[conv] for lib, out in by_lib.items() if conv in out}
        if len(got) < len(by_lib) or len({o.tasks for o in got.values()}) > 1:
            differ.append(
                {
                    "conversation": conv,
                    "libraries": {
                        lib: {
                            "session": o.session_id,
                            "tasks": [list(t) for t in o.tasks],
                            "users_calls_results_errors": list(o.counts),
                        }
                        for lib, o in got.items()
                    },
                    "missing": sorted(set(by_lib) - set(got)),
                }
            )
        else:
            same.append(conv)
    return same, differ


def identical_to_reference(
    by_lib: Mapping[str, Mapping[str, Outcome]], conversations: Sequence[str]
) -> dict[str, float]:
    """Per library, the % of conversations whose task list is the reference's
    (the first library's)."""
    reference = next(iter(by_lib.values()), {})
    shares: dict[str, float] = {}
    for lib, out in list(by_lib.items())[1:]:
        same = sum(
            c in out and c in reference and out[c].tasks == reference[c].tasks
            for c in conversations
        )
        shares[lib] = round(100 * same / max(len(conversations), 1), 2)
    return shares


def totals(outcomes: Mapping[str, Outcome]) -> dict[str, int]:
    """Tasks and transcript counts of one library, summed over its conversations."""
    sums = [sum(o.counts[i] for o in outcomes.values()) for i in range(4)]
    return {
        "conversations": len(outcomes),
        "tasks": sum(len(o.tasks) for o in outcomes.values()),
        **dict(zip(("users", "tool_calls", "tool_results", "tool_errors"), sums, strict=True)),
    }


#: the eval numbers compared across libraries
EVAL_KEYS = (
    "segmentation_f1",
    "status_balanced_accuracy",
    "progress_attribution",
    "preference_recall",
    "preference_precision",
)


def eval_numbers(outcomes: Mapping[str, Outcome]) -> dict[str, float]:
    """One library's eval numbers over its labeled conversations."""
    scores = [o.score for o in outcomes.values() if o.score is not None]
    if not scores:
        return {}
    summary = aggregate(scores, by_source=False).to_dict()
    return {key: round(float(summary[key]), 4) for key in EVAL_KEYS}


def eval_spread(numbers: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Per eval number, the largest difference between two libraries."""
    rows = [n for n in numbers.values() if n]
    return (
        {k: round(max(r[k] for r in rows) - min(r[k] for r in rows), 4) for k in EVAL_KEYS}
        if rows
        else {}
    )


async def run(
    folders: Sequence[Path],
    libs: Sequence[str],
    limit: int | None,
    labels: Mapping[str, LabeledConversation],
    after_cut: bool = False,
) -> dict[str, object]:
    by_lib: dict[str, dict[str, Outcome]] = {lib: {} for lib in libs}
    conversations: list[str] = []
    sets: dict[str, list[str]] = {}
    async with scratch_database(None) as (dsn, scratch):
        for folder in folders:
            present = [lib for lib in libs if (folder / lib).is_dir()]
            if not present:
                continue
            convs = sorted(conversation_files(folder / present[0]))[:limit]
            conversations.extend(convs)
            sets[folder.name] = convs
            for lib in present:
                started = time.perf_counter()
                by_lib[lib].update(
                    await replay_library(folder / lib, convs, dsn, scratch, labels, after_cut)
                )
                print(f"{folder.name}/{lib}: {len(convs)} in {time.perf_counter() - started:.0f}s")
    same, differ = compare({k: v for k, v in by_lib.items() if v}, conversations)
    evals = {
        name: {
            lib: eval_numbers({c: out[c] for c in convs if c in out})
            for lib, out in by_lib.items()
            if out
        }
        for name, convs in sets.items()
    }
    return {
        "eval": evals,
        "eval_spread": {name: eval_spread(numbers) for name, numbers in evals.items()},
        "totals": {lib: totals(out) for lib, out in by_lib.items() if out},
        "replays": [f.name for f in folders],
        "after_cut": after_cut,
        "libraries": [lib for lib in libs if by_lib[lib]],
        "conversations": len(conversations),
        "identical": len(same),
        "identical_to_reference_percent": identical_to_reference(
            {k: v for k, v in by_lib.items() if v}, conversations
        ),
        "identical_percent": round(100 * len(same) / max(len(conversations), 1), 2),
        "differences": differ,
    }


def _print(result: Mapping[str, object]) -> None:
    for lib, sums in result["totals"].items():  # type: ignore[attr-defined]
        print(f"{lib:22s} " + " ".join(f"{k}={v}" for k, v in sums.items()))
    for name, by_lib in result["eval"].items():  # type: ignore[attr-defined]
        for lib, numbers in by_lib.items():
            print(f"eval {name} {lib:22s} " + " ".join(f"{k}={v:.3f}" for k, v in numbers.items()))
        spread = result["eval_spread"][name].items()  # type: ignore[index]
        print(f"eval {name} spread (max - min)   " + " ".join(f"{k}={v:.3f}" for k, v in spread))
    print(
        f"identical task lists: {result['identical']} of {result['conversations']}"
        f" ({result['identical_percent']}%) over {', '.join(result['libraries'])}"  # type: ignore[arg-type]
    )
    reference = result["libraries"][0]  # type: ignore[index]
    for lib, share in result["identical_to_reference_percent"].items():  # type: ignore[attr-defined]
        print(f"identical to {reference}: {lib:22s} {share}%")
    for diff in result["differences"]:  # type: ignore[attr-defined]
        print(
            f"- {diff['conversation']}"
            + (f" (missing: {diff['missing']})" if diff["missing"] else "")
        )
        for lib, got in diff["libraries"].items():
            tasks = "; ".join(f"{d[:40]!r} {s} {n}" for d, s, n in got["tasks"])
            print(f"    {lib:22s} u/c/r/e={got['users_calls_results_errors']} {tasks}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("replays", nargs="+", type=Path, help="folders holding <lib>/ replays")
    parser.add_argument("--libs", default=",".join(DEFAULT_LIBS))
    parser.add_argument("--limit", type=int, default=None, help="first N conversations per folder")
    parser.add_argument("--name", default="", help="result name (default: the folder names)")
    parser.add_argument(
        "--labels", nargs="*", type=Path, default=[], help="labeled JSONL the replays came from"
    )
    parser.add_argument(
        "--after-cut",
        action="store_true",
        help="also send what each replay exported after its cut (the call left in flight)",
    )
    args = parser.parse_args(argv)
    labels = {c.id: c for path in args.labels for c in load_conversations(path)}
    result = asyncio.run(
        run(args.replays, args.libs.split(","), args.limit, labels, args.after_cut)
    )
    _print(result)
    name = args.name or "-".join(f.name for f in args.replays)
    print(f"wrote {write_result(f'crosslib-{name}', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
