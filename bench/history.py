"""History growth: server CPU per LLM span when every span re-sends 10, 100 or 1000 messages.

For each history length N, ``--sessions`` sessions first get a ``chat`` span
carrying about N messages (warm-up, not measured); then each session sends
``--rounds`` more ``chat`` spans, each carrying the whole history plus two new
messages. The server's CPU time over those spans, per span, is the ingest
cost (decode, dialect, merge, Postgres write; extraction is held off). Target:
cost at 1000 messages <= 1.5x the cost at 10.

    python bench/history.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from common import baseline_server, print_table, tasktrace_server, write_result
from workload import SessionState, chat_turn, provider_and_exporter

LEVELS = (10, 100, 1000)
#: spans per export request, the same at every level (1000-message spans are 150 KB)
BATCH = 32
TARGET = 1.5
#: hold extraction off: this benchmark is about ingest
NO_EXTRACTION = (
    "processors.tasktrace.buffer.max_turns=10000",
    "processors.tasktrace.buffer.idle_timeout=1h",
)


def measure_level(
    server: Any, history: int, sessions: int, rounds: int, on_warm: Callable[[], None] | None = None
) -> dict[str, Any]:
    provider, exporter, tracer = provider_and_exporter(
        server.grpc, "grpc", service=f"history-{history}", batch=BATCH, queue=65536
    )
    rng = random.Random(history)
    states = []
    for i in range(sessions):
        state = SessionState(f"hist-{history}-{i}", random.Random(rng.random()))
        state.filler(history - 3)
        states.append(state)
        chat_turn(tracer, state)
    provider.force_flush()
    time.sleep(0.5)
    if on_warm is not None:  # e.g. start a profiler
        on_warm()
    cpu0, wall0, ok0 = server.cpu(), time.perf_counter(), exporter.ok
    sent = 0
    for _ in range(rounds):
        for state in states:
            sent += chat_turn(tracer, state)
    provider.force_flush()
    cpu, wall = server.cpu() - cpu0, time.perf_counter() - wall0
    acked = exporter.ok - ok0
    provider.shutdown()
    return {
        "history": history,
        "spans": acked,
        "failed": sent - acked,
        "kb_per_span": round(len(states[0].history_json()) / 1024, 1),
        "cpu_ms_per_span": 1000 * cpu / max(acked, 1),
        "wall_ms_per_span": 1000 * wall / max(acked, 1),
    }


def run(
    quick: bool = False, sessions: int | None = None, rounds: int | None = None
) -> dict[str, Any]:
    sessions = sessions or (100 if quick else 200)
    rounds = rounds or (3 if quick else 5)
    with baseline_server() as server:
        floor = {level: measure_level(server, level, sessions, rounds) for level in LEVELS}
    rows = []
    with tasktrace_server(*NO_EXTRACTION) as server:
        for level in LEVELS:
            row = measure_level(server, level, sessions, rounds)
            row["baseline_cpu_ms_per_span"] = floor[level]["cpu_ms_per_span"]
            rows.append(row)
    base = rows[0]["cpu_ms_per_span"]
    for row in rows:
        row["vs_10"] = row["cpu_ms_per_span"] / base if base else 0.0
    table = print_table(
        f"History growth ({sessions} sessions x {rounds} measured chat spans per level,"
        f" {BATCH} spans/request)",
        [
            "history",
            "KB/span",
            "spans",
            "CPU ms/span",
            "baseline CPU ms/span",
            "wall ms/span",
            "x vs 10",
        ],
        [
            [
                r["history"],
                r["kb_per_span"],
                r["spans"],
                r["cpu_ms_per_span"],
                r["baseline_cpu_ms_per_span"],
                r["wall_ms_per_span"],
                r["vs_10"],
            ]
            for r in rows
        ],
    )
    result = {
        "rows": rows,
        "table": table,
        "targets": {"ratio_1000_vs_10": [TARGET, rows[-1]["vs_10"] <= TARGET]},
    }
    write_result("history", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    run(args.quick, args.sessions, args.rounds)


if __name__ == "__main__":
    main()
