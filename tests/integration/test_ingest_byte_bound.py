"""The requests in process are bounded by bytes: concurrent senders of large
requests are refused early with a retryable answer (gRPC ``RESOURCE_EXHAUSTED``
with a ``RetryInfo``, HTTP 429 with ``Retry-After``) instead of timing out, and
every request a sender resends when told to is stored in the end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import (
    chat_request,
    export_grpc,
    export_http,
    receiver_counters,
    transcript,
)
from tests.support.service import running_service

SENDERS = 12
REQUEST_BYTES = 3 * 1024 * 1024
LIMIT_MIB = 8


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    async with running_service(
        pg_dsn, overrides=[f"receivers.otlp.queue_size_mib={LIMIT_MIB}"]
    ) as running:
        yield running


def large(session_id: str) -> bytes:
    text = os.urandom(REQUEST_BYTES // 2).hex()
    return chat_request(session_id, text, trace_id=os.urandom(16)).SerializeToString()


async def test_concurrent_large_grpc_senders_are_refused_early_and_all_land_on_resend(
    service: Service,
) -> None:
    codes: list[grpc.StatusCode] = []
    delays: list[int] = []

    async def sender(i: int) -> None:
        data = large(f"large-{i}")
        while True:  # as an exporter does: resend while told to retry
            answer = await export_grpc(service.endpoints.grpc, data, timeout=10.0)
            codes.append(answer.code)
            if answer.code is not grpc.StatusCode.RESOURCE_EXHAUSTED:
                return
            info = answer.trailers["google.rpc.retryinfo-bin"]
            delays.append(error_details_pb2.RetryInfo.FromString(info).retry_delay.seconds)
            await asyncio.sleep(0.05)

    await asyncio.gather(*(sender(i) for i in range(SENDERS)))

    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes.count(grpc.StatusCode.OK) == SENDERS
    assert set(delays) == {2}
    assert receiver_counters(service).rejected_bytes == len(delays)
    for i in range(SENDERS):
        messages = await transcript(service.endpoints.http, f"large-{i}")
        assert len(messages) == 2 and len(messages[0].content) == REQUEST_BYTES // 2 * 2


async def test_concurrent_large_http_senders_get_429_with_retry_after_and_all_land(
    service: Service,
) -> None:
    statuses: list[int] = []

    async def sender(i: int) -> None:
        data = large(f"large-http-{i}")
        while True:
            response = await export_http(service.endpoints.http, data)
            statuses.append(response.status_code)
            if response.status_code != 429:
                return
            assert response.headers["Retry-After"] == "2"
            await asyncio.sleep(0.05)

    await asyncio.gather(*(sender(i) for i in range(SENDERS)))

    assert set(statuses) == {200, 429}
    assert statuses.count(200) == SENDERS
    for i in range(SENDERS):
        assert len(await transcript(service.endpoints.http, f"large-http-{i}")) == 2
