"""When PostgreSQL goes away, senders are told to retry (gRPC ``UNAVAILABLE``
with a ``RetryInfo``, HTTP 503 with ``Retry-After``), and once it is back a
resend succeeds and nothing acknowledged before is lost. The store is a
dedicated embedded PostgreSQL that the tests stop and start again."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tasktrace.receiver.service import RETRY_AFTER
from tasktrace.server.embedded import EmbeddedPostgres
from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import (
    GrpcAnswer,
    chat_attributes,
    export_grpc,
    export_http,
    fixture,
    receiver_counters,
    session_of,
    transcript,
    without_task_ids,
)
from tests.support.service import running_service

DEADLINE = 30.0


@dataclasses.dataclass
class Store:
    server: EmbeddedPostgres
    dsn: str

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        assert await asyncio.to_thread(self.server.start) == self.dsn


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    server = EmbeddedPostgres(tmp_path / "pg")
    dsn = await asyncio.to_thread(server.start)
    try:
        yield Store(server, dsn)
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def service(store: Store) -> AsyncIterator[Service]:
    # the default wait for a pooled connection (exporters.postgres.acquire_timeout)
    async with running_service(store.dsn) as running:
        yield running


def store_failures(service: Service) -> int:
    return receiver_counters(service).store_failures


def retry_delays(answer: GrpcAnswer) -> tuple[float, float]:
    """The ``RetryInfo`` delays in the ``grpc-status-details-bin`` trailer (read
    by the collector, Go, Java) and in ``google.rpc.retryinfo-bin`` (Python)."""
    status = status_pb2.Status.FromString(answer.trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    in_status = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(in_status)
    alone = error_details_pb2.RetryInfo.FromString(answer.trailers["google.rpc.retryinfo-bin"])
    return seconds(in_status), seconds(alone)


def seconds(info: error_details_pb2.RetryInfo) -> float:
    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until it holds, for at most :data:`DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_a_store_outage_is_answered_with_retry_and_loses_nothing(
    store: Store, service: Service
) -> None:
    grpc_ep, http_ep = service.endpoints.grpc, service.endpoints.http
    assert (await export_grpc(grpc_ep, fixture("two-requests"))).code is grpc.StatusCode.OK
    acknowledged = without_task_ids(await transcript(http_ep, session_of("two-requests")))

    await store.stop()
    over_grpc = await export_grpc(grpc_ep, fixture("three-tools"))
    over_http = await export_http(http_ep, fixture("three-tools"))

    assert over_grpc.code is grpc.StatusCode.UNAVAILABLE
    assert retry_delays(over_grpc) == (RETRY_AFTER, RETRY_AFTER)
    assert over_http.status_code == 503
    assert over_http.headers["Retry-After"] == str(int(RETRY_AFTER))
    assert store_failures(service) >= 2

    await store.start()

    async def resent() -> bool:  # as an exporter would: again while told to retry
        answer = await export_grpc(grpc_ep, fixture("three-tools"))
        assert answer.code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE), answer
        return answer.code is grpc.StatusCode.OK

    await until(resent, "a resend to succeed")
    assert without_task_ids(await transcript(http_ep, session_of("two-requests"))) == acknowledged
    assert len(await transcript(http_ep, session_of("three-tools"))) == 8


def sdk_spans(session_id: str) -> list[ReadableSpan]:
    """One finished ``chat`` span, made by the OpenTelemetry SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-retry-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    attributes = chat_attributes(session_id, "are you retrying?")
    with tracer.start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes
    ):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


async def test_the_sdk_otlp_exporter_retries_until_the_store_is_back(
    store: Store, service: Service
) -> None:
    """The real ``OTLPSpanExporter`` backs off on UNAVAILABLE, waiting the
    ``RetryInfo`` delay (its own first backoff would be about 1 s), and its one
    export succeeds once the store returns."""
    spans = sdk_spans("sdk-retry")
    exporter = OTLPSpanExporter(
        endpoint=service.endpoints.grpc, insecure=True, timeout=int(DEADLINE)
    )
    await store.stop()
    failures = store_failures(service)
    try:
        started = time.monotonic()
        export = asyncio.create_task(asyncio.to_thread(exporter.export, spans))

        async def refused() -> bool:
            return store_failures(service) > failures

        await until(refused, "the exporter's first attempt to be refused")
        assert not export.done()
        await store.start()

        assert await asyncio.wait_for(export, DEADLINE) is SpanExportResult.SUCCESS
        assert time.monotonic() - started >= RETRY_AFTER
    finally:
        exporter.shutdown()
    assert [m.content for m in await transcript(service.endpoints.http, "sdk-retry")] == [
        "are you retrying?",
        "ok",
    ]


async def test_during_an_outage_senders_are_refused_fast_and_the_query_api_answers_503(
    store: Store, service: Service
) -> None:
    """With the default pool wait, 8 concurrent senders each get UNAVAILABLE well
    under the SDK's 10 s export timeout; the query API answers 503 with
    ``Retry-After`` while the store is down and right after, never 500."""
    grpc_ep, http_ep = service.endpoints.grpc, service.endpoints.http
    assert (await export_grpc(grpc_ep, fixture("two-requests"))).code is grpc.StatusCode.OK
    await store.stop()

    async def timed_export() -> tuple[grpc.StatusCode, float]:
        started = time.monotonic()
        answer = await export_grpc(grpc_ep, fixture("three-tools"), timeout=10.0)
        return answer.code, time.monotonic() - started

    answers = await asyncio.gather(*(timed_export() for _ in range(8)))
    assert {code for code, _ in answers} == {grpc.StatusCode.UNAVAILABLE}
    assert max(took for _, took in answers) < 5.0
    async with httpx.AsyncClient(base_url=f"http://{http_ep}", timeout=10.0) as http:
        during = await http.get("/api/v1/sessions")
        assert during.status_code == 503, during.text
        assert during.headers["Retry-After"] == "2"
        await store.start()
        statuses = []

        async def answered() -> bool:
            statuses.append((await http.get("/api/v1/sessions")).status_code)
            return statuses[-1] == 200

        await until(answered, "the query API to answer again")
    assert set(statuses) <= {503, 200}
