"""Sending OTLP to a running tasktrace the way exporters do, raw bytes included,
and reading a session's transcript back: for tests of what the receiver answers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tasktrace.client import Client
from tasktrace.evaluation.replay.otlp import to_key_values
from tasktrace.model import AttrValue, Message
from tasktrace.receiver.service import Counters
from tasktrace.server.pipeline import Service

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
#: a variant whose fixtures are traces only and carry the session id
VARIANT = "openai-v2-latest-span"
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def fixture(conversation: str, ext: str = "pb", variant: str = VARIANT) -> bytes:
    """The captured trace request of one conversation (``pb`` or ``json``)."""
    return (FIXTURES / variant / f"{conversation}.{ext}").read_bytes()


@cache
def session_of(conversation: str) -> str:
    for line in (FIXTURES / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        if sample["id"] == conversation:
            return str(sample["session_id"])
    raise KeyError(conversation)


@dataclass(frozen=True)
class GrpcAnswer:
    code: grpc.StatusCode
    details: str
    trailers: dict[str, Any]
    response: bytes = b""  # the Export*ServiceResponse, when OK


async def export_grpc(endpoint: str, data: bytes, *, timeout: float = 30.0) -> GrpcAnswer:
    """Send ``data`` as-is to ``TraceService/Export`` (no client-side parsing)."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(TRACE_EXPORT)  # no serializers: bytes in, bytes out
        try:
            response = await call(data, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            trailers = dict(error.trailing_metadata() or ())
            return GrpcAnswer(error.code(), error.details() or "", trailers)
    return GrpcAnswer(grpc.StatusCode.OK, "", {}, response)


async def export_http(
    endpoint: str,
    data: bytes,
    *,
    content_type: str = PROTOBUF,
    headers: dict[str, str] | None = None,
    path: str = "/v1/traces",
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{endpoint}", timeout=30.0) as http:
        return await http.post(
            path, content=data, headers={"Content-Type": content_type, **(headers or {})}
        )


async def transcript(http_endpoint: str, session_id: str) -> list[Message]:
    """The stored messages of ``session_id``, through the public client."""

    def read() -> list[Message]:
        with Client(f"http://{http_endpoint}") as client:
            return list(client.sessions.messages(session_id, limit=1000).items)

    return await asyncio.to_thread(read)


def without_task_ids(messages: list[Message]) -> list[Message]:
    """Messages as ingest stored them: extraction may assign task ids meanwhile."""
    return [dataclasses.replace(m, task_id="") for m in messages]


def receiver_counters(service: Service) -> Counters:
    """What the running service's receiver has counted (accepted, unreadable, failures)."""
    assert service._receiver is not None
    return service._receiver.counters


def chat_attributes(session_id: str, user_text: str) -> dict[str, AttrValue]:
    """GenAI ``chat`` span attributes: the user says ``user_text``, the model answers "ok"."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.conversation.id": session_id,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": user_text}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}]
        ),
    }


def chat_request(
    session_id: str,
    user_text: str,
    *,
    trace_id: bytes = b"\x11" * 16,
    span_id: bytes = b"\x22" * 8,
    attrs: dict[str, AttrValue] | None = None,
) -> ExportTraceServiceRequest:
    """A request holding one span with :func:`chat_attributes` (plus ``attrs``)."""
    span = ProtoSpan(
        trace_id=trace_id,
        span_id=span_id,
        name="chat gpt-4o-mini",
        kind=ProtoSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
    )
    span.attributes.extend(
        to_key_values({**chat_attributes(session_id, user_text), **(attrs or {})})
    )
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(to_key_values({"service.name": "bad-input-test"}))
    resource_spans.scope_spans.add().spans.append(span)
    return request


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def deep_array_value(depth: int) -> bytes:
    """An ``AnyValue`` holding arrays nested ``depth`` deep around a string, as
    wire bytes (built without protobuf, which refuses to nest past 100)."""
    value = _length_delimited(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        array = _length_delimited(1, value)  # ArrayValue.values
        value = _length_delimited(5, array)  # AnyValue.array_value
    return value


def with_attribute_bytes(request: ExportTraceServiceRequest, key: str, value: bytes) -> bytes:
    """``request`` serialised with one more attribute on its first span, whose
    ``AnyValue`` is given as wire bytes."""
    span = request.resource_spans[0].scope_spans[0].spans[0]
    extra = _length_delimited(9, _length_delimited(1, key.encode()) + _length_delimited(2, value))
    # fields of a message may come in any order, and a repeated field's items
    # concatenate: append the attribute to the span's bytes, then rebuild the nesting
    span_bytes = span.SerializeToString() + extra
    scope = request.resource_spans[0].scope_spans[0]
    scope_rest = type(scope)(scope=scope.scope, schema_url=scope.schema_url).SerializeToString()
    scope_bytes = scope_rest + b"".join(
        _length_delimited(2, s.SerializeToString() if s is not span else span_bytes)
        for s in scope.spans
    )
    resource = request.resource_spans[0]
    resource_bytes = _length_delimited(1, resource.resource.SerializeToString()) + b"".join(
        _length_delimited(2, s.SerializeToString() if s is not scope else scope_bytes)
        for s in resource.scope_spans
    )
    return b"".join(
        _length_delimited(1, r.SerializeToString() if r is not resource else resource_bytes)
        for r in request.resource_spans
    )
