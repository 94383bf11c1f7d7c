"""The listeners' bearer-token guard: a gRPC server interceptor and an aiohttp
middleware over one :class:`~tasktrace.auth.tokens.Authenticator`.

A request without a valid token is refused before any handler runs (gRPC
``UNAUTHENTICATED``, HTTP 401 with ``WWW-Authenticate``), so nothing of it is
decoded or stored. Over HTTP the probes ``/healthz`` and ``/readyz`` stay open
(they tell nothing but up/ready); OTLP, ``/api/v1``, ``/ui`` and ``/metrics``
need the token.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web

from tasktrace.auth.tenancy import foreign_services, request_services
from tasktrace.auth.tokens import CHALLENGE, PRINCIPAL, Authenticator, Principal
from tasktrace.model import Signal
from tasktrace.receiver.otlp_grpc import LOGS_SERVICE, TRACE_SERVICE
from tasktrace.receiver.otlp_http import JSON, BodyTooLarge, gunzip

_log = logging.getLogger(__name__)

#: HTTP paths answered without a token
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
#: service-wide counts: refused (403) to a token limited to some services
OPERATOR_PATHS = frozenset({"/metrics", "/api/v1/telemetry"})

_HTTP_SIGNALS: dict[str, Signal] = {"/v1/traces": "traces", "/v1/logs": "logs"}
_GRPC_SIGNALS: dict[str, Signal] = {
    f"/{TRACE_SERVICE}/Export": "traces",
    f"/{LOGS_SERVICE}/Export": "logs",
}

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class AuthCounters:
    #: requests refused for a missing or wrong token
    unauthenticated: int = 0
    #: export requests refused whole for a service outside the token's allow-list
    forbidden: int = 0


def _forbidden_message(services: list[str]) -> str:
    return f"this token may not write for service.name {', '.join(map(repr, services))}"


async def _http_foreign(request: web.Request, principal: Principal, limit: int) -> list[str]:
    signal = _HTTP_SIGNALS.get(request.path)
    if signal is None or not principal.services or request.method != "POST":
        return []
    try:
        body = await request.read()  # cached: the handler reads the same bytes
        if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
            body = gunzip(body, limit)
    except (web.HTTPRequestEntityTooLarge, BodyTooLarge, zlib.error):
        return []  # the handler answers 413 / 400 for these
    as_json = request.content_type == JSON
    return foreign_services(principal, request_services(signal, body, as_json=as_json))


def http_auth(
    authenticator: Authenticator, counters: AuthCounters, *, max_body_bytes: int
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware answering 401 to requests without a valid bearer
    token, and 403 to an export for a service outside the token's allow-list."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        principal = authenticator.authenticate(request.headers.get("Authorization"))
        if principal is None:
            counters.unauthenticated += 1
            return web.json_response(
                {"code": 401, "message": "missing or invalid bearer token"},
                status=401,
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if principal.services and request.path in OPERATOR_PATHS:
            counters.forbidden += 1
            message = "service-wide counts need a token without a services list"
            return web.json_response({"code": 403, "message": message}, status=403)
        foreign = await _http_foreign(request, principal, max_body_bytes)
        if foreign:
            counters.forbidden += 1
            return web.json_response(
                {"code": 403, "message": _forbidden_message(foreign)}, status=403
            )
        token = PRINCIPAL.set(principal)
        try:
            return await handler(request)
        finally:
            PRINCIPAL.reset(token)

    return middleware


async def _refuse(request: object, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")


_REFUSED = grpc.unary_unary_rpc_method_handler(_refuse)


class GRPCAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose ``authorization`` metadata holds no valid bearer token."""

    def __init__(self, authenticator: Authenticator, counters: AuthCounters) -> None:
        self._authenticator = authenticator
        self._counters = counters

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization")
        if isinstance(header, bytes):
            header = header.decode("utf-8", "replace")
        principal = self._authenticator.authenticate(header)
        if principal is None:
            self._counters.unauthenticated += 1
            return _REFUSED
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or not principal.services:
            return handler
        signal = _GRPC_SIGNALS.get(handler_call_details.method)
        return _as_principal(handler, principal, signal, self._counters)


def _as_principal(
    handler: grpc.RpcMethodHandler,
    principal: Principal,
    signal: Signal | None,
    counters: AuthCounters,
) -> grpc.RpcMethodHandler:
    """``handler`` run as ``principal``; an export for a foreign service is refused."""
    inner = handler.unary_unary

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if signal is not None:
            foreign = foreign_services(principal, request_services(signal, request))
            if foreign:
                counters.forbidden += 1
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, _forbidden_message(foreign))
        token = PRINCIPAL.set(principal)
        try:
            return await inner(request, context)
        finally:
            PRINCIPAL.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
