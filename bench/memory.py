"""Server memory with many open sessions.

Sessions are opened by sender processes (real SDK) with one ``chat`` turn
each (a user request and the answer: two messages), and held open: extraction
waits for more messages (``max_turns``) or an hour of idleness. The RSS of the
``tasktrace serve`` process is read with psutil after 1k, 10k and 100k open
sessions (cumulative). Target: <= 500 MB at 100k.

    python bench/memory.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from common import postgres_count, print_table, run_senders, tasktrace_server, write_result

TARGET_MB = 500.0
HOLD_OPEN = (
    "processors.tasktrace.buffer.max_turns=1000",
    "processors.tasktrace.buffer.idle_timeout=1h",
)


def run(quick: bool = False) -> dict[str, Any]:
    levels = (1_000, 10_000, 30_000) if quick else (1_000, 10_000, 100_000)
    processes = 3
    rows = []
    with tasktrace_server(*HOLD_OPEN) as server:
        rows.append({"sessions": 0, "rss_mb": server.rss_mb()})
        opened = 0
        for level in levels:
            per_process = (level - opened) // processes
            extra = ["--mode", "chat", "--turns", "1", "--active", "50"]
            extra += ["--max-sessions", str(per_process), "--tag", f"mem{level}"]
            start = time.perf_counter()
            reports = run_senders(
                server.grpc, processes=processes, duration=600, extra=extra, timeout=900
            )
            opened += sum(r["sessions"] for r in reports)
            gc.collect()
            time.sleep(1.0)
            rows.append(
                {
                    "sessions": opened,
                    "stored": postgres_count(server.dsn(), "SELECT count(*) FROM sessions"),
                    "rss_mb": server.rss_mb(),
                    "seconds": time.perf_counter() - start,
                }
            )
    table = print_table(
        "Memory (server RSS, open sessions of two messages each)",
        ["open sessions", "in Postgres", "RSS MB"],
        [[r["sessions"], r.get("stored", 0), r["rss_mb"]] for r in rows],
    )
    last = rows[-1]
    result = {
        "rows": rows,
        "table": table,
        "targets": {f"rss_mb_at_{levels[-1] // 1000}k": [TARGET_MB, last["rss_mb"] <= TARGET_MB]},
    }
    write_result("memory", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    run(args.quick)


if __name__ == "__main__":
    main()
