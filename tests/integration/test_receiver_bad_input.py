"""Bad input to the OTLP receiver is answered to its sender with the status the
OTLP spec asks for (https://opentelemetry.io/docs/specs/otlp/#failures), never
crashes the server, and never disturbs what was accepted before: each test sends
a good fixture first and reads its transcript back unchanged at the end."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from tasktrace.model import Message
from tasktrace.server.pipeline import Service
from tests.support.bad_input import (
    GOOD,
    LIMITS,
    MIB,
    good_transcript_kept,
    one_span_json,
    status_message,
    still_accepts,
    stored,
)
from tests.support.otlp_traffic import (
    JSON,
    PROTOBUF,
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
