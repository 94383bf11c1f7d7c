"""Turn-to-task latency and the ``flush`` round trip, under background load.

The server extracts as soon as two new messages wait (``max_turns=2``) with
the heuristic extractor. Background senders run at half the peak rate of a
server with these same settings, measured first (three senders as fast as it
acknowledges, as in ``ingest.py``), or half of ``--load``. A probe is one turn of
a new session (a ``chat`` span: the user's request and the answer) sent by the
real SDK with a SimpleSpanProcessor; latency runs from the span's end (its
export starts) until ``GET /api/v1/sessions/{id}/tasks`` lists a task. Flush
probes send only the user's message (buffered: below ``max_turns``) and time
``POST /api/v1/sessions/{id}/flush``.

    python bench/latency.py [--quick] [--load SPANS_PER_S]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import time
from typing import Any

import httpx
from common import (
    BENCH,
    PYTHON,
    percentile,
    print_table,
    tasktrace_server,
    write_result,
)
from ingest import measure
from workload import SessionState, chat_turn, simple_tracer

TARGET_P99_MS = 250.0
#: extract as soon as a turn's messages arrive
EAGER = (
    "processors.tasktrace.buffer.max_turns=2",
    "processors.tasktrace.buffer.idle_timeout=60s",
)
POLL = 0.005


def wait_for_task(client: httpx.Client, session_id: str, timeout: float = 20.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        response = client.get(f"/api/v1/sessions/{session_id}/tasks")
        if response.status_code == 200 and response.json()["items"]:
            return time.perf_counter()
        time.sleep(POLL)
    raise TimeoutError(f"no task for {session_id} within {timeout}s")


def measure_peak(duration: float) -> float:
    """Spans/s acknowledged by a server with the :data:`EAGER` settings under
    three senders going as fast as it answers."""
    with tasktrace_server(*EAGER) as server:
        return float(measure(server, server.grpc, "grpc", 3, duration, "peak")["spans_per_s"])


def run(
    quick: bool = False, load: float | None = None, probes: int | None = None
) -> dict[str, Any]:
    probes = probes or (15 if quick else 40)
    peak = load or measure_peak(6.0 if quick else 10.0)
    background = peak / 2
    senders = 2
    overrides = EAGER
    turn_ms: list[float] = []
    ack_ms: list[float] = []
    flush_ms: list[float] = []
    with tasktrace_server(*overrides) as server:
        args = [PYTHON, str(BENCH / "sender.py"), "--endpoint", server.grpc, "--duration", "600"]
        args += ["--rate", str(background / senders), "--tag", "bg"]
        load_procs = [
            subprocess.Popen([*args, "--index", str(i)], stdout=subprocess.DEVNULL)
            for i in range(senders)
        ]
        try:
            time.sleep(3)  # let the background load settle
            provider, tracer = simple_tracer(server.grpc, "latency-probe")
            rng = random.Random(7)
            cpu0, wall0 = server.cpu(), time.perf_counter()
            with httpx.Client(base_url=f"http://{server.http}", timeout=30) as client:
                for i in range(probes):
                    session = SessionState(f"probe-{i}", random.Random(rng.random()))
                    start = time.perf_counter()
                    chat_turn(tracer, session)  # exported (and acknowledged) as the span ends
                    ack_ms.append(1000 * (time.perf_counter() - start))
                    turn_ms.append(1000 * (wait_for_task(client, session.id) - start))
                    time.sleep(0.2)
                for i in range(probes):
                    session = SessionState(f"flush-{i}", random.Random(rng.random()))
                    chat_turn(tracer, session, answer=False)
                    start = time.perf_counter()
                    response = client.post(f"/api/v1/sessions/{session.id}/flush")
                    flush_ms.append(1000 * (time.perf_counter() - start))
                    response.raise_for_status()
            server_cores = (server.cpu() - cpu0) / (time.perf_counter() - wall0)
            provider.shutdown()
        finally:
            for proc in load_procs:  # the load runs until the probes are done
                proc.terminate()
                proc.wait(timeout=30)
    rows = [
        [
            "span ack (ingest committed)",
            len(ack_ms),
            percentile(ack_ms, 50),
            percentile(ack_ms, 99),
        ],
        ["turn -> task queryable", len(turn_ms), percentile(turn_ms, 50), percentile(turn_ms, 99)],
        ["flush round trip", len(flush_ms), percentile(flush_ms, 50), percentile(flush_ms, 99)],
    ]
    table = print_table(
        f"Latency (heuristic, background {background:,.0f} spans/s = half of {peak:,.0f})",
        ["what", "n", "p50 ms", "p99 ms"],
        rows,
    )
    p99 = percentile(turn_ms, 99)
    result = {
        "background_spans_per_s": background,
        "peak_spans_per_s": peak,
        "server_cores": server_cores,
        "turn_ms": turn_ms,
        "ack_ms": ack_ms,
        "flush_ms": flush_ms,
        "table": table,
        "targets": {"turn_p99_ms": [TARGET_P99_MS, p99 <= TARGET_P99_MS]},
    }
    write_result("latency", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--load", type=float, help="peak spans/s (default: measured first)")
    parser.add_argument("--probes", type=int)
    args = parser.parse_args()
    run(args.quick, args.load, args.probes)


if __name__ == "__main__":
    main()
