"""The query API over gRPC (``tasktrace.v1.TaskService``), for ``grpc.aio`` servers.

The servicer only translates: request -> :class:`~tasktrace.queries.TaskQueries`
call -> response, through :mod:`tasktrace.api.proto_codec`. Errors become
NOT_FOUND, INVALID_ARGUMENT, DEADLINE_EXCEEDED, or INTERNAL (logged).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from tasktrace.api import proto_codec as codec
from tasktrace.api.wire import check_timeout
from tasktrace.errors import StoreRejected, StoreUnavailable
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1 import tasks_pb2_grpc
from tasktrace.queries import BadRequest, FlushTimeout, NotFound, TaskQueries

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
_Method = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def add_task_service(
    server: grpc.aio.Server, queries: TaskQueries, *, flush_timeout: float
) -> None:
    """Register TaskService on ``server`` (before it starts). ``flush_timeout``
    is the default and the largest timeout a flush may ask for, in seconds."""
    tasks_pb2_grpc.add_TaskServiceServicer_to_server(
        TaskServicer(queries, flush_timeout=flush_timeout), server
    )


def _status_errors(method: _Method[Req, Resp]) -> _Method[Req, Resp]:
    """Answer the query errors with their gRPC status codes."""

    @functools.wraps(method)
    async def wrapped(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except (BadRequest, StoreRejected) as exc:  # StoreRejected: e.g. NUL in an id
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except FlushTimeout as exc:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
        except StoreUnavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the store is unavailable")
        except Exception:
            log.exception("query %s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        raise AssertionError("context.abort returned")  # pragma: no cover

    return wrapped


class TaskServicer(tasks_pb2_grpc.TaskServiceServicer):
    def __init__(self, queries: TaskQueries, *, flush_timeout: float) -> None:
        self._queries = queries
        self._flush_timeout = flush_timeout

    @_status_errors
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        page = await self._queries.list_sessions(
            limit=codec.limit_from_pb(request.limit),
            cursor=request.cursor or None,
            status=codec.status_from_pb(request.status),
        )
        return codec.page_to_pb(page, pb.ListSessionsResponse, codec.session_to_pb)

    @_status_errors
    async def ListSessionMessages(
        self, request: pb.ListSessionMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionMessagesResponse:
        page = await self._queries.session_messages(
            request.session_id,
            limit=codec.limit_from_pb(request.limit),
            cursor=request.cursor or None,
        )
        return codec.page_to_pb(page, pb.ListSessionMessagesResponse, codec.message_to_pb)

    @_status_errors
    async def GetSessionTasks(
        self, request: pb.GetSessionTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionTasksResponse:
        page = await self._queries.session_tasks(
            request.session_id,
            limit=codec.limit_from_pb(request.limit),
            cursor=request.cursor or None,
            status=codec.status_from_pb(request.status),
        )
        return codec.page_to_pb(page, pb.GetSessionTasksResponse, codec.task_to_pb)

    @_status_errors
    async def ListTasks(
        self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTasksResponse:
        page = await self._queries.tasks(
            codec.task_filter_from_pb(request),
            limit=codec.limit_from_pb(request.limit),
            cursor=request.cursor or None,
        )
        return codec.page_to_pb(page, pb.ListTasksResponse, codec.task_to_pb)

    @_status_errors
    async def ListTraceTasks(
        self, request: pb.ListTraceTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTraceTasksResponse:
        page = await self._queries.source_tasks(
            codec.source_from_pb(request),
            limit=codec.limit_from_pb(request.limit),
            cursor=request.cursor or None,
        )
        return codec.page_to_pb(page, pb.ListTraceTasksResponse, codec.task_to_pb)

    @_status_errors
    async def GetSessionStatus(
        self, request: pb.GetSessionStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SessionStatus:
        status = await self._queries.session_status(request.session_id)
        return codec.session_status_to_pb(status)

    @_status_errors
    async def Flush(
        self, request: pb.FlushRequest, context: grpc.aio.ServicerContext
    ) -> pb.FlushResponse:
        timeout = check_timeout(request.timeout_seconds or None, self._flush_timeout)
        remaining = context.time_remaining()  # None without a deadline
        if remaining is not None:
            timeout = max(min(timeout, remaining), 0.001)
        result = await self._queries.flush(request.session_id, timeout=timeout)
        return codec.flush_result_to_pb(result)
