"""History growth: CPU per LLM span when every span re-sends 10, 100 or 1000 messages.

For each history length N, ``--sessions`` sessions first get a ``chat`` span
carrying about N messages (warm-up, not measured); then each session sends
``--rounds`` more ``chat`` spans, each carrying the whole history plus two new
messages. Per level, the lowest of ``--repeats`` runs (the machine is shared;
interference only ever adds time):

* server CPU per span: ``tasktrace serve`` over gRPC, extraction held off
  (receive, decode, dialect, merge, PostgreSQL write), split into its event-loop
  thread (gRPC receive, merge, PostgreSQL client) and its other threads (the
  reader thread: protobuf decode and the dialects; gRPC's own threads);
* the floors, from ``bench/baseline_server.py`` receiving the same spans: CPU
  per span to receive them only (gRPC), to receive and parse them as tasktrace
  does (string values as bytes), and to receive and parse them with the
  ``opentelemetry-proto`` classes (which check UTF-8). Whatever the floor pays
  for a span's bytes, a Python OTLP server pays.

Targets: server CPU at 1000 messages <= 1.5x the CPU at 10; and tasktrace's
own CPU, above the receive-and-parse floor (``bytes``: parsed as tasktrace
does), at 1000 messages <= 1.25x its own CPU at 10. The run also prints how
much of the 1.5x allowance (half the CPU at 10) the floor's own growth from 10
to 1000 messages takes.

    python bench/history.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from common import baseline_server, print_table, tasktrace_server, write_result
from workload import SessionState, chat_turn, provider_and_exporter

LEVELS = (10, 100, 1000)
#: spans per export request, the same at every level (1000-message spans are 150 KB)
BATCH = 32
TARGET = 1.5
#: tasktrace's own CPU per span above this floor, 1000 vs 10 messages
OWN_TARGET = 1.25
OWN_FLOOR = "bytes"
#: the baseline server's --parse modes, from the transport alone up
FLOORS = ("none", "bytes", "utf8")
#: hold extraction off: this benchmark is about ingest
NO_EXTRACTION = (
    "processors.tasktrace.buffer.max_turns=10000",
    "processors.tasktrace.buffer.idle_timeout=1h",
)


def sessions_at(history: int, count: int, tag: str) -> list[SessionState]:
    rng = random.Random(f"{history}-{tag}")
    states = []
    for i in range(count):
        state = SessionState(f"hist-{history}-{tag}-{i}", random.Random(rng.random()))
        state.filler(history - 3)
        states.append(state)
    return states


def measure_server(
    server: Any,
    history: int,
    sessions: int,
    rounds: int,
    tag: str,
    on_warm: Callable[[], None] | None = None,
    protocol: str = "grpc",
) -> dict[str, Any]:
    endpoint = server.grpc if protocol == "grpc" else server.http
    provider, exporter, tracer = provider_and_exporter(
        endpoint, protocol, service=f"history-{history}", batch=BATCH, queue=65536
    )
    states = sessions_at(history, sessions, tag)
    for state in states:
        chat_turn(tracer, state)
    provider.force_flush()
    time.sleep(0.5)
    if on_warm is not None:  # e.g. start a profiler
        on_warm()
    loop0 = _loop_thread_cpu(server)
    cpu0, wall0, ok0 = server.cpu(), time.perf_counter(), exporter.ok
    sent = 0
    for _ in range(rounds):
        for state in states:
            sent += chat_turn(tracer, state)
    provider.force_flush()
    cpu, wall = server.cpu() - cpu0, time.perf_counter() - wall0
    loop = _loop_thread_cpu(server) - loop0
    acked = exporter.ok - ok0
    provider.shutdown()
    return {
        "spans": acked,
        "failed": sent - acked,
        "kb_per_span": round(len(states[0].history_json()) / 1024, 1),
        "cpu_ms_per_span": 1000 * cpu / max(acked, 1),
        "loop_thread_ms_per_span": 1000 * loop / max(acked, 1),
        "other_threads_ms_per_span": 1000 * (cpu - loop) / max(acked, 1),
        "wall_ms_per_span": 1000 * wall / max(acked, 1),
    }


def _runs(
    server_context: AbstractContextManager[Any],
    sessions: int,
    rounds: int,
    repeats: int,
    tag: str,
    protocol: str,
) -> dict[int, list[dict[str, Any]]]:
    """A server's measurements at each level, ``repeats`` of each; levels
    interleaved, so slow spells hit all of them."""
    runs: dict[int, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    with server_context as server:
        for rep in range(repeats):
            for level in LEVELS:
                runs[level].append(
                    measure_server(
                        server, level, sessions, rounds, f"{tag}{rep}", protocol=protocol
                    )
                )
    return runs


def _cpu(row: dict[str, Any]) -> float:
    return float(row["cpu_ms_per_span"])


def _own(row: dict[str, Any]) -> float:
    """tasktrace's own CPU per span: above what the floor pays to receive and parse it."""
    return float(row["cpu_ms_per_span"]) - float(row[f"floor_{OWN_FLOOR}_cpu_ms_per_span"])


def _loop_thread_cpu(server: Any) -> float:
    """CPU seconds of the server's main thread (its event loop)."""
    for thread in server.ps.threads():
        if thread.id == server.proc.pid:
            return float(thread.user_time + thread.system_time)
    return 0.0


# --- the run -----------------------------------------------------------------


def run(
    quick: bool = False,
    sessions: int | None = None,
    rounds: int | None = None,
    repeats: int | None = None,
    protocol: str = "grpc",
) -> dict[str, Any]:
    sessions = sessions or (100 if quick else 200)
    rounds = rounds or (3 if quick else 5)
    repeats = repeats or (1 if quick else 3)
    floors = {
        parse: {
            level: min(map(_cpu, runs))
            for level, runs in _runs(
                baseline_server(parse), sessions, rounds, repeats, f"b{parse}", protocol
            ).items()
        }
        for parse in FLOORS
    }
    own = _runs(tasktrace_server(*NO_EXTRACTION), sessions, rounds, repeats, "t", protocol)
    rows = []
    for level in LEVELS:
        best: dict[str, Any] = min(own[level], key=_cpu)
        rows.append(
            {
                "history": level,
                **best,
                "cpu_ms_per_span_runs": [_cpu(r) for r in own[level]],
                **{f"floor_{parse}_cpu_ms_per_span": floors[parse][level] for parse in FLOORS},
            }
        )
    base = rows[0]["cpu_ms_per_span"]
    own_base = _own(rows[0])
    for row in rows:
        row["vs_10"] = row["cpu_ms_per_span"] / base if base else 0.0
        row["own_ms_per_span"] = _own(row)
        row["own_vs_10"] = _own(row) / own_base if own_base > 0 else 0.0
    allowance = (TARGET - 1) * base
    floor_growth = {parse: floors[parse][LEVELS[-1]] - floors[parse][LEVELS[0]] for parse in FLOORS}
    table = print_table(
        f"History growth over {protocol}"
        f" ({sessions} sessions x {rounds} measured chat spans per level,"
        f" {BATCH} spans/request, lowest of {repeats} runs)",
        [
            "history",
            "KB/span",
            "server CPU ms/span",
            "x vs 10",
            f"own (above {OWN_FLOOR})",
            "own x vs 10",
            "event loop",
            "other threads",
            "floor: receive",
            "+ parse (bytes)",
            "+ parse (utf8)",
            "wall ms/span",
        ],
        [
            [
                r["history"],
                r["kb_per_span"],
                r["cpu_ms_per_span"],
                r["vs_10"],
                r["own_ms_per_span"],
                r["own_vs_10"],
                r["loop_thread_ms_per_span"],
                r["other_threads_ms_per_span"],
                *(r[f"floor_{parse}_cpu_ms_per_span"] for parse in FLOORS),
                r["wall_ms_per_span"],
            ]
            for r in rows
        ],
    )
    own_growth = rows[-1]["cpu_ms_per_span"] - base
    print(
        f"{TARGET}x allows {allowance:.3f} ms/span of growth from {LEVELS[0]} to {LEVELS[-1]}"
        f" messages; tasktrace grows {own_growth:.3f}; the floors grow "
        + ", ".join(f"{parse} {floor_growth[parse]:.3f}" for parse in FLOORS)
    )
    result = {
        "rows": rows,
        "table": table,
        "allowance_ms_per_span": allowance,
        "growth_ms_per_span": {"tasktrace": own_growth, **floor_growth},
        "targets": {
            "ratio_1000_vs_10": [TARGET, rows[-1]["vs_10"] <= TARGET],
            f"own above floor ({protocol}) 1000_vs_10": [
                OWN_TARGET,
                rows[-1]["own_vs_10"] <= OWN_TARGET,
            ],
        },
    }
    write_result("history" if protocol == "grpc" else f"history-{protocol}", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    args = parser.parse_args()
    run(args.quick, args.sessions, args.rounds, args.repeats, args.protocol)


if __name__ == "__main__":
    main()
