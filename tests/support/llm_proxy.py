"""An HTTP proxy on 127.0.0.1 in front of an OpenAI-compatible server that keeps
every request body it forwards: the LLM server's request log, for tests that
check what left tasktrace (redaction)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

#: headers not passed on (hop-by-hop, or recomputed by aiohttp)
_DROP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class RecordingProxy:
    """Forwards ``/v1/...`` to ``upstream`` (``http://127.0.0.1:N/v1``) and
    records each request's body as it arrived, in order."""

    upstream: str
    bodies: list[bytes] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.bodies.append(body)
        target = self.upstream.rstrip("/") + "/" + request.match_info["tail"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        timeout = aiohttp.ClientTimeout(total=600)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(request.method, target, data=body, headers=headers) as answer,
        ):
            content = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP}
            return web.Response(status=answer.status, body=content, headers=kept)


@contextlib.asynccontextmanager
async def recording_proxy(upstream: str) -> AsyncIterator[RecordingProxy]:
    """Serve a :class:`RecordingProxy` for ``upstream`` on a free port; its
    ``base_url`` is ``http://127.0.0.1:N/v1``."""
    proxy = RecordingProxy(upstream)
    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/v1/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        proxy.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        yield proxy
    finally:
        await runner.cleanup()
