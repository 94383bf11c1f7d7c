"""``tasktrace eval``: extraction quality on a labeled dataset, through the real
service (:func:`tasktrace.evaluation.harness.evaluate`).

A progress bar on stderr while it runs, the score table on stdout at the end,
the whole result as JSON with ``--json OUT``. Exit code 0 on success, 1 when
the run failed, 2 for unusable input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

from tasktrace.config import ConfigError
from tasktrace.evaluation.replay import DEFAULT_ENCODER, ENCODERS

_T = TypeVar("_T")

_METRICS = (
    ("segmentation F1", "segmentation_f1"),
    ("  precision", "segmentation_precision"),
    ("  recall", "segmentation_recall"),
    ("status accuracy", "status_accuracy"),
    ("status balanced accuracy", "status_balanced_accuracy"),
    ("progress attribution", "progress_attribution"),
    ("preference recall", "preference_recall"),
    ("preference precision", "preference_precision"),
)
_COLUMNS = ("success", "failed", "running", "pending", "expired", "missing")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to ``subparsers`` (from ``parser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "eval", help="score task extraction on a labeled dataset, through a real server"
    )
    p.add_argument("dataset", type=Path, help="labeled conversations, one JSON object a line")
    p.add_argument("--extractor", choices=("heuristic", "llm"), default="heuristic")
    p.add_argument(
        "--dialect",
        choices=sorted(ENCODERS),
        default=DEFAULT_ENCODER,
        help=f"span format to replay the conversations in (default {DEFAULT_ENCODER})",
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N conversations")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full result here")
    p.add_argument(
        "--dsn",
        help="PostgreSQL to use (a fresh schema, dropped afterwards); "
        "default: an embedded PostgreSQL in a temporary directory",
    )
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a service config key, e.g. processors.tasktrace.extractor.llm.base_url=URL",
    )
    p.add_argument("--concurrency", type=int, default=8, help="conversations in flight (default 8)")
    p.add_argument(
        "--flush-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="longest wait for one session's extraction (default 600)",
    )
    p.set_defaults(func=cmd_eval)


async def _stopped_by_sigterm(work: Coroutine[Any, Any, _T]) -> _T:
    """``work``, cancelled by SIGTERM like Ctrl-C, so that its server and the
    embedded PostgreSQL it started are shut down (SIGTERM alone ends Python
    without running any clean-up)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await work
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def cmd_eval(args: argparse.Namespace) -> int:
    from tasktrace.evaluation.harness import EvaluationError, evaluate

    if args.limit is not None and args.limit < 1:
        print("tasktrace eval: --limit must be at least 1", file=sys.stderr)
        return 2
    bar = ProgressBar(sys.stderr)
    try:
        result = asyncio.run(
            _stopped_by_sigterm(
                evaluate(
                    args.dataset,
                    extractor=args.extractor,
                    dialect=args.dialect,
                    limit=args.limit,
                    dsn=args.dsn or None,
                    overrides=args.overrides,
                    concurrency=max(1, args.concurrency),
                    flush_deadline=args.flush_timeout,
                    progress=bar,
                )
            )
        )
    except asyncio.CancelledError:
        print("tasktrace eval: stopped", file=sys.stderr)
        return 143
    except (ConfigError, OSError, ValueError, KeyError) as exc:
        print(f"tasktrace eval: {exc}", file=sys.stderr)
        return 2
    except EvaluationError as exc:
        print(f"tasktrace eval: run failed: {exc}", file=sys.stderr)
        return 1
    data = result.to_dict()
    print(format_table(data))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


class ProgressBar:
    """``done/total`` as a bar redrawn in place (``\\r``) on a terminal; elsewhere
    only the final line, so logs stay readable."""

    def __init__(self, stream: TextIO, *, width: int = 30, interval: float = 0.1) -> None:
        self._stream = stream
        self._width = width
        self._interval = interval
        self._started = time.monotonic()
        self._drawn = 0.0
        self._live = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and (not self._live or now - self._drawn < self._interval):
            return
        self._drawn = now
        end = "\n" if final else ""
        self._stream.write(f"\r{render_bar(done, total, now - self._started, self._width)}{end}")
        self._stream.flush()


def render_bar(done: int, total: int, seconds: float, width: int = 30) -> str:
    filled = width * done // total if total else width
    bar = "#" * filled + "." * (width - filled)
    return f"eval [{bar}] {done}/{total} conversations  {seconds:.1f}s"


_VERDICT_CAVEAT = (
    "caveat     the status labels of {n} conversations are an outcome verdict (a reward\n"
    "           computed from state the trace does not show, where a refusal or a handoff\n"
    "           may be the correct outcome): their status numbers are reported, not tuned"
)


def format_table(result: Mapping[str, Any]) -> str:
    """The headline scores, the per-status breakdown and the confusion matrix."""
    counts = result.get("counts", {})
    lines = [
        f"dataset    {result['dataset']} ({result['conversations']} conversations, "
        f"{counts.get('expected_tasks', 0)} tasks expected, "
        f"{counts.get('extracted_tasks', 0)} extracted)",
        f"extractor  {result['extractor']}"
        + (f" ({result['model']})" if result.get("model") else "")
        + f"   dialect {result['dialect']}   {result['seconds']:.1f}s",
        "",
    ]
    lines += [f"{label:26s} {float(result[key]):.3f}" for label, key in _METRICS]
    verdicts = int(result.get("status_verdicts") or 0)
    if verdicts:
        lines += ["", *_VERDICT_CAVEAT.format(n=verdicts).splitlines()]
    lines += ["", "status    expected  matched  correct  recall"]
    for status, row in sorted(result["per_status"].items()):
        lines.append(
            f"{status:9s} {row['expected']:8d} {row['matched']:8d} {row['correct']:8d}"
            f"  {float(row['recall']):.3f}"
        )
    lines += [
        "",
        "confusion  expected \\ extracted",
        " " * 9 + "".join(f"{c:>9s}" for c in _COLUMNS),
    ]
    for status, row in sorted(result["confusion"].items()):
        lines.append(f"{status:9s}" + "".join(f"{row.get(c, 0):9d}" for c in _COLUMNS))
    tokens = result.get("tokens", {})
    if tokens.get("input") or tokens.get("output"):
        lines += [
            "",
            f"extractor tokens  in {tokens['input']} ({tokens['input_per_conversation']}"
            f" per conversation), out {tokens['output']}"
            f" ({tokens['output_per_conversation']} per conversation)",
        ]
    missing = result.get("sessions_missing") or []
    if missing:
        lines += ["", f"{len(missing)} conversations left no session (nothing exported)"]
    late = result.get("flush_timeouts") or []
    if late:
        lines += [f"{len(late)} sessions not fully extracted by the flush timeout"]
    return "\n".join(lines)
