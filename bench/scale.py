"""Scale-out: 1, 2 and 3 tasktrace processes (``serve --workers N``) on one PostgreSQL.

In one run, against the decode-only sink (``bench/baseline_server.py``):

* **throughput**: spans/s acknowledged end to end (every message committed to
  PostgreSQL) for N = 1, 2, 3 worker processes on the same ports, with new data
  (every session new); then how long until every stored message is extracted
  (the backlog drained), which must be within the idle window, and the spans/s
  over the load and that drain together (what one process sustains with
  extraction keeping up);
* **latency**: p99 turn -> task (a probe turn's span ends until its task is
  queryable) while background senders run at 80% of the one-process peak;
* **extraction lag vs sessions**: at that same rate, the messages stored but
  not yet extracted (sampled during the load) and the drain time, for more and
  more concurrently active sessions.

The machine is shared (2 cores, other work running): the senders, the servers
and PostgreSQL compete for the same cores, so the ratio to the sink, measured
in the same run, is the figure to compare, and N workers can only help as far
as idle cores exist.

    python bench/scale.py [--quick] [--duration S] [--senders N] [--load sdk|replay] [--no-lag]

``--load replay`` sends real-library conversations (``bench/replay_sender.py``),
which cost the senders far less, so the servers are the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
import urllib.request
from typing import Any

import httpx
import psutil
from common import (
    BENCH,
    PYTHON,
    Server,
    add_load_argument,
    baseline_server,
    percentile,
    postgres_count,
    print_table,
    run_senders,
    tasktrace_server,
    write_result,
)
from latency import wait_for_task
from workload import SessionState, chat_turn, simple_tracer

WORKERS = (1, 2, 3)
#: extraction after 2 s without a new message (the idle window), or at 16 turns
IDLE_WINDOW = 2.0
SETTINGS = (f"processors.tasktrace.buffer.idle_timeout={IDLE_WINDOW:g}s",)
#: extract as soon as a turn's messages arrive (the latency probes)
EAGER = ("processors.tasktrace.buffer.max_turns=2",)
UNEXTRACTED = "SELECT coalesce(sum(next_seq - 1 - cursor_seq), 0) FROM sessions"
SESSION_LEVELS = (10, 100, 400)


def tree_cpu(server: Server) -> float:
    """CPU seconds of the server and its workers (not PostgreSQL's)."""
    total = 0.0
    for proc in [server.ps, *server.ps.children(recursive=True)]:
        try:
            if proc.name() != "postgres":
                times = proc.cpu_times()
                total += float(times.user + times.system)
        except psutil.Error:
            continue
    return total


def wait_workers(server: Server, count: int, timeout: float = 60.0) -> None:
    """Until ``count`` distinct worker pids answer ``/healthz``."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen)} of {count} workers answered")
        try:
            with urllib.request.urlopen(f"http://{server.http}/healthz", timeout=2) as answer:
                seen.add(int(json.loads(answer.read())["pid"]))
        except OSError:
            time.sleep(0.1)


def drain_seconds(dsn: str, timeout: float) -> float:
    """Seconds until no stored message waits for extraction (``timeout`` if never)."""
    start = time.monotonic()
    while postgres_count(dsn, UNEXTRACTED) > 0:
        if time.monotonic() - start > timeout:
            return timeout
        time.sleep(0.1)
    return time.monotonic() - start


def throughput(workers: int, senders: int, duration: float, load: str = "sdk") -> dict[str, Any]:
    with tasktrace_server(f"service.workers={workers}", *SETTINGS) as server:
        wait_workers(server, workers)
        dsn = server.dsn()
        cpu0 = tree_cpu(server)
        reports = run_senders(server.grpc, processes=senders, duration=duration, load=load)
        cpu = tree_cpu(server) - cpu0
        ok = sum(r["ok"] for r in reports)
        window = max(r["last"] for r in reports) - min(r["first"] for r in reports)
        backlog = postgres_count(dsn, UNEXTRACTED)
        drain = drain_seconds(dsn, 10 * IDLE_WINDOW + 30)
        return {
            "workers": workers,
            "spans": ok,
            "failed": sum(r["failed"] for r in reports),
            "spans_per_s": ok / window if window else 0.0,
            # the load's spans over the time until all of it was extracted too
            "sustained_spans_per_s": ok / (window + drain) if window else 0.0,
            "messages": postgres_count(dsn, "SELECT count(*) FROM messages"),
            "server_cores": cpu / window if window else 0.0,
            "backlog_at_stop": backlog,
            "drain_s": drain,
            "within_idle_window": drain <= IDLE_WINDOW + 1.0,
        }


def _background(server: Server, rate: float, senders: int, active: int) -> list[Any]:
    args = [PYTHON, str(BENCH / "sender.py"), "--endpoint", server.grpc, "--duration", "600"]
    args += ["--rate", str(rate / senders), "--active", str(active), "--tag", f"bg{active}"]
    return [
        subprocess.Popen([*args, "--index", str(i)], stdout=subprocess.DEVNULL)
        for i in range(senders)
    ]


def _stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def latency(rate: float, senders: int, probes: int) -> dict[str, Any]:
    """p99 turn -> task with background load at ``rate`` spans/s."""
    turn_ms: list[float] = []
    with tasktrace_server(*SETTINGS, *EAGER) as server:
        load = _background(server, rate, senders, 20)
        try:
            time.sleep(3)  # let the load settle
            provider, tracer = simple_tracer(server.grpc, "scale-probe")
            rng = random.Random(11)
            with httpx.Client(base_url=f"http://{server.http}", timeout=30) as client:
                for i in range(probes):
                    session = SessionState(f"scale-probe-{i}", random.Random(rng.random()))
                    start = time.perf_counter()
                    chat_turn(tracer, session)
                    turn_ms.append(1000 * (wait_for_task(client, session.id) - start))
                    time.sleep(0.1)
            provider.shutdown()
        finally:
            _stop(load)
    return {"rate": rate, "p50_ms": percentile(turn_ms, 50), "p99_ms": percentile(turn_ms, 99)}


def lag(rate: float, senders: int, duration: float, active: int) -> dict[str, Any]:
    """Backlog during a load of ``active`` sessions per sender, and the drain after it."""
    with tasktrace_server(*SETTINGS) as server:
        dsn = server.dsn()
        load = _background(server, rate, senders, active)
        samples: list[int] = []
        try:
            end = time.monotonic() + duration
            while time.monotonic() < end:
                time.sleep(0.5)
                samples.append(postgres_count(dsn, UNEXTRACTED))
        finally:
            _stop(load)
        drain = drain_seconds(dsn, 10 * IDLE_WINDOW + 30)
    return {
        "sessions": active * senders,
        "backlog_mean": sum(samples) / len(samples) if samples else 0.0,
        "backlog_max": max(samples, default=0),
        "drain_s": drain,
    }


def run(
    quick: bool = False,
    duration: float | None = None,
    senders: int = 4,
    load: str = "sdk",
    lags: bool = True,
) -> dict[str, Any]:
    duration = duration or (5.0 if quick else 12.0)
    with baseline_server() as base:
        reports = run_senders(base.grpc, processes=senders, duration=duration, load=load)
        window = max(r["last"] for r in reports) - min(r["first"] for r in reports)
        sink = sum(r["ok"] for r in reports) / window
    rows = [throughput(n, senders, duration, load) for n in WORKERS]
    for row in rows:
        row["ratio"] = row["spans_per_s"] / sink if sink else 0.0
    table = print_table(
        f"Scale-out ({senders} {load} sender processes, {duration:.0f} s each; decode-only sink"
        f" {sink:,.0f} spans/s in the same run)",
        [
            "workers",
            "spans/s",
            "ratio",
            "server cores",
            "backlog at stop",
            "drain s",
            "spans/s until extracted",
        ],
        [
            [
                r["workers"],
                r["spans_per_s"],
                r["ratio"],
                r["server_cores"],
                r["backlog_at_stop"],
                r["drain_s"],
                r["sustained_spans_per_s"],
            ]
            for r in rows
        ],
    )
    result: dict[str, Any] = {
        "sink_spans_per_s": sink,
        "rows": rows,
        "senders": senders,
        "load": load,
        "duration": duration,
        "load_average": list(psutil.getloadavg()),
        "table": table,
        "targets": {
            "extracted within the idle window": [
                f"{IDLE_WINDOW:g} s",
                all(r["within_idle_window"] for r in rows),
            ],
            "2 workers faster than 1": ["> 1x", rows[1]["spans_per_s"] > rows[0]["spans_per_s"]],
            "2 workers faster than 1, until extracted": [
                "> 1x",
                rows[1]["sustained_spans_per_s"] > rows[0]["sustained_spans_per_s"],
            ],
        },
    }
    if lags:
        result.update(latency_and_lag(0.8 * rows[0]["spans_per_s"], quick, duration))
        result["table"] = f"{table}\n\n{result.pop('lag_table')}"
    write_result("scale" if load == "sdk" else f"scale-{load}", result)
    return result


def latency_and_lag(rate: float, quick: bool, duration: float) -> dict[str, Any]:
    """p99 turn -> task and the extraction lag per session count, at ``rate``."""
    probe = latency(rate, 2, 10 if quick else 30)
    lags = [lag(rate, 2, duration, active) for active in SESSION_LEVELS]
    lag_table = print_table(
        f"Extraction lag vs sessions (one process, {rate:,.0f} spans/s = 80% of its peak;"
        f" turn -> task p50 {probe['p50_ms']:.0f} ms, p99 {probe['p99_ms']:.0f} ms)",
        ["active sessions", "backlog mean", "backlog max", "drain s"],
        [[r["sessions"], r["backlog_mean"], r["backlog_max"], r["drain_s"]] for r in lags],
    )
    return {"latency": probe, "lag": lags, "lag_table": lag_table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--senders", type=int, default=4)
    add_load_argument(parser)
    parser.add_argument("--no-lag", action="store_true", help="throughput only")
    args = parser.parse_args()
    run(args.quick, args.duration, args.senders, args.load, not args.no_lag)


if __name__ == "__main__":
    main()
