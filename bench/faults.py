"""Faults under sustained load from the real OpenTelemetry SDK exporters: what
was sent, acknowledged and stored, duplicates, and the time to recover.

Load: a ``BatchSpanProcessor`` + ``OTLPSpanExporter`` per protocol (gRPC and
HTTP/protobuf), 25 GenAI ``chat`` spans a second each, sessions of five turns.
Each scenario runs a real ``tasktrace serve`` and injects one fault mid-load
(``tests/support/fault_scenarios.py``, the scenarios the ``faults`` tests run
with shorter faults). *sent*: spans made; *acked*: spans in batches the SDK
exporter reported ``SUCCESS`` for, after its own retries; *present*: acked
spans whose turn is stored; *duplicates*: stored messages beyond the first of
their session, role and text; *unextracted*: sessions with messages past their
extraction cursor once the load stopped.

    nice -n 10 python bench/faults.py [--quick] [--only kill,kill_dsn,pg_restart,llm,backend]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from common import print_table, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/
from tests.support.external_pg import debian_cluster
from tests.support.fault_audit import Figures
from tests.support.fault_scenarios import (
    backend_down,
    llm_faults,
    serve_killed,
    store_restarted,
)

COLUMNS = ("scenario", "sent", "acked", "present", "duplicates", "sessions", "unextracted")


def scenarios(
    quick: bool,
) -> dict[str, list[tuple[str, Callable[[], Coroutine[Any, Any, Figures]]]]]:
    """Rows by scenario name: (row title, the run that makes its figures)."""
    load = 100 if quick else 400
    pg_downs = (5.0,) if quick else (10.0, 20.0)
    phase = 4.0 if quick else 10.0
    outages = (10.0,) if quick else (30.0, 60.0)

    async def kill_dsn() -> Figures:
        with debian_cluster() as cluster:
            return await serve_killed(cluster, before=load, after=load)

    def pg_restart(seconds: float) -> Callable[[], Coroutine[Any, Any, Figures]]:
        async def restart() -> Figures:
            with debian_cluster() as cluster:
                return await store_restarted(cluster, down_seconds=seconds, before=load, after=load)

        return restart

    def backend(seconds: float) -> Callable[[], Coroutine[Any, Any, Figures]]:
        return lambda: backend_down(down_seconds=seconds, queue_size=100, before=load, after=load)

    return {
        "kill": [("SIGKILL of serve, restart on its data dir", lambda: serve_killed(before=load,
                                                                                    after=load))],
        "kill_dsn": [("SIGKILL of serve, restart on a DSN", kill_dsn)],
        "pg_restart": [(f"external Postgres down {s:.0f} s", pg_restart(s)) for s in pg_downs],
        "llm": [
            (
                f"LLM down, garbage, slow ({phase:.0f} s each)",
                lambda: llm_faults(phase_seconds=phase, after=load),
            )
        ],
        "backend": [(f"task span backend down {s:.0f} s, queue 100", backend(s)) for s in outages],
    }  # fmt: skip


def run(quick: bool = False, only: str = "") -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, runs in scenarios(quick).items():
        if only and name not in only.split(","):
            continue
        for title, scenario in runs:
            started = time.monotonic()
            figures = asyncio.run(scenario())
            rows.append(
                {"scenario": title, **figures.row(), "s": round(time.monotonic() - started)}
            )
            print(rows[-1], flush=True)
    header = list(dict.fromkeys([*COLUMNS, *(k for r in rows for k in r)]))
    table = print_table("faults", header, [[r.get(h, "") for h in header] for r in rows])
    clean = all(r["present"] == r["acked"] and not r["duplicates"] and not r["unextracted"]
                for r in rows)  # fmt: skip
    result = {
        "quick": quick,
        "rows": rows,
        "table": table,
        "targets": {"acked = present, no duplicates, all extracted": ["every scenario", clean]},
    }
    write_result("faults", result)
    return result


def main() -> None:
    # the SDK exporters log every retry; the figures say what came of them
    logging.getLogger("opentelemetry.exporter").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter faults, smaller loads")
    parser.add_argument("--only", default="", help="comma-separated scenarios")
    args = parser.parse_args()
    run(args.quick, args.only)


if __name__ == "__main__":
    main()
