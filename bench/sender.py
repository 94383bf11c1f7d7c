"""One sender process: synthetic agent sessions through the real OTLP exporter.

Runs ``--active`` sessions round-robin, each for ``--turns`` turns before a new
session takes its place, for ``--duration`` seconds or until ``--max-sessions``
sessions are done. Generation waits while more than ``--outstanding`` spans
are unacknowledged, so the BatchSpanProcessor never drops a span; ``--rate``
caps spans/s. Prints one JSON line: spans acknowledged and the time window.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from workload import SessionState, chat_turn, provider_and_exporter, tool_turn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="spans/s cap (0: none)")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--active", type=int, default=20)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--mode", choices=("tool", "chat"), default="tool")
    parser.add_argument("--max-sessions", type=int, default=0)
    parser.add_argument("--outstanding", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    provider, exporter, tracer = provider_and_exporter(
        args.endpoint, args.protocol, service=f"bench-agent-{args.index}", batch=args.batch
    )
    rng = random.Random(args.index)
    tag = args.tag or f"{int(time.time())}"
    started = 0

    def new_session() -> SessionState:
        nonlocal started
        started += 1
        return SessionState(f"bench-{tag}-{args.index}-{started}", random.Random(rng.random()))

    active = [new_session() for _ in range(min(args.active, args.max_sessions or args.active))]
    emit = tool_turn if args.mode == "tool" else chat_turn
    generated = 0
    begin = time.time()
    deadline = time.monotonic() + args.duration
    slot = 0
    while active and time.monotonic() < deadline:
        if generated - exporter.ok - exporter.failed > args.outstanding:
            time.sleep(0.002)
            continue
        if args.rate and generated > args.rate * (time.time() - begin):
            time.sleep(0.001)
            continue
        slot %= len(active)
        session = active[slot]
        generated += emit(tracer, session)
        if session.turns >= args.turns:
            if args.max_sessions and started >= args.max_sessions:
                active.pop(slot)
                continue
            active[slot] = new_session()
        slot += 1
    provider.shutdown()
    print(
        json.dumps(
            {
                "generated": generated,
                "ok": exporter.ok,
                "failed": exporter.failed,
                "first": exporter.first,
                "last": exporter.last,
                "sessions": started,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
