"""Bad values inside a valid OTLP request cost only themselves: the span is
kept (a value cut, a message JSON skipped, an unknown field ignored) or dropped
and counted, the request is answered, and what was accepted before is unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tasktrace.model import Message
from tasktrace.receiver.otlp_decode import MAX_VALUE_CHARS
from tasktrace.receiver.otlp_wire import TraceRequest
from tasktrace.server.pipeline import Service
from tests.support.bad_input import (
    GOOD,
    LIMITS,
    MIB,
    good_transcript_kept,
    still_accepts,
    stored,
)
from tests.support.otlp_traffic import (
    JSON,
    chat_request,
    export_grpc,
    export_http,
    fixture,
    receiver_counters,
    session_of,
)
from tests.support.service import running_service


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    """A running tasktrace whose request size limits are 1 MiB."""
    async with running_service(pg_dsn, overrides=LIMITS) as running:
        yield running


@pytest.fixture
async def accepted(service: Service) -> AsyncIterator[list[Message]]:
    async with good_transcript_kept(service) as before:
        yield before


# --- bad values inside a valid request -------------------------------------


async def test_a_10_mb_string_attribute_is_accepted(pg_dsn: str) -> None:
    """A well-formed request under the (default, 16 MiB) size limit is answered
    200 even when one value is huge (it is cut to ``MAX_VALUE_CHARS`` on decoding);
    the span's messages are stored as usual."""
    async with running_service(pg_dsn) as service:
        request = chat_request("huge", "hello", attrs={"app.blob": "y" * (10 * MIB)})
        assert len(request.SerializeToString()) > MAX_VALUE_CHARS

        answer = await export_grpc(service.endpoints.grpc, request.SerializeToString())

        assert answer.code is grpc.StatusCode.OK, answer.details
        assert [m.content for m in await stored(service, "huge")] == ["hello", "ok"]
        assert receiver_counters(service).cut_values == 1
        await still_accepts(service)


async def test_unparseable_input_messages_json_keeps_what_can_be_read(
    service: Service, accepted: list[Message]
) -> None:
    """The request parses, so it is answered 200; the span's
    ``gen_ai.input.messages`` is unusable (and counted), its output still is: the
    answer is stored, the broken input is not."""
    before = receiver_counters(service).unparsed_json
    request = chat_request("broken-input", "unused", attrs={"gen_ai.input.messages": "[{not json"})

    answer = await export_grpc(service.endpoints.grpc, request.SerializeToString())

    assert answer.code is grpc.StatusCode.OK, answer.details
    assert [(m.role.value, m.content) for m in await stored(service, "broken-input")] == [
        ("assistant", "ok")
    ]
    assert receiver_counters(service).unparsed_json == before + 1
    await still_accepts(service)


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (b"", b"\x22" * 8),
        (b"\x00" * 16, b"\x22" * 8),
        (b"\x11" * 16, b""),
        (b"\x11" * 3, b"\x22" * 8),
    ],
    ids=["no-trace-id", "zero-trace-id", "no-span-id", "short-trace-id"],
)
async def test_a_span_without_valid_ids_is_dropped_and_counted_unreadable(
    service: Service, accepted: list[Message], trace_id: bytes, span_id: bytes
) -> None:
    """The request parses, so it is answered OK (the other spans of a request
    would be kept); the span cannot be placed in a trace, so it is dropped,
    counted as unreadable and reported in the answer's ``partial_success``."""
    before = receiver_counters(service).unreadable
    request = chat_request("no-ids", "hello", trace_id=trace_id, span_id=span_id)

    answer = await export_grpc(service.endpoints.grpc, request.SerializeToString())
    response = await export_http(service.endpoints.http, request.SerializeToString())

    assert answer.code is grpc.StatusCode.OK, answer.details
    for body in (answer.response, response.content):
        partial = ExportTraceServiceResponse.FromString(body).partial_success
        assert partial.rejected_spans == 1
        assert "valid trace id and span id" in partial.error_message
    assert receiver_counters(service).unreadable == before + 2
    assert await stored(service, "no-ids") == []
    await still_accepts(service)


async def test_a_fully_accepted_request_is_answered_without_partial_success(
    service: Service, accepted: list[Message]
) -> None:
    answer = await export_grpc(service.endpoints.grpc, fixture(GOOD))
    response = await export_http(service.endpoints.http, fixture(GOOD, "json"), content_type=JSON)

    assert ExportTraceServiceResponse.FromString(answer.response) == ExportTraceServiceResponse()
    assert response.json() == {}


async def test_a_span_no_dialect_claims_is_answered_200_and_counted_unclaimed(
    service: Service, accepted: list[Message]
) -> None:
    """Plain HTTP server spans are valid OTLP that tasktrace has no use for."""
    request = chat_request("unclaimed", "hello")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.name = "GET /health"
    del span.attributes[:]
    before = receiver_counters(service).unclaimed

    response = await export_http(service.endpoints.http, request.SerializeToString())

    assert response.status_code == 200
    assert receiver_counters(service).unclaimed == before + 1
    await still_accepts(service)


async def test_json_with_unknown_fields_is_accepted(
    service: Service, accepted: list[Message]
) -> None:
    """OTLP/JSON receivers must ignore fields they do not know (forward compatibility)."""
    document = json.loads(fixture("three-tools", "json"))
    document["resourceSpans"][0]["futureField"] = {"x": 1}

    response = await export_http(
        service.endpoints.http, json.dumps(document).encode(), content_type=JSON
    )

    assert response.status_code == 200, response.text
    assert len(await stored(service, session_of("three-tools"))) == 8


async def test_a_nul_in_a_tool_calls_arguments_is_stored_replaced_not_refused(
    service: Service, accepted: list[Message]
) -> None:
    """Found by bench/fuzz.py: a NUL in a tool call's arguments (flattened
    OpenInference attributes carry them as raw text) failed the whole request,
    since PostgreSQL's jsonb cannot hold it. It is stored as U+FFFD, as in message text."""
    request = TraceRequest.FromString(fixture("three-tools", variant="openinference"))
    for span in (s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans):
        for kv in span.attributes:
            if kv.key.endswith("function.arguments"):
                kv.value.string_value = kv.value.string_value.replace(b"Paris", b"Pa\x00ris")

    answer = await export_grpc(service.endpoints.grpc, request.SerializeToString())

    assert answer.code is grpc.StatusCode.OK, answer.details
    messages = await stored(service, session_of("three-tools"))
    arguments = [c.arguments for m in messages for c in m.tool_calls]
    assert any("Pa\ufffdris" in a for a in arguments), arguments
    assert not any("\x00" in a for a in arguments)
    await still_accepts(service)
