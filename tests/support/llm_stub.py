"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1, for the failures
and delays a real model will not produce on demand.

It answers what the ``llm`` extractor asks in its own schema: one ``create``
operation, in status :attr:`task_status`, for every new user message
(``m<i> user: ...`` in the prompt), so its answers are deterministic. While :attr:`failing` is set
it answers HTTP 500; calls numbered ``hold_from`` and later (0-based) wait
until :meth:`release` (a model that is still thinking).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

_NEW_USER = re.compile(r"^(m\d+) user: (.*)$", re.MULTILINE)


@dataclass
class LLMStub:
    failing: bool = False
    hold_from: int | None = None
    task_status: str = "success"
    base_url: str = ""
    #: the new user messages of each call, in arrival order (failed and held calls too)
    calls: list[list[str]] = field(default_factory=list)
    failures: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def release(self) -> None:
        """Let held calls (and every later one) answer."""
        self.hold_from = None
        self._released.set()

    async def wait_for_calls(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` calls have arrived (answered or not)."""
        await self.wait_for(lambda calls: len(calls) >= count, timeout)

    async def wait_for(
        self, done: Callable[[list[list[str]]], bool], timeout: float = 10.0
    ) -> None:
        """Block until ``done(calls)`` holds; raises TimeoutError after ``timeout``."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: done(self.calls)), timeout)

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"] if body["messages"] else ""
        found = _NEW_USER.findall(prompt)
        number = len(self.calls)
        async with self._arrived:
            self.calls.append([text for _, text in found])
            self._arrived.notify_all()
        if self.failing:
            self.failures += 1
            return web.json_response({"error": {"message": "scripted failure"}}, status=500)
        if self.hold_from is not None and number >= self.hold_from:
            await self._released.wait()
        operations = [
            {"op": "create", "description": text, "reason": "asked", "status": self.task_status,
             "messages": [label]}
            for label, text in found
        ]  # fmt: skip
        return web.json_response(completion(json.dumps({"operations": operations})))


def llm_overrides(base_url: str) -> list[str]:
    """Config overrides for the ``llm`` extractor at ``base_url``, without client retries."""
    return [
        "processors.tasktrace.extractor.type=llm",
        f"processors.tasktrace.extractor.llm.base_url={base_url}",
        "processors.tasktrace.extractor.llm.max_retries=0",
        "processors.tasktrace.extractor.llm.timeout=10s",
    ]


def completion(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@asynccontextmanager
async def running_stub(stub: LLMStub | None = None) -> AsyncIterator[LLMStub]:
    """Serve ``stub`` on 127.0.0.1 port 0; ``stub.base_url`` is its ``/v1`` URL."""
    stub = stub or LLMStub()
    async with serve_completions(stub._complete) as stub.base_url:
        try:
            yield stub
        finally:
            stub.release()


@asynccontextmanager
async def serve_completions(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """Serve ``handler`` as ``/v1/chat/completions`` on 127.0.0.1 port 0; yields the ``/v1`` URL."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()
