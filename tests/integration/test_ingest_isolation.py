"""One sender's bad data fails only that sender's request (or only the bad
value, for a value nested too deep): honest senders
sending at the same time (whose batches share a write transaction with the bad
one) are all acknowledged and stored. Bad data is answered INVALID_ARGUMENT,
never UNKNOWN, so exporters do not drop honest data or retry bad data forever."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import (
    chat_request,
    deep_array_value,
    export_grpc,
    export_http,
    receiver_counters,
    transcript,
    with_attribute_bytes,
)
from tests.support.service import running_service

HONEST_SENDERS = 8
REQUESTS_EACH = 12


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    async with running_service(pg_dsn) as running:
        yield running


def honest(sender: int, n: int) -> ExportTraceServiceRequest:
    return chat_request(
        f"honest-{sender}-{n}",
        f"turn {n} of sender {sender}",
        trace_id=bytes([sender + 1, n + 1]) + os.urandom(14),
        span_id=os.urandom(8),
    )


def past_2_63(n: int) -> ExportTraceServiceRequest:
    request = chat_request(f"bad-time-{n}", "hello", trace_id=os.urandom(16))
    request.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 2**63 + n
    return request


def huge_session_key(n: int) -> ExportTraceServiceRequest:
    """Decodes fine, but no index can hold it: the store refuses the write."""
    return chat_request(os.urandom(8000).hex() + str(n), "hello", trace_id=os.urandom(16))


async def send_all(
    service: Service, bad: list[ExportTraceServiceRequest]
) -> tuple[list[grpc.StatusCode], list[grpc.StatusCode]]:
    endpoint = service.endpoints.grpc

    async def sender(i: int) -> list[grpc.StatusCode]:
        answers = []
        for n in range(REQUESTS_EACH):
            answer = await export_grpc(endpoint, honest(i, n).SerializeToString())
            answers.append(answer.code)
        return answers

    async def bad_sender() -> list[grpc.StatusCode]:
        return [(await export_grpc(endpoint, r.SerializeToString())).code for r in bad]

    *honest_answers, bad_answers = await asyncio.gather(
        *(sender(i) for i in range(HONEST_SENDERS)), bad_sender()
    )
    return [code for answers in honest_answers for code in answers], bad_answers


async def assert_all_honest_stored(service: Service) -> None:
    for i in range(HONEST_SENDERS):
        for n in range(REQUESTS_EACH):
            messages = await transcript(service.endpoints.http, f"honest-{i}-{n}")
            assert [m.content for m in messages] == [f"turn {n} of sender {i}", "ok"]


async def test_a_timestamp_past_2_63_fails_only_its_own_request(service: Service) -> None:
    honest_codes, bad_codes = await send_all(service, [past_2_63(n) for n in range(24)])

    assert set(bad_codes) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert honest_codes == [grpc.StatusCode.OK] * HONEST_SENDERS * REQUESTS_EACH
    await assert_all_honest_stored(service)
    over_http = await export_http(service.endpoints.http, past_2_63(99).SerializeToString())
    assert over_http.status_code == 400
    assert "2^63" in over_http.text


async def test_data_the_store_refuses_fails_only_its_own_request_in_a_shared_write(
    service: Service,
) -> None:
    honest_codes, bad_codes = await send_all(service, [huge_session_key(n) for n in range(24)])

    assert set(bad_codes) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert honest_codes == [grpc.StatusCode.OK] * HONEST_SENDERS * REQUESTS_EACH
    await assert_all_honest_stored(service)
    counters = receiver_counters(service)
    assert counters.split_writes >= 1  # the bad batch did share a write with honest ones
    assert counters.batches == HONEST_SENDERS * REQUESTS_EACH


async def test_a_value_nested_10000_deep_is_cut_and_its_span_stored_beside_honest_load(
    service: Service,
) -> None:
    deep = deep_array_value(10_000)
    requests = [
        with_attribute_bytes(
            chat_request(f"deep-{n}", "deep hi", trace_id=os.urandom(16)), "d", deep
        )
        for n in range(8)
    ]
    endpoint = service.endpoints.grpc

    async def deep_sender() -> list[grpc.StatusCode]:
        return [(await export_grpc(endpoint, data)).code for data in requests]

    (honest_codes, _), deep_codes = await asyncio.gather(send_all(service, []), deep_sender())

    assert deep_codes == [grpc.StatusCode.OK] * len(requests)
    assert honest_codes == [grpc.StatusCode.OK] * HONEST_SENDERS * REQUESTS_EACH
    await assert_all_honest_stored(service)
    for n in range(len(requests)):
        messages = await transcript(service.endpoints.http, f"deep-{n}")
        assert [m.content for m in messages] == ["deep hi", "ok"]
    assert receiver_counters(service).deep_values == len(requests)
