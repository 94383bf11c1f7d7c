"""Run every performance benchmark and print their tables and the targets.

    python bench/run.py            # everything, about 22 minutes on 2 cores (faults: 7)
    python bench/run.py --quick    # a smoke run of about 6 minutes
    python bench/run.py --only ingest,history

Each benchmark writes ``bench/results/<name>.json``; this writes ``summary.json``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from typing import Any

from common import print_table, write_result

#: the order they run in
BENCHMARKS = ("ingest", "history", "latency", "memory", "llm_cost", "query", "faults")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated names: " + ",".join(BENCHMARKS))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for name in names:
        print(f"\n== {name} ==", flush=True)
        begin = time.perf_counter()
        try:
            results[name] = importlib.import_module(name).run(args.quick)
        except Exception:
            traceback.print_exc()
            results[name] = {"error": traceback.format_exc(limit=3)}
        results[name]["seconds"] = time.perf_counter() - begin
    rows = []
    for name, result in results.items():
        targets = result.get("targets") or {"run": ["", False]}
        for target, (goal, met) in targets.items():
            rows.append(
                [name, target, goal, "met" if met else "MISSED", f"{result['seconds']:.0f}"]
            )
    total = time.perf_counter() - started
    print()
    table = print_table(
        f"Targets ({'quick' if args.quick else 'full'} run, {total:.0f} s)",
        ["bench", "target", "goal", "", "s"],
        rows,
    )
    tables = "\n\n".join(r["table"] for r in results.values() if "table" in r)
    write_result(
        "summary", {"quick": args.quick, "seconds": total, "table": table, "tables": tables}
    )
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
