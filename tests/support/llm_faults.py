"""An OpenAI-compatible endpoint that fails the ways a hosted LLM does, on
demand: ``down`` (nothing listens on its port), ``garbage`` (answers that are
not the extractor's schema, or not even JSON), ``slow`` (answers after
``slow_seconds``, past the client's time-out) and ``ok`` (the answers of
:class:`~tests.support.llm_stub.LLMStub`: one ``create`` per new user message).

Its port stays the same across ``down``, so the client keeps its URL.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from tests.support.llm_stub import LLMStub, completion
from tests.support.ports import free_port

Mode = Literal["down", "garbage", "slow", "ok"]


@dataclass
class FaultyLLM(LLMStub):
    mode: Mode = "ok"
    slow_seconds: float = 3.0
    #: calls answered in each mode (a ``down`` call never arrives)
    by_mode: collections.Counter[str] = field(default_factory=collections.Counter)
    _runner: web.AppRunner | None = None
    _port: int = 0

    async def set_mode(self, mode: Mode) -> None:
        """Switch mode; ``down`` closes the listener, leaving it brings it back."""
        if mode == "down" and self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        elif mode != "down" and self._runner is None:
            await self._listen()
        self.mode = mode

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._answer)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True).start()
        self._runner = runner

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        self.by_mode[mode] += 1
        try:
            return await self._in_mode(mode, request)
        except ConnectionResetError:  # the client gave up (its time-out)
            return web.Response(status=499)

    async def _in_mode(self, mode: Mode, request: web.Request) -> web.StreamResponse:
        if mode == "garbage":
            await request.read()
            if self.by_mode[mode] % 2:  # not JSON at all
                return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
            return web.json_response(completion("I think the user wants {tasks: maybe"))
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return await self._complete(request)


@asynccontextmanager
async def faulty_llm(slow_seconds: float = 3.0) -> AsyncIterator[FaultyLLM]:
    """A :class:`FaultyLLM` listening on 127.0.0.1 in mode ``ok``."""
    llm = FaultyLLM(slow_seconds=slow_seconds)
    llm._port = free_port()
    llm.base_url = f"http://127.0.0.1:{llm._port}/v1"
    await llm._listen()
    try:
        yield llm
    finally:
        llm.release()
        if llm._runner is not None:
            await llm._runner.cleanup()
