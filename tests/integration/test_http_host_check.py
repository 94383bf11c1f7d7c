"""The real HTTP listener refuses requests whose ``Host`` names a host it does
not serve (DNS rebinding), for the query API and OTLP alike, and takes
loopback names, IP literals and configured names; the OTel SDK exporter
pointed at ``localhost`` is served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import chat_attributes, fixture, transcript
from tests.support.service import running_service


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    overrides = ["receivers.otlp.protocols.http.allowed_hosts=[tasktrace.internal]"]
    async with running_service(pg_dsn, overrides=overrides) as running:
        yield running


async def get(service: Service, host: str, path: str = "/api/v1/sessions") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
        return await http.get(path, headers={"Host": host})


async def test_a_foreign_host_is_refused_with_403_and_a_clear_message(service: Service) -> None:
    port = service.endpoints.http.rsplit(":", 1)[1]
    refused = await get(service, f"rebind.attacker.example:{port}")
    assert refused.status_code == 403
    assert "allowed_hosts" in refused.json()["message"]
    async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
        otlp = await http.post(
            "/v1/traces",
            content=fixture("two-requests"),
            headers={"Host": "rebind.attacker.example", "Content-Type": "application/x-protobuf"},
        )
    assert otlp.status_code == 403


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "tasktrace.internal", "app.localhost"])
async def test_loopback_names_ip_literals_and_configured_names_are_served(
    service: Service, name: str
) -> None:
    port = service.endpoints.http.rsplit(":", 1)[1]
    assert (await get(service, f"{name}:{port}")).status_code == 200


async def test_the_sdk_http_exporter_pointed_at_localhost_is_served(service: Service) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "host-check"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    attributes = chat_attributes("host-check", "over localhost")
    with provider.get_tracer("tests").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes
    ):
        pass
    provider.shutdown()
    port = service.endpoints.http.rsplit(":", 1)[1]
    exporter = OTLPSpanExporter(endpoint=f"http://localhost:{port}/v1/traces", timeout=10)
    spans = memory.get_finished_spans()
    assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert [m.content for m in await transcript(service.endpoints.http, "host-check")] == [
        "over localhost",
        "ok",
    ]
