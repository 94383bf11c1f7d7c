"""Pass-through: a pipeline without the tasktrace processor forwards every
accepted request, unchanged, to its OTLP exporters, while tasktrace still
makes its transcript (and tasks) from the same data.

The upstream is :class:`tests.support.fake_otlp.RawBackend`, which records the
bytes as they arrive (a real backend would re-encode them, hiding whether they
were forwarded unchanged)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.receiver.otlp_decode import parse_trace_request
from tasktrace.server.embedded import EmbeddedPostgres
from tests.support.fake_otlp import RawBackend
from tests.support.otlp_traffic import (
    JSON,
    export_grpc,
    export_http,
    fixture,
    session_of,
    transcript,
)
from tests.support.service import running_service

#: openai-v2 with content in log records: a conversation is a trace request and a logs request
EVENTS = "openai-v2-latest-event"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def pass_through(exporter: str, endpoint: str, *signals: str, **keys: str) -> list[str]:
    """Overrides that forward ``signals`` to ``exporter`` at ``endpoint``."""
    out = [f"exporters.{exporter}.endpoint={endpoint}"]
    out += [f"exporters.{exporter}.{key}={value}" for key, value in keys.items()]
    for signal in signals:
        pipeline = f"service.pipelines.{signal}/passthrough"
        out += [f"{pipeline}.receivers=[otlp]", f"{pipeline}.processors=[]"]
        out += [f"{pipeline}.exporters=[{exporter}]"]
    return out


@pytest.fixture
async def grpc_upstream() -> AsyncIterator[tuple[RawBackend, int]]:
    backend = RawBackend()
    async with backend.serving_grpc() as port:
        yield backend, port


async def export_logs_grpc(endpoint: str, data: bytes) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        try:
            await channel.unary_unary(LOGS_EXPORT)(data, timeout=30.0)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_traces_and_logs_are_forwarded_byte_for_byte_and_still_make_a_transcript(
    pg_dsn: str, grpc_upstream: tuple[RawBackend, int]
) -> None:
    backend, port = grpc_upstream
    traces = fixture("clarification", "pb", EVENTS)
    logs = fixture("clarification", "logs.pb", EVENTS)
    overrides = pass_through("otlp/upstream", f"127.0.0.1:{port}", "traces", "logs")
    async with running_service(pg_dsn, overrides=overrides) as service:
        assert (await export_logs_grpc(service.endpoints.grpc, logs)) is grpc.StatusCode.OK
        assert (await export_grpc(service.endpoints.grpc, traces)).code is grpc.StatusCode.OK

        assert await backend.wait_for("traces", 1) == [traces]
        assert await backend.wait_for("logs", 1) == [logs]
        stored = await transcript(service.endpoints.http, session_of("clarification"))
        assert [m.role.value for m in stored][:2] == ["system", "user"]


async def test_otlp_json_is_forwarded_as_the_same_request_in_protobuf_over_http_gzip(
    pg_dsn: str,
) -> None:
    backend = RawBackend()
    body = fixture("clarification", "json")
    async with backend.serving_http() as port:
        overrides = pass_through(
            "otlp_http/upstream", f"http://127.0.0.1:{port}", "traces", compression="gzip"
        )
        async with running_service(pg_dsn, overrides=overrides) as service:
            response = await export_http(service.endpoints.http, body, content_type=JSON)
            assert response.status_code == 200
            (forwarded,) = await backend.wait_for("traces", 1)

    assert ExportTraceServiceRequest.FromString(forwarded) == parse_trace_request(
        body, json_body=True
    )


async def test_an_upstream_refusing_at_first_gets_each_request_once_after_retries(
    pg_dsn: str,
) -> None:
    backend = RawBackend(failures=2, retry_delay=0.01)
    requests = [fixture(name) for name in ("clarification", "pending")]
    async with backend.serving_grpc() as port:
        overrides = pass_through("otlp/upstream", f"127.0.0.1:{port}", "traces")
        async with running_service(pg_dsn, overrides=overrides) as service:
            for data in requests:
                assert (await export_grpc(service.endpoints.grpc, data)).code is grpc.StatusCode.OK
            assert await backend.wait_for("traces", 2) == requests
            (forwarder,) = service.forwarders
    stats = forwarder.stats()  # after shutdown: every answer is in

    assert backend.calls == 4
    assert (stats.forwarded, stats.failed, stats.dropped) == (2, 0, 0)


async def test_a_request_refused_for_an_unavailable_store_is_forwarded_once_it_is_accepted(
    tmp_path: Path, grpc_upstream: tuple[RawBackend, int]
) -> None:
    """Forwarding follows the acknowledgment: the sender resends what tasktrace
    refused, so forwarding the refused attempt too would duplicate it upstream."""
    backend, port = grpc_upstream
    data = fixture("clarification")
    store = EmbeddedPostgres(tmp_path / "pg")
    dsn = await asyncio.to_thread(store.start)
    overrides = [
        *pass_through("otlp/upstream", f"127.0.0.1:{port}", "traces"),
        "exporters.postgres.connect_timeout=2s",
    ]
    try:
        async with running_service(dsn, overrides=overrides) as service:
            await asyncio.to_thread(store.stop)
            refused = await export_grpc(service.endpoints.grpc, data)
            await asyncio.to_thread(store.start)
            accepted = await export_grpc(service.endpoints.grpc, data)
            forwarded = await backend.wait_for("traces", 1)
    finally:
        await asyncio.to_thread(store.stop)

    assert refused.code is grpc.StatusCode.UNAVAILABLE
    assert accepted.code is grpc.StatusCode.OK
    assert forwarded == [data]
    assert backend.bodies["traces"] == [data]  # final: shutdown flushed the forwarder


async def test_without_a_pass_through_pipeline_nothing_is_forwarded(pg_dsn: str) -> None:
    async with running_service(pg_dsn) as service:
        assert (await export_grpc(service.endpoints.grpc, fixture("clarification"))).code is (
            grpc.StatusCode.OK
        )
        assert service.forwarders == []
