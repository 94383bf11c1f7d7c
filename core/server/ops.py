"""Operator endpoints on the HTTP listener: ``/metrics`` (Prometheus text),
``/healthz`` (the process answers) and ``/readyz`` (the store is reachable
and migrated: 200, else 503 with the reason). Handlers only translate; what
they read comes in as callables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from tasktrace.exporter.store_health import Readiness
from tasktrace.server.metrics import CONTENT_TYPE, MetricsSnapshot, render


def add_ops_routes(
    app: web.Application,
    *,
    snapshot: Callable[[], Awaitable[MetricsSnapshot]],
    readiness: Callable[[], Awaitable[Readiness]],
) -> None:
    async def metrics(request: web.Request) -> web.Response:
        body = render(await snapshot())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        state = await readiness()
        if state.ready:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": state.reason}, status=503)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
