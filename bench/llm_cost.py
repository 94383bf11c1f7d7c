"""LLM cost: prompt tokens sent per new message over a long session.

``tasktrace serve`` runs the ``llm`` extractor against a local stub
OpenAI-compatible endpoint that records every request and answers with one
new task. One session of ``--messages`` messages (four-message tool turns,
real SDK) is sent; after every 16 new messages the session is flushed, so
each extraction sees 16 new messages. Tokens are counted from the recorded
requests (words and punctuation marks, an approximation of a BPE count: no
tokenizer files can be fetched here). The naive baseline sends the system
prompt and the whole history every time. Target: tokens per new message flat.

    python bench/llm_cost.py [--quick] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import threading
import time
from typing import Any

import httpx
from aiohttp import web
from common import free_port, print_table, tasktrace_server, write_result
from workload import SessionState, simple_tracer, tool_turn

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NEW = re.compile(r"^m\d+ ", re.MULTILINE)
FLUSH_EVERY = 16
FLAT = 1.2  # last bucket / first bucket at most this


def tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


class StubLLM:
    """An OpenAI-compatible ``/v1/chat/completions`` on a thread; records prompts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[list[dict[str, str]]] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> StubLLM:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        messages = body["messages"]
        self.requests.append(messages)
        count = len(self.requests)
        answer = {
            "operations": [
                {
                    "op": "create",
                    "description": f"bench task {count}",
                    "reason": "the user asked",
                    "status": "success",
                    "messages": ["m1"],
                }
            ]
        }
        prompt = sum(tokens(m["content"]) for m in messages)
        return web.json_response(
            {
                "id": f"stub-{count}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(answer)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": 40,
                    "total_tokens": prompt + 40,
                },
            }
        )


def _history_tokens(session: SessionState) -> list[int]:
    """Tokens of each message of the session as the naive baseline would render it."""
    out = []
    for item in session.items:
        message = json.loads(item)
        text = " ".join(
            str(p.get("content") or p.get("response") or p.get("arguments") or p.get("name") or "")
            for p in message["parts"]
        )
        out.append(tokens(f"{message['role']}: {text}"))
    return out


def run(quick: bool = False, messages: int | None = None) -> dict[str, Any]:
    total = messages or (200 if quick else 500)
    with StubLLM() as stub:
        overrides = (
            "processors.tasktrace.extractor.type=llm",
            f"processors.tasktrace.extractor.llm.base_url=http://127.0.0.1:{stub.port}/v1",
            "processors.tasktrace.extractor.llm.model=stub",
            "processors.tasktrace.extractor.llm.api_key=unused",
            "processors.tasktrace.buffer.max_turns=1000",
            "processors.tasktrace.buffer.idle_timeout=1h",
        )
        with tasktrace_server(*overrides) as server:
            provider, tracer = simple_tracer(server.grpc, "llm-cost")
            session = SessionState(f"llm-cost-{int(time.time())}", random.Random(5))
            with httpx.Client(base_url=f"http://{server.http}", timeout=60) as client:
                while len(session.items) < total:
                    for _ in range(FLUSH_EVERY // 4):  # four messages a turn
                        tool_turn(tracer, session)
                    client.post(f"/api/v1/sessions/{session.id}/flush").raise_for_status()
            provider.shutdown()
        requests = list(stub.requests)
    history = _history_tokens(session)
    system = tokens(requests[0][0]["content"]) if requests else 0
    calls = []
    seen = 0
    for request in requests:
        new = len(_NEW.findall(request[-1]["content"]))
        seen += new
        sent = sum(tokens(m["content"]) for m in request)
        naive = system + sum(history[:seen])
        calls.append({"new": new, "through": seen, "tokens": sent, "naive": naive})
    buckets: list[dict[str, Any]] = []
    for start in range(0, seen, 100):
        part = [c for c in calls if start < c["through"] <= start + 100]
        new = sum(c["new"] for c in part) or 1
        buckets.append(
            {
                "messages": f"{start + 1}-{min(start + 100, seen)}",
                "calls": len(part),
                "per_new": sum(c["tokens"] for c in part) / new,
                "naive_per_new": sum(c["naive"] for c in part) / new,
            }
        )
    table = print_table(
        f"LLM prompt tokens per new message ({seen} messages, {len(calls)} calls,"
        f" {FLUSH_EVERY} new per call)",
        ["messages", "calls", "tokens/new msg", "naive tokens/new msg"],
        [[b["messages"], b["calls"], b["per_new"], b["naive_per_new"]] for b in buckets],
    )
    growth = buckets[-1]["per_new"] / buckets[0]["per_new"] if buckets else 0.0
    result = {
        "calls": calls,
        "buckets": buckets,
        "system_tokens": system,
        "growth_last_vs_first": growth,
        "total_tokens": sum(c["tokens"] for c in calls),
        "naive_total_tokens": sum(c["naive"] for c in calls),
        "table": table,
        "targets": {"flat": [FLAT, growth <= FLAT]},
    }
    write_result("llm_cost", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int)
    args = parser.parse_args()
    run(args.quick, args.messages)


if __name__ == "__main__":
    main()
