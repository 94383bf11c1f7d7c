"""What redaction costs the receiver: reading a conversation's model-call spans as
they arrive (``read_batch``, the step ``store: redacted`` adds to) with and without
``processors.tasktrace.redaction``, and the pure text pass on ordinary and on
worst-case input.

    python bench/redaction.py [--turns 40] [--repeat 5]

Prints a table and writes ``bench/results/redaction.json``. In-process, one core.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from common import print_table, write_result

from tasktrace.model import Span, SpanKind
from tasktrace.receiver.batch import read_batch
from tasktrace.redaction import Redaction, parse_redaction, redact_text

USER = (
    "Hi, I need to change my booking BK-{n:06d} to next Friday. My card is 4111 1111 1111 1111 "
    "and you can reach me at jane.doe{n}@example.com or (555) 123-45{m:02d}. Thanks a lot!"
)
ASSISTANT = (
    "Of course. I found booking BK-{n:06d}; the Friday flight leaves at 10:30 from gate 12 and "
    "costs 35 EUR more. Shall I charge the card ending 1111 and e-mail the new ticket?"
)


def _text(role: str, template: str, n: int) -> dict[str, object]:
    content = template.format(n=n, m=n % 100)
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def conversation(turns: int, first: int) -> list[Span]:
    """One span per turn, each carrying the whole history so far (as libraries send it);
    texts and ids start at ``first``, so no two conversations share a message."""
    spans: list[Span] = []
    history: list[dict[str, object]] = []
    for n in range(first, first + turns):
        history.append(_text("user", USER, n))
        answer = [_text("assistant", ASSISTANT, n)]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.conversation.id": f"bench-redaction-{first}",
            "gen_ai.input.messages": json.dumps(history),
            "gen_ai.output.messages": json.dumps(answer),
        }
        ids = (f"{n + 1:032x}", f"{n + 1:016x}")
        spans.append(Span(*ids, "chat", kind=SpanKind.CLIENT, attributes=attributes))
        history.extend(answer)
    return spans


def read_turn_by_turn(turns: int, repeat: int, redaction: Redaction | None) -> float:
    """Seconds to read a new conversation one request (span) at a time, as it arrives;
    the best of ``repeat`` conversations, each new to every cache."""
    times = []
    for i in range(repeat):
        spans = conversation(turns, first=(2 * i + (1 if redaction else 0)) * 100_000)
        start = time.perf_counter()
        for span in spans:
            read_batch([span], [], (), redaction)
        times.append(time.perf_counter() - start)
    return min(times)


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    redaction = parse_redaction({"regexes": [{"name": "booking", "pattern": r"\bBK-[0-9]{6}\b"}]})
    assert isinstance(redaction, Redaction)
    spans = conversation(args.turns, first=0)
    history_mb = sum(len(str(s.attributes["gen_ai.input.messages"])) for s in spans) / 1e6
    plain = read_turn_by_turn(args.turns, args.repeat, None)
    redacted = read_turn_by_turn(args.turns, args.repeat, redaction)
    label = f"{args.turns} requests of a conversation ({history_mb:.2f} MB of history)"
    rows: list[list[object]] = [
        [label, "off", f"{plain * 1e3:.1f}"],
        ["", "on", f"{redacted * 1e3:.1f}"],
    ]
    results: dict[str, float] = {"read_off_ms": plain * 1e3, "read_on_ms": redacted * 1e3}
    worst = {
        "prose 1 MB": (USER.format(n=7, m=7) + " ") * (1_000_000 // (len(USER) + 1)),
        "'1 ' * 500k (digit groups)": "1 " * 500_000,
        "'4111 ' * 200k (card-like)": "4111 " * 200_000,
        "'x@' * 500k": "x@" * 500_000,
    }
    for name, text in worst.items():
        seconds = best_of(max(1, args.repeat // 2), lambda t=text: redact_text(t, redaction.rules))
        rows.append([f"redact_text {name}", "on", f"{seconds * 1e3:.1f}"])
        results[f"redact_text {name} ms"] = seconds * 1e3
    print_table("Redaction cost (best of runs, ms)", ["input", "redaction", "ms"], rows)
    overhead = redacted / plain - 1 if plain else 0.0
    print(f"reading with redaction: {overhead:+.0%}")
    write_result("redaction", {"turns": args.turns, "history_mb": history_mb, **results})


if __name__ == "__main__":
    main()
