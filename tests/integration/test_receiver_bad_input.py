"""Bad input to the OTLP receiver is answered to its sender with the status the
OTLP spec asks for (https://opentelemetry.io/docs/specs/otlp/#failures), never
crashes the server, and never disturbs what was accepted before: each test sends
a good fixture first and reads its transcript back unchanged at the end."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tasktrace.client import NotFound
from tasktrace.model import Message
from tasktrace.receiver.otlp_decode import MAX_VALUE_CHARS
from tasktrace.receiver.otlp_wire import TraceRequest
from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import (
    JSON,
    PROTOBUF,
    chat_request,
    export_grpc,
    export_http,
    fixture,
    receiver_counters,
    session_of,
    transcript,
    without_task_ids,
)
from tests.support.service import running_service

GOOD = "two-requests"
MIB = 1024 * 1024
LIMITS = (
    "receivers.otlp.protocols.grpc.max_recv_msg_size_mib=1",
    "receivers.otlp.protocols.http.max_request_body_size_mib=1",
)


def status_message(response: httpx.Response) -> str:
    """The reason an OTLP/HTTP error answer carries, in the request's encoding."""
    if response.headers["content-type"].startswith(JSON):
        return str(response.json()["message"])
    return status_pb2.Status.FromString(response.content).message


async def stored(service: Service, session_id: str) -> list[Message]:
    """The session's transcript, or [] when the session does not exist."""
    try:
        return await transcript(service.endpoints.http, session_id)
    except NotFound:
        return []


def one_span_json(span: dict[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    """A running tasktrace whose request size limits are 1 MiB."""
    async with running_service(pg_dsn, overrides=LIMITS) as running:
        yield running


@pytest.fixture
async def accepted(service: Service) -> AsyncIterator[list[Message]]:
    """Sends the good fixture before the test, and checks after it that the
    stored transcript is exactly what it was."""
    answer = await export_grpc(service.endpoints.grpc, fixture(GOOD))
    assert answer.code is grpc.StatusCode.OK, answer.details
    before = without_task_ids(await transcript(service.endpoints.http, session_of(GOOD)))
    assert len(before) == 7
    yield before
    assert without_task_ids(await transcript(service.endpoints.http, session_of(GOOD))) == before


async def still_accepts(service: Service, session_id: str = "after-bad-input") -> None:
    """A good request after the bad one is accepted and stored."""
    request = chat_request(session_id, "still there?", trace_id=b"\x99" * 16)
    response = await export_http(service.endpoints.http, request.SerializeToString())
    assert response.status_code == 200, response.text
    assert [m.content for m in await stored(service, session_id)] == ["still there?", "ok"]


# --- data that will never parse --------------------------------------------


async def test_garbage_over_grpc_is_invalid_argument(
    service: Service, accepted: list[Message]
) -> None:
    answer = await export_grpc(service.endpoints.grpc, b"\xff\xff\xff\xffnot protobuf")

    assert answer.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed OTLP protobuf" in answer.details
    await still_accepts(service)


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
async def test_garbage_protobuf_over_http_is_400_with_the_reason(
    service: Service, accepted: list[Message], path: str
) -> None:
    response = await export_http(service.endpoints.http, b"\xff\xff\xff\xffnot protobuf", path=path)

    assert response.status_code == 400
    assert response.headers["content-type"] == PROTOBUF
    assert "malformed OTLP protobuf" in status_message(response)
    await still_accepts(service)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed OTLP/JSON"),
        (b"[1, 2, 3]", "the top level must be an object"),
        (b'"resourceSpans"', "the top level must be an object"),
        (b"\xff\xfe{}", "malformed OTLP/JSON"),
        (b'{"resourceSpans": 5}', "resourceSpans"),
        (one_span_json({"traceId": "not-hex", "spanId": "01"}), "traceId 'not-hex' is not hex"),
        (one_span_json({"name": 42, "kind": "sideways"}), "malformed OTLP/JSON"),
    ],
    ids=[
        "not-json",
        "top-level-list",
        "top-level-string",
        "bad-utf8",
        "wrong-type",
        "bad-hex",
        "bad-enum",
    ],
)
async def test_json_that_is_not_otlp_is_400_with_the_reason_in_the_body(
    service: Service, accepted: list[Message], body: bytes, reason: str
) -> None:
    response = await export_http(service.endpoints.http, body, content_type=JSON)

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert reason in response.json()["message"]
    await still_accepts(service)


async def test_invalid_utf8_in_an_attribute_value_keeps_the_span_and_is_counted(
    service: Service, accepted: list[Message]
) -> None:
    """protobuf would refuse the whole request; the receiver reads string values
    as bytes, so the span is stored with U+FFFD where the bytes were not UTF-8."""
    before = receiver_counters(service).invalid_utf8
    valid = chat_request("bad-utf8", "cafe# please").SerializeToString()
    data = valid.replace(b"cafe#", b"caf\xe9#")  # Latin-1, not UTF-8 (same length)
    assert data != valid

    answer = await export_grpc(service.endpoints.grpc, data)

    assert answer.code is grpc.StatusCode.OK, answer.details
    assert [m.content for m in await stored(service, "bad-utf8")] == ["caf\ufffd# please", "ok"]
    assert receiver_counters(service).invalid_utf8 == before + 1
    async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
        telemetry = (await http.get("/api/v1/telemetry")).json()
    assert telemetry["receiver"]["invalid_utf8"] == before + 1
    await still_accepts(service)


async def test_invalid_utf8_in_a_span_name_is_rejected_as_unparseable(
    service: Service, accepted: list[Message]
) -> None:
    """Names and keys stay protobuf ``string`` fields: a request with a name that
    is not UTF-8 never parses, INVALID_ARGUMENT / 400, nothing stored."""
    valid = chat_request("bad-name", "hello").SerializeToString()
    data = valid.replace(b"chat gpt-4o-mini", b"chat \xff\xfe\xfd-4o-mini")  # same length
    assert data != valid

    answer = await export_grpc(service.endpoints.grpc, data)
    response = await export_http(service.endpoints.http, data)

    assert answer.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in answer.details
    assert response.status_code == 400
    assert await stored(service, "bad-name") == []
    await still_accepts(service)


# --- over the size limits --------------------------------------------------


def oversized_request() -> bytes:
    """A valid request of about 1.5 MiB, over the 1 MiB limits of :data:`LIMITS`."""
    return chat_request("too-big", "x" * (3 * MIB // 2)).SerializeToString()


async def test_a_grpc_request_over_the_size_limit_is_resource_exhausted(
    service: Service, accepted: list[Message]
) -> None:
    answer = await export_grpc(service.endpoints.grpc, oversized_request())

    assert answer.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await stored(service, "too-big") == []
    await still_accepts(service)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_an_http_body_over_the_size_limit_is_413(
    service: Service, accepted: list[Message], content_type: str
) -> None:
    response = await export_http(
        service.endpoints.http, oversized_request(), content_type=content_type
    )

    assert response.status_code == 413
    assert str(MIB) in status_message(response)
    assert await stored(service, "too-big") == []
    await still_accepts(service)


async def test_a_gzip_body_that_inflates_past_the_limit_is_413(
    service: Service, accepted: list[Message]
) -> None:
    compressed = gzip.compress(oversized_request())
    assert len(compressed) < MIB // 10

    response = await export_http(
        service.endpoints.http, compressed, headers={"Content-Encoding": "gzip"}
    )

    assert response.status_code == 413
    assert "decompressed" in status_message(response)
    assert await stored(service, "too-big") == []
    await still_accepts(service)


@pytest.mark.parametrize(("ext", "content_type"), [("pb", PROTOBUF), ("json", JSON)])
async def test_a_gzip_body_within_the_limit_is_accepted(
    service: Service, accepted: list[Message], ext: str, content_type: str
) -> None:
    response = await export_http(
        service.endpoints.http,
        gzip.compress(fixture("three-tools", ext)),
        content_type=content_type,
        headers={"Content-Encoding": "gzip"},
    )

    assert response.status_code == 200, response.text
    assert len(await stored(service, session_of("three-tools"))) == 8


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b"\x0a\x00" * 5000)[:-40]],
    ids=["not-gzip", "truncated"],
)
async def test_a_corrupt_gzip_body_is_400(
    service: Service, accepted: list[Message], body: bytes
) -> None:
    response = await export_http(service.endpoints.http, body, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 400
    assert "bad gzip body" in status_message(response)
    await still_accepts(service)


# --- unsupported media -----------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_an_unsupported_content_type_is_415(
    service: Service, accepted: list[Message], content_type: str
) -> None:
    response = await export_http(service.endpoints.http, fixture(GOOD), content_type=content_type)

    assert response.status_code == 415
    assert "unsupported content type" in status_message(response)
    await still_accepts(service)


async def test_an_unsupported_content_encoding_is_415(
    service: Service, accepted: list[Message]
) -> None:
    response = await export_http(
        service.endpoints.http, fixture(GOOD), headers={"Content-Encoding": "snappy"}
    )

    assert response.status_code == 415
    assert "unsupported content encoding 'snappy'" in status_message(response)


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
