"""From a trace or span id to its tasks, for every captured library: each
fixture's ``two-requests`` conversation goes to a real service over OTLP/HTTP,
is extracted, and then every trace id (and every span id that carried a
message) is looked up over HTTP JSON, gRPC, the Python client and the CLI.

What a lookup must answer is worked out another way: from the transcript
(each message names its trace, span and task) and each task's ``trace_ids``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.api import proto_codec
from tasktrace.client import Client
from tasktrace.model import Message, Task
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tests.integration.test_receiver_fixtures import VARIANTS, files_of, send_http
from tests.support.query_cli import run_cli
from tests.support.service import running_service
from tests.support.session_api import flush

CONVERSATION = "two-requests"
PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class Stored:
    tasks: list[Task]
    messages: list[Message]

    def expected_for_trace(self, trace_id: str) -> list[str]:
        ids = {m.task_id for m in self.messages if m.trace_id == trace_id and m.task_id}
        ids |= {t.id for t in self.tasks if trace_id in t.trace_ids}
        return [t.id for t in self.tasks if t.id in ids]

    def expected_for_span(self, span_id: str) -> list[str]:
        ids = {m.task_id for m in self.messages if m.span_id == span_id and m.task_id}
        return [t.id for t in self.tasks if t.id in ids]


def fixture_trace_ids(variant: str) -> list[str]:
    request = ExportTraceServiceRequest.FromString(files_of(variant, CONVERSATION, "pb")[0][1])
    return sorted(
        {
            span.trace_id.hex()
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        }
    )


def read_store(base_url: str) -> Stored:
    """Every task and message, by session id and then order / seq."""
    with Client(base_url) as client:
        sessions = sorted(s.id for s in client.sessions.iter())
        tasks = [t for s in sessions for t in client.sessions.iter_tasks(s)]
        messages = [m for s in sessions for m in client.sessions.messages(s, limit=1000).items]
    return Stored(tasks, messages)


def client_lookup(base_url: str, trace_ids: Sequence[str], span_ids: Sequence[str]) -> list[Any]:
    with Client(base_url) as client:
        return [
            *([t.id for t in client.traces.get_tasks(i).items] for i in trace_ids),
            *([t.id for t in client.spans.get_tasks(i).items] for i in span_ids),
        ]


async def http_ids(http: httpx.AsyncClient, path: str) -> list[str]:
    response = await http.get(f"/api/v1{path}/tasks")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return [t["id"] for t in body["items"]]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_trace_and_span_leads_to_its_tasks_over_every_api(
    pg_dsn: str, variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_ids = fixture_trace_ids(variant)
    async with running_service(pg_dsn) as service:
        base_url = f"http://{service.endpoints.http}"
        await send_http(service.endpoints.http, files_of(variant, CONVERSATION, "pb"), PROTOBUF)
        async with httpx.AsyncClient(base_url=base_url) as http:
            sessions = (await http.get("/api/v1/sessions")).json()["items"]
            for session in sessions:
                await flush(http, session["id"])
            stored = await asyncio.to_thread(read_store, base_url)
            assert stored.tasks, "the conversation made no task"
            span_ids = sorted({m.span_id for m in stored.messages if m.span_id and m.task_id})
            assert span_ids, "no message names the span it came from"

            by_http = [await http_ids(http, f"/traces/{i}") for i in trace_ids]
            by_http += [await http_ids(http, f"/spans/{i}") for i in span_ids]
        expected = [stored.expected_for_trace(i) for i in trace_ids]
        expected += [stored.expected_for_span(i) for i in span_ids]
        assert by_http == expected
        # every task is found from some trace of the conversation, and a trace
        # that carried a message finds the task that message belongs to
        assert {i for ids in by_http[: len(trace_ids)] for i in ids} == {t.id for t in stored.tasks}
        assert all(by_http[len(trace_ids) :]), "a span that carried a message found no task"

        async with grpc.aio.insecure_channel(service.endpoints.grpc) as channel:
            stub = TaskServiceStub(channel)
            requests = [pb.ListTraceTasksRequest(trace_id=i) for i in trace_ids]
            requests += [pb.ListTraceTasksRequest(span_id=i) for i in span_ids]
            answers = [await stub.ListTraceTasks(r) for r in requests]
        by_grpc = [[proto_codec.task_from_pb(t) for t in a.items] for a in answers]
        assert [[t.id for t in ts] for ts in by_grpc] == expected
        by_id = {t.id: t for t in stored.tasks}
        assert all(t == by_id[t.id] for ts in by_grpc for t in ts)  # the whole task, session too

        by_client = await asyncio.to_thread(client_lookup, base_url, trace_ids, span_ids)
        assert by_client == expected

        capsys.readouterr()
        first = trace_ids[0]
        code = await asyncio.to_thread(
            run_cli, "tasks", "--trace", first, "--json", "--endpoint", base_url
        )
        assert code == 0
        printed = json.loads(capsys.readouterr().out)
        assert [(t["id"], t["session_id"]) for t in printed] == [
            (i, by_id[i].session_id) for i in expected[0]
        ]


async def test_an_unknown_trace_finds_nothing_and_a_malformed_id_is_refused(pg_dsn: str) -> None:
    async with (
        running_service(pg_dsn) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}/api/v1") as http,
    ):
        nothing = await http.get(f"/traces/{'ab' * 16}/tasks")
        assert (nothing.status_code, nothing.json()) == (200, {"items": [], "next_cursor": None})
        short = await http.get("/traces/abc/tasks")
        assert short.status_code == 400
        assert "trace id must be 32 hex digits" in short.json()["error"]
        span = await http.get(f"/spans/{'ab' * 16}/tasks")
        assert span.status_code == 400 and "span id must be 16" in span.json()["error"]
        async with grpc.aio.insecure_channel(service.endpoints.grpc) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await TaskServiceStub(channel).ListTraceTasks(pb.ListTraceTasksRequest())
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
