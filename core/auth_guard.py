"""The listeners' bearer-token guard: a gRPC server interceptor and an aiohttp
middleware over one :class:`~tasktrace.auth.Authenticator`.

A request without a valid token is refused before any handler runs (gRPC
``UNAUTHENTICATED``, HTTP 401 with ``WWW-Authenticate``), so nothing of it is
decoded or stored. Over HTTP the probes ``/healthz`` and ``/readyz`` stay open
(they tell nothing but up/ready); OTLP, ``/api/v1``, ``/ui`` and ``/metrics``
need the token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web

from tasktrace.auth import CHALLENGE, Authenticator

_log = logging.getLogger(__name__)

#: HTTP paths answered without a token
OPEN_PATHS = frozenset({"/healthz", "/readyz"})

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_auth(authenticator: Authenticator) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware answering 401 to requests without a valid bearer token."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        if authenticator.authenticate(request.headers.get("Authorization")) is None:
            return web.json_response(
                {"code": 401, "message": "missing or invalid bearer token"},
                status=401,
                headers={"WWW-Authenticate": CHALLENGE},
            )
        return await handler(request)

    return middleware


async def _refuse(request: object, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")


_REFUSED = grpc.unary_unary_rpc_method_handler(_refuse)


class GRPCAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose ``authorization`` metadata holds no valid bearer token."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata or ())  # type: ignore[attr-defined]
        header = metadata.get("authorization")
        if isinstance(header, bytes):
            header = header.decode("utf-8", "replace")
        if self._authenticator.authenticate(header) is None:
            return _REFUSED
        return await continuation(handler_call_details)
