"""The query API over HTTP JSON, mounted under ``/api/v1`` on the OTLP/HTTP app.

Handlers only translate: query parameters in (:mod:`tasktrace.api.wire`),
:class:`~tasktrace.queries.TaskQueries` call, JSON out. A query parameter a
route does not know is a 400 that lists the known ones. Errors are answered
as ``{"error": "..."}`` with 400 (BadRequest), 404 (NotFound), 504
(FlushTimeout), 503 with ``Retry-After`` (the store is unavailable) or 500
(anything else, logged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tasktrace.api import wire
from tasktrace.errors import StoreRejected, StoreUnavailable
from tasktrace.queries import BadRequest, FlushTimeout, NotFound, SourceRef, TaskQueries

PREFIX = "/api/v1"

log = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[Any]]

_PAGE = ("limit", "cursor")
#: the query parameters each route knows (a route not listed knows none)
_PARAMS: dict[str, tuple[str, ...]] = {
    "/sessions": (*_PAGE, "status"),
    "/sessions/{id}/messages": _PAGE,
    "/sessions/{id}/tasks": (*_PAGE, "status"),
    "/sessions/{id}/flush": ("timeout",),
    "/tasks": (*wire.TASK_FILTER_PARAMS, *_PAGE),
    "/traces/{id}/tasks": _PAGE,
    "/spans/{id}/tasks": _PAGE,
}


def add_api_routes(
    app: web.Application,
    queries: TaskQueries,
    *,
    flush_timeout: float = 30.0,
    telemetry: Callable[[], wire.JSON] | None = None,
) -> None:
    """Register the query routes on ``app`` (before it starts). ``flush_timeout``
    is the default and the largest timeout a flush may ask for, in seconds;
    ``telemetry`` gives the service's own counts for ``GET /api/v1/telemetry``."""
    api = _Api(queries, flush_timeout)
    routes: list[tuple[str, str, _Handler]] = [
        ("GET", "/sessions", api.list_sessions),
        ("GET", "/sessions/{id}/messages", api.session_messages),
        ("GET", "/sessions/{id}/tasks", api.session_tasks),
        ("GET", "/sessions/{id}/status", api.session_status),
        ("POST", "/sessions/{id}/flush", api.flush),
        ("GET", "/tasks", api.tasks),
        ("GET", "/traces/{id}/tasks", api.trace_tasks),
        ("GET", "/spans/{id}/tasks", api.span_tasks),
    ]
    if telemetry is not None:
        read = telemetry

        async def counts(request: web.Request) -> wire.JSON:
            return read()

        routes.append(("GET", "/telemetry", counts))
    for method, path, handler in routes:
        # ids may hold any character but "/" (the default pattern refuses braces)
        app.router.add_route(
            method,
            PREFIX + path.replace("{id}", "{id:[^/]+}"),
            _json_errors(handler, _PARAMS.get(path, ())),
        )


def _json_errors(
    handler: _Handler, known: tuple[str, ...] = ()
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a handler returning a JSON-able value into one answering JSON, errors
    included; a query parameter not in ``known`` is a BadRequest."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            wire.check_known_params(request.query, known)
            return web.json_response(await handler(request))
        except (BadRequest, StoreRejected) as exc:  # StoreRejected: e.g. NUL in an id
            return _error(400, exc)
        except NotFound as exc:
            return _error(404, exc)
        except FlushTimeout as exc:
            return _error(504, exc)
        except StoreUnavailable as exc:
            log.warning("query %s %s: store unavailable: %s", request.method, request.path, exc)
            return _error(503, "the store is unavailable; try again later", retry_after=2)
        except Exception:
            log.exception("query %s %s failed", request.method, request.path)
            return _error(500, "internal error")

    return wrapped


def _error(status: int, error: Exception | str, *, retry_after: int = 0) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response(
        {"error": str(error) or type(error).__name__}, status=status, headers=headers
    )


class _Api:
    def __init__(self, queries: TaskQueries, flush_timeout: float) -> None:
        self._queries = queries
        self._flush_timeout = flush_timeout

    async def list_sessions(self, request: web.Request) -> wire.JSON:
        q = request.query
        page = await self._queries.list_sessions(
            limit=wire.parse_limit(q.get("limit")),
            cursor=wire.parse_cursor(q.get("cursor")),
            status=wire.parse_status(q.get("status")),
        )
        return wire.page_to_json(page, wire.session_to_json)

    async def session_messages(self, request: web.Request) -> wire.JSON:
        q = request.query
        page = await self._queries.session_messages(
            request.match_info["id"],
            limit=wire.parse_limit(q.get("limit")),
            cursor=wire.parse_cursor(q.get("cursor")),
        )
        return wire.page_to_json(page, wire.message_to_json)

    async def session_tasks(self, request: web.Request) -> wire.JSON:
        q = request.query
        page = await self._queries.session_tasks(
            request.match_info["id"],
            limit=wire.parse_limit(q.get("limit")),
            cursor=wire.parse_cursor(q.get("cursor")),
            status=wire.parse_status(q.get("status")),
        )
        return wire.page_to_json(page, wire.task_to_json)

    async def session_status(self, request: web.Request) -> wire.JSON:
        status = await self._queries.session_status(request.match_info["id"])
        return wire.session_status_to_json(status)

    async def flush(self, request: web.Request) -> wire.JSON:
        timeout = wire.parse_timeout(request.query.get("timeout"), self._flush_timeout)
        result = await self._queries.flush(request.match_info["id"], timeout=timeout)
        return wire.flush_result_to_json(result)

    async def tasks(self, request: web.Request) -> wire.JSON:
        q = request.query
        page = await self._queries.tasks(
            wire.parse_task_filter(q),
            limit=wire.parse_limit(q.get("limit")),
            cursor=wire.parse_cursor(q.get("cursor")),
        )
        return wire.page_to_json(page, wire.task_to_json)

    async def trace_tasks(self, request: web.Request) -> wire.JSON:
        return await self._source_tasks(request, SourceRef(trace_id=request.match_info["id"]))

    async def span_tasks(self, request: web.Request) -> wire.JSON:
        return await self._source_tasks(request, SourceRef(span_id=request.match_info["id"]))

    async def _source_tasks(self, request: web.Request, source: SourceRef) -> wire.JSON:
        q = request.query
        page = await self._queries.source_tasks(
            wire.check_source(source),
            limit=wire.parse_limit(q.get("limit")),
            cursor=wire.parse_cursor(q.get("cursor")),
        )
        return wire.page_to_json(page, wire.task_to_json)
