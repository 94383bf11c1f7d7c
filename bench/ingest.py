"""Ingest throughput: tasktrace end to end into Postgres against a decode-only baseline.

Several sender processes (real SDK, BatchSpanProcessor, OTLP exporter) send
synthetic agent sessions for a fixed time, first to ``bench/baseline_server.py``
(decode and discard), then to ``tasktrace serve`` with its embedded Postgres,
over gRPC and over HTTP/protobuf, and once more over gRPC with extraction held
off (the receiver alone), each run on a fresh server. Reports spans/s
acknowledged, messages/s committed (counted in Postgres), server CPU,
tasktrace/baseline, and the messages not yet extracted when the senders stop.
``--load replay`` sends the real libraries' fixture conversations instead
(``bench/replay_sender.py``: 25 a request, new ids each time), which cost the
senders far less than the SDK: the load the issue's figures were measured with.

    python bench/ingest.py [--quick] [--duration S] [--processes N] [--load sdk|replay]
"""

from __future__ import annotations

import argparse
from typing import Any

from common import (
    Server,
    add_load_argument,
    baseline_server,
    baseline_spans,
    postgres_count,
    print_table,
    run_senders,
    tasktrace_server,
    write_result,
)

TARGET_SPANS_PER_S = 20_000
TARGET_RATIO = 0.25
#: the default config, and ingest alone (extraction held off: the receiver's ceiling)
CONFIGS = (
    ("tasktrace", ()),
    (
        "ingest only",
        (
            "processors.tasktrace.buffer.max_turns=10000",
            "processors.tasktrace.buffer.idle_timeout=1h",
        ),
    ),
)
#: messages stored but not yet extracted (waiting for max_turns or the idle timeout, or behind)
_UNEXTRACTED = "SELECT coalesce(sum(next_seq - 1 - cursor_seq), 0) FROM sessions"


def measure(
    server: Server,
    endpoint: str,
    protocol: str,
    processes: int,
    duration: float,
    tag: str,
    load: str = "sdk",
) -> dict[str, Any]:
    cpu0 = server.cpu()
    reports = run_senders(
        endpoint,
        protocol=protocol,
        processes=processes,
        duration=duration,
        extra=["--tag", tag],
        load=load,
    )
    cpu = server.cpu() - cpu0
    ok = sum(r["ok"] for r in reports)
    window = max(r["last"] for r in reports) - min(r["first"] for r in reports)
    return {
        "protocol": protocol,
        "spans": ok,
        "failed": sum(r["failed"] for r in reports),
        "seconds": round(window, 2),
        "spans_per_s": ok / window if window else 0.0,
        "server_cpu_s": round(cpu, 2),
        "server_cores": cpu / window if window else 0.0,
    }


def run(
    quick: bool = False, duration: float | None = None, processes: int = 3, load: str = "sdk"
) -> dict[str, Any]:
    duration = duration or (6.0 if quick else 15.0)
    rows: list[dict[str, Any]] = []
    with baseline_server() as base:
        for protocol in ("grpc", "http"):
            endpoint = base.grpc if protocol == "grpc" else base.http
            before = baseline_spans(base)
            row = measure(base, endpoint, protocol, processes, duration, f"base-{protocol}", load)
            row.update(server="baseline", decoded=baseline_spans(base) - before)
            rows.append(row)
    for name, overrides in CONFIGS:
        for protocol in ("grpc", "http") if name == "tasktrace" else ("grpc",):
            # a fresh server each: the next run must not share the CPU with the
            # extraction left over from the one before
            with tasktrace_server(*overrides) as tt:
                dsn = tt.dsn()
                endpoint = tt.grpc if protocol == "grpc" else tt.http
                before = postgres_count(dsn, "SELECT count(*) FROM messages")
                row = measure(tt, endpoint, protocol, processes, duration, f"tt-{protocol}", load)
                committed = postgres_count(dsn, "SELECT count(*) FROM messages") - before
                row.update(
                    server=name, messages=committed, messages_per_s=committed / row["seconds"]
                )
                row["unextracted"] = postgres_count(dsn, _UNEXTRACTED)
                row["rss_mb"] = round(tt.rss_mb(), 1)
                rows.append(row)
    for row in rows:
        if row["server"] != "baseline":
            base_row = next(
                r for r in rows if r["server"] == "baseline" and r["protocol"] == row["protocol"]
            )
            row["ratio"] = row["spans_per_s"] / base_row["spans_per_s"]
    table = print_table(
        f"Ingest ({processes} {load} sender processes, {duration:.0f} s each run)",
        [
            "server",
            "protocol",
            "spans",
            "spans/s",
            "msgs/s",
            "server cores",
            "ratio",
            "unextracted",
        ],
        [
            [
                r["server"],
                r["protocol"],
                r["spans"],
                r["spans_per_s"],
                r.get("messages_per_s", "-"),
                r["server_cores"],
                r.get("ratio", "-"),
                r.get("unextracted", "-"),
            ]
            for r in rows
        ],
    )
    full = next(r for r in rows if r["server"] == "tasktrace" and r["protocol"] == "grpc")
    alone = next(r for r in rows if r["server"] == "ingest only")
    result = {
        "rows": rows,
        "processes": processes,
        "load": load,
        "duration": duration,
        "table": table,
        "targets": {
            "spans_per_s (ingest)": [
                TARGET_SPANS_PER_S,
                alone["spans_per_s"] >= TARGET_SPANS_PER_S,
            ],
            "ratio (ingest)": [TARGET_RATIO, alone["ratio"] >= TARGET_RATIO],
            "ratio (with extraction)": [TARGET_RATIO, full["ratio"] >= TARGET_RATIO],
        },
        "peak_spans_per_s": full["spans_per_s"],
    }
    write_result("ingest" if load == "sdk" else f"ingest-{load}", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--processes", type=int, default=3)
    add_load_argument(parser)
    args = parser.parse_args()
    run(args.quick, args.duration, args.processes, args.load)


if __name__ == "__main__":
    main()
