"""Query latency with a million tasks stored.

Sessions and tasks are bulk-loaded with COPY straight into the server's schema
(10 tasks a session; 10% failed, each status with its reasons), then
analysed. Then, one request at a time over a kept-alive connection:
``GET /api/v1/sessions/{id}/tasks`` for random sessions,
``GET /api/v1/tasks?status=failed`` (first pages, and pages further on by
cursor), the search filters (``status_reason``, ``text`` in the description:
a word in 1 task of 12, one in 1 of 1,000, one in 1 of 60 and one task's own
reference; ``session_prefix`` matching 10 sessions; a combination) and
``GET /api/v1/traces/{id}/tasks``. Target: p99 <= 50 ms for each (the word in
1 of 60, the hardest case for a text search's bounded walks, is its own target).

    python bench/query.py [--quick] [--tasks N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from common import percentile, print_table, tasktrace_server, write_result

TARGET_P99_MS = 50.0
PER_SESSION = 10
_STATUSES = ["success"] * 6 + ["running"] * 2 + ["pending", "failed", "expired"]
_REASONS = {
    "success": ["completed"],
    "running": ["in_progress", ""],
    "pending": ["awaiting_user", ""],
    "failed": ["tool_error", "refused", "escalated", "abandoned"],
    "expired": ["expired"],
}
_ITEMS = ["a table", "a flight", "a hotel", "a taxi", "a refund", "an upgrade", "a seat"]
_ITEMS += [f"item{k}" for k in range(5)]  # 12 items: each in 1 task of 12
_LETTERS = random.Random(5)
#: made-up words, each in 1 task of 1,000 (letters at random, so that their
#: trigrams are as rare as the words: a real rare word is rare in its parts too)
_RARE = ["".join(_LETTERS.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(1000)]
#: a made-up word in 1 task of 60: too rare for a text search's first walk to
#: fill a page and common enough to make its matches many to sort, so its page
#: is reached by the second walk, projected from the first (exporter/task_search.py)
_MIDDLE = "".join(_LETTERS.choices("abcdefghijklmnopqrstuvwxyz", k=8))
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _copy_rows(dsn: str, tasks: int) -> float:
    """Bulk-load ``tasks`` tasks (and their sessions); returns seconds taken."""
    sessions = tasks // PER_SESSION
    rng = random.Random(11)
    start = time.perf_counter()
    with psycopg.connect(dsn, options="-c search_path=tasktrace") as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY sessions (id, service, message_count, next_seq, cursor_seq) FROM STDIN"
        ) as copy:
            for s in range(sessions):
                copy.write(f"qs-{s:07d}\tsvc-{s % 5}\t40\t40\t39\n")
        columns = (
            "id, session_id, ord, description, status, status_reason, progress, message_ids,"
            " trace_ids, created_at, updated_at"
        )
        with cur.copy(f"COPY tasks ({columns}, service) FROM STDIN") as copy:
            chunk: list[str] = []
            for i in range(tasks):
                s, order = divmod(i, PER_SESSION)
                status = (
                    _STATUSES[rng.randrange(len(_STATUSES))]
                    if order < PER_SESSION - 1
                    else "running"
                )
                reasons = _REASONS[status]
                reason = reasons[rng.randrange(len(reasons))]
                at = (_T0 + timedelta(seconds=rng.randrange(30 * 86400))).isoformat()
                progress = json.dumps([f"step {k}" for k in range(order % 3)])
                chunk.append(
                    f"{i:016x}\tqs-{s:07d}\t{order + 1}\t{_description(i, rng)}\t{status}\t"
                    f'{reason}\t{progress}\t["m{i}a", "m{i}b"]\t["{_trace_id(i)}"]\t'
                    f"{at}\t{at}\tsvc-{s % 5}\n"
                )
                if len(chunk) >= 10_000:
                    copy.write("".join(chunk))
                    chunk.clear()
            copy.write("".join(chunk))
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE sessions")
        conn.execute("ANALYZE tasks")
    return time.perf_counter() - start


def _description(i: int, rng: random.Random) -> str:
    item = _ITEMS[rng.randrange(len(_ITEMS))]
    rare = _RARE[rng.randrange(len(_RARE))]
    middle = f" {_MIDDLE}" if i % 60 == 7 else ""
    return f"Book {item} for {i % 7 + 1} in city {i % 97}, {rare}, ref R{i:07d}{middle}"


def _trace_id(i: int) -> str:
    return f"{i * 2654435761 % 2**128:032x}"


def _searches(rng: random.Random, tasks: int) -> dict[str, tuple[str, dict[str, str]]]:
    """One request per search kind: (path, query parameters)."""
    sessions = tasks // PER_SESSION
    return {
        "reason": ("/api/v1/tasks", {"status_reason": "escalated"}),
        "text_common": ("/api/v1/tasks", {"text": _ITEMS[rng.randrange(len(_ITEMS))]}),
        "text_rare": ("/api/v1/tasks", {"text": _RARE[rng.randrange(len(_RARE))]}),
        "text_one": ("/api/v1/tasks", {"text": f"R{rng.randrange(tasks):07d}"}),
        "text_middle": ("/api/v1/tasks", {"text": _MIDDLE}),
        "prefix": ("/api/v1/tasks", {"session_prefix": f"qs-{rng.randrange(sessions // 10):06d}"}),
        "combined": (
            "/api/v1/tasks",
            {"status": "failed", "status_reason": "refused", "text": "refund"},
        ),
        "trace": (f"/api/v1/traces/{_trace_id(rng.randrange(tasks))}/tasks", {}),
    }


def _timed(
    client: httpx.Client, path: str, params: dict[str, str] | None = None
) -> tuple[float, Any]:
    start = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = 1000 * (time.perf_counter() - start)
    response.raise_for_status()
    return elapsed, response.json()


def run(
    quick: bool = False, tasks: int | None = None, requests: int | None = None
) -> dict[str, Any]:
    tasks = tasks or (100_000 if quick else 1_000_000)
    requests = requests or (200 if quick else 500)
    rng = random.Random(3)
    timings: dict[str, list[float]] = {"session": [], "failed": [], "failed_page": []}
    timings |= {name: [] for name in _searches(rng, PER_SESSION * 10)}
    with tasktrace_server() as server:
        load_s = _copy_rows(server.dsn(), tasks)
        load_before = os.getloadavg()[0]  # the machine is shared: how busy it was
        with httpx.Client(base_url=f"http://{server.http}", timeout=30) as client:
            for _ in range(20):  # warm the connection pool and caches
                _timed(client, "/api/v1/tasks", {"status": "failed"})
            cursors: list[str] = []
            for _ in range(requests):
                sid = f"qs-{rng.randrange(tasks // PER_SESSION):07d}"
                elapsed, body = _timed(client, f"/api/v1/sessions/{sid}/tasks")
                assert len(body["items"]) == PER_SESSION
                timings["session"].append(elapsed)
                elapsed, body = _timed(client, "/api/v1/tasks", {"status": "failed"})
                timings["failed"].append(elapsed)
                cursor = body.get("next_cursor") if not cursors else cursors[-1]
                if cursor:
                    elapsed, body = _timed(
                        client, "/api/v1/tasks", {"status": "failed", "cursor": cursor}
                    )
                    timings["failed_page"].append(elapsed)
                    if body.get("next_cursor"):
                        cursors.append(body["next_cursor"])
                for name, (path, params) in _searches(rng, tasks).items():
                    elapsed, body = _timed(client, path, params)
                    assert body["items"], (name, params)
                    timings[name].append(elapsed)
        load_after = os.getloadavg()[0]
    names = {
        "session": "GET /sessions/{id}/tasks",
        "failed": "GET /tasks?status=failed",
        "failed_page": "GET /tasks?status=failed&cursor= (deeper pages)",
        "reason": "GET /tasks?status_reason=escalated",
        "text_common": "GET /tasks?text= (a word in 1 task of 12)",
        "text_rare": "GET /tasks?text= (a word in 1 task of 1,000)",
        "text_one": "GET /tasks?text= (one task's reference)",
        "text_middle": "GET /tasks?text= (a word in 1 task of 60)",
        "prefix": "GET /tasks?session_prefix= (10 sessions)",
        "combined": "GET /tasks?status=failed&status_reason=refused&text=refund",
        "trace": "GET /traces/{id}/tasks",
    }
    rows = [[names[k], len(v), percentile(v, 50), percentile(v, 99)] for k, v in timings.items()]
    table = print_table(
        f"Query latency ({tasks:,} tasks, {tasks // PER_SESSION:,} sessions;"
        f" COPY load {load_s:.0f} s; load average {load_before:.1f} -> {load_after:.1f})",
        ["request", "n", "p50 ms", "p99 ms"],
        rows,
    )
    worst = max(percentile(v, 99) for k, v in timings.items() if v and k != "text_middle")
    middle = percentile(timings["text_middle"], 99)
    result = {
        "tasks": tasks,
        "load_seconds": load_s,
        "load_average": [load_before, load_after],
        "timings_ms": timings,
        "table": table,
        "targets": {
            "p99_ms": [TARGET_P99_MS, worst <= TARGET_P99_MS],
            "p99_ms_word_in_1_of_60": [TARGET_P99_MS, middle <= TARGET_P99_MS],
        },
    }
    write_result("query", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--requests", type=int)
    args = parser.parse_args()
    run(args.quick, args.tasks, args.requests)


if __name__ == "__main__":
    main()
