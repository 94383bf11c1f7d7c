"""Every captured fixture, sent over gRPC and OTLP/HTTP (protobuf and JSON) to a
running tasktrace with a real Postgres, becomes exactly the conversation it
replays: roles, texts, tool calls and results, errors, in order, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tasktrace.client import Client
from tasktrace.model import Message, Role, Session
from tasktrace.receiver.dialects._common import canonical_json
from tests.support.service import running_service
from tests.unit.dialect_helpers import CONVERSATIONS, FIXTURES, captured_turns, samples

VARIANTS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "crosslib")

#: what each library does not capture (documented in the README)
NO_TOOL_SPANS = {"openllmetry", "openllmetry-stream"}
INPUT_AT_START = {"openai-v2-legacy", "openai-v2-legacy-stream"}


def session_id_captured(variant: str, conversation: str) -> bool:
    """Whether any exported span or log record carries the session id (``_run.json``)."""
    run = json.loads((FIXTURES / variant / "_run.json").read_text())
    found = run["conversations"][conversation]["session_id_found"]
    return bool(found["span_keys"] or found["log_keys"])


def expected_turns(variant: str, conversation: str) -> list[Mapping[str, Any]]:
    turns = captured_turns(
        conversation,
        pending_input_exported=variant in INPUT_AT_START,
        sdk_tool_error=variant.startswith("agents-"),
    )
    if variant in NO_TOOL_SPANS:  # the error flag lives only on tool spans
        turns = [{**t, "error": False} if t["role"] == "tool" else t for t in turns]
    return turns


def view(message: Message) -> tuple[Any, ...]:
    calls = tuple((c.name, canonical_json(c.arguments)) for c in message.tool_calls)
    content = canonical_json(message.content) if message.role is Role.TOOL else message.content
    return (
        message.role.value,
        content,
        calls,
        message.error if message.role is Role.TOOL else None,
    )


def turn_view(turn: Mapping[str, Any]) -> tuple[Any, ...]:
    calls = tuple(
        (c["name"], canonical_json(c.get("arguments", {}))) for c in turn.get("tool_calls", ())
    )
    content = turn.get("content", "")
    if turn["role"] == "tool":
        return ("tool", canonical_json(content), calls, bool(turn.get("error")))
    return (turn["role"], content, calls, None)


def files_of(variant: str, conversation: str, ext: str) -> list[tuple[str, bytes]]:
    folder = FIXTURES / variant
    out = [("traces", (folder / f"{conversation}.{ext}").read_bytes())]
    logs = folder / f"{conversation}.logs.{ext}"
    if logs.exists():
        out.append(("logs", logs.read_bytes()))
    return out


async def send_grpc(endpoint: str, files: Sequence[tuple[str, bytes]]) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        traces = trace_service_pb2_grpc.TraceServiceStub(channel)
        logs = logs_service_pb2_grpc.LogsServiceStub(channel)
        for kind, data in files:
            if kind == "traces":
                await traces.Export(trace_service_pb2.ExportTraceServiceRequest.FromString(data))
            else:
                await logs.Export(logs_service_pb2.ExportLogsServiceRequest.FromString(data))


async def send_http(endpoint: str, files: Sequence[tuple[str, bytes]], content_type: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{endpoint}") as http:
        for kind, data in files:
            response = await http.post(
                f"/v1/{kind}", content=data, headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text


def session_list(http_endpoint: str) -> list[Session]:
    with Client(f"http://{http_endpoint}") as client:
        return list(client.sessions.list(limit=1000).items)


def transcript(http_endpoint: str, session_id: str) -> list[Message]:
    with Client(f"http://{http_endpoint}") as client:
        page = client.sessions.messages(session_id, limit=1000)
    return list(page.items)


@pytest.mark.parametrize("transport", ["grpc", "http-protobuf", "http-json"])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
async def test_fixture_becomes_its_conversation_once(
    pg_dsn: str, variant: str, conversation: str, transport: str
) -> None:
    ext = "json" if transport == "http-json" else "pb"
    files = files_of(variant, conversation, ext)
    async with running_service(pg_dsn) as service:
        for _ in range(2):  # the second delivery must change nothing
            if transport == "grpc":
                await send_grpc(service.endpoints.grpc, files)
            else:
                ctype = "application/json" if ext == "json" else "application/x-protobuf"
                await send_http(service.endpoints.http, files, ctype)
        sessions = await asyncio.to_thread(session_list, service.endpoints.http)
        session_id = samples()[conversation]["session_id"]
        if not session_id_captured(variant, conversation):
            # no session id in the data: one session all the same (calls of one
            # request share a trace; separate traces are tied by their history)
            assert len(sessions) == 1
            session_id = sessions[0].id
        else:
            assert [s.id for s in sessions] == [session_id]
        messages = await asyncio.to_thread(transcript, service.endpoints.http, session_id)
    assert [m.seq for m in messages] == list(range(len(messages)))
    assert messages[0].role is Role.SYSTEM
    assert [view(m) for m in messages[1:]] == [
        turn_view(t) for t in expected_turns(variant, conversation)
    ]
