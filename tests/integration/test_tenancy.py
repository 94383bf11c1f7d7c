"""The tenancy guard on the real listeners: a token with a ``services``
allow-list cannot write spans for another service (refused whole, counted) nor
read another service's sessions (left out of lists, NotFound when named)."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tasktrace.client import Client
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tests.support.otlp_traffic import PROTOBUF, TRACE_EXPORT, chat_attributes
from tests.support.service import running_service

TOKEN_A, TOKEN_ALL = "token-of-app-a", "token-of-the-operator"
TENANCY = [
    f"extensions.bearertokenauth.tokens=[{{token: {TOKEN_A}, services: [app-a]}}, {TOKEN_ALL}]",
    "service.extensions=[bearertokenauth]",
    "receivers.otlp.protocols.grpc.auth.authenticator=bearertokenauth",
    "receivers.otlp.protocols.http.auth.authenticator=bearertokenauth",
]
A, ALL = f"Bearer {TOKEN_A}", f"Bearer {TOKEN_ALL}"


def export_for(service_name: str, session_id: str) -> bytes:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tests").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=chat_attributes(session_id, "hi")
    ):
        pass
    provider.shutdown()
    return encode_spans(memory.get_finished_spans()).SerializeToString()


async def post(endpoint: str, authorization: str, body: bytes) -> int:
    async with httpx.AsyncClient(base_url=f"http://{endpoint}", timeout=30) as http:
        answer = await http.post(
            "/v1/traces",
            content=body,
            headers={"Content-Type": PROTOBUF, "Authorization": authorization},
        )
    return answer.status_code


async def get(endpoint: str, authorization: str, path: str) -> int:
    async with httpx.AsyncClient(base_url=f"http://{endpoint}", timeout=30) as http:
        answer = await http.get(path, headers={"Authorization": authorization})
    return answer.status_code


async def test_a_token_for_app_a_cannot_write_or_read_app_b(pg_dsn: str) -> None:
    async with running_service(pg_dsn, overrides=TENANCY) as svc:
        own, foreign = export_for("app-a", "sess-a"), export_for("app-b", "sess-b-by-a")
        async with grpc.aio.insecure_channel(svc.endpoints.grpc) as channel:
            call = channel.unary_unary(TRACE_EXPORT)
            await call(own, metadata=(("authorization", A),), timeout=30)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(foreign, metadata=(("authorization", A),), timeout=30)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "app-b" in (refused.value.details() or "")
        assert await post(svc.endpoints.http, A, foreign) == 403
        assert await post(svc.endpoints.http, ALL, export_for("app-b", "sess-b")) == 200
        assert svc.telemetry()["auth"] == {"unauthenticated": 0, "forbidden": 2}

        def ids(token: str) -> list[str]:
            with Client(f"http://{svc.endpoints.http}", token=token) as client:
                return sorted(s.id for s in client.sessions.list(limit=100).items)

        assert await asyncio.to_thread(ids, TOKEN_ALL) == ["sess-a", "sess-b"]
        assert await asyncio.to_thread(ids, TOKEN_A) == ["sess-a"]
        for path in ("/messages", "/tasks", "/status"):
            url = f"/api/v1/sessions/sess-b{path}"
            assert await get(svc.endpoints.http, A, url) == 404
            assert await get(svc.endpoints.http, ALL, url) == 200
        assert await get(svc.endpoints.http, A, "/api/v1/sessions/sess-a/messages") == 200
        for path in ("/metrics", "/api/v1/telemetry"):
            assert await get(svc.endpoints.http, A, path) == 403
            assert await get(svc.endpoints.http, ALL, path) == 200

        async with grpc.aio.insecure_channel(svc.endpoints.grpc) as channel:
            stub = TaskServiceStub(channel)
            listed = await stub.ListSessions(
                pb.ListSessionsRequest(), metadata=(("authorization", A),), timeout=30
            )
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await stub.GetSessionStatus(
                    pb.GetSessionStatusRequest(session_id="sess-b"),
                    metadata=(("authorization", A),),
                    timeout=30,
                )
        assert [s.id for s in listed.items] == ["sess-a"]
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
