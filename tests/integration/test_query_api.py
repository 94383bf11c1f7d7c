"""The query API end to end over HTTP JSON and gRPC, on real servers on 127.0.0.1
and the small in-memory TaskQueries of tests/support/memory_queries.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest

from tasktrace.api import proto_codec, wire
from tasktrace.api.grpc import add_task_service
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tasktrace.queries import (
    Page,
)
from tests.support.memory_queries import (
    FLUSH_TIMEOUT,
    STUCK,
    MemoryQueries,
    seeded,
    serve_api,
)
from tests.support.query_builders import ISO_UTC, T0

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"


# --- servers -------------------------------------------------------------------


@pytest.fixture
def queries() -> MemoryQueries:
    return seeded()


@pytest.fixture
async def base_url(queries: MemoryQueries) -> AsyncIterator[str]:
    async for url in serve_api(queries):
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url + "/api/v1") as client:
        yield client


@pytest.fixture
async def stub(queries: MemoryQueries) -> AsyncIterator[TaskServiceStub]:
    server = grpc.aio.server()
    add_task_service(server, queries, flush_timeout=FLUSH_TIMEOUT)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield TaskServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


async def get_json(http: httpx.AsyncClient, path: str, *, expect: int = 200, **params: Any) -> Any:
    """GET ``path`` with query ``params``; check the status is ``expect`` and the body JSON."""
    response = await http.get(path, params=params)
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


# --- HTTP JSON -------------------------------------------------------------------


async def test_session_tasks_come_in_order_across_three_pages(http: httpx.AsyncClient) -> None:
    orders, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = await get_json(http, "/sessions/s1/tasks", **params)
        orders += [t["order"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert orders == [1, 2, 3, 4, 5, 6, 7]


async def test_a_task_has_every_promised_field(http: httpx.AsyncClient) -> None:
    page = await get_json(http, "/sessions/s1/tasks", limit=1)
    task = page["items"][0]
    assert set(task) >= {
        "id", "session_id", "order", "description", "status", "progress", "preferences",
        "message_ids", "trace_ids", "created_at", "updated_at", "history",
    }  # fmt: skip
    assert task["session_id"] == "s1"
    assert task["status"] == "success"
    assert ISO_UTC.match(task["created_at"]) and ISO_UTC.match(task["updated_at"])
    assert [set(change) for change in task["history"]] == [{"status", "at", "reason"}] * 2
    assert all(ISO_UTC.match(change["at"]) for change in task["history"])


async def test_session_tasks_filter_by_status(http: httpx.AsyncClient) -> None:
    page = await get_json(http, "/sessions/s1/tasks", status="success")
    assert [t["order"] for t in page["items"]] == [1, 2, 6]
    assert page["next_cursor"] is None


async def test_sessions_are_listed_most_recently_updated_first(http: httpx.AsyncClient) -> None:
    page = await get_json(http, "/sessions")
    assert [s["id"] for s in page["items"]] == ["s2", "s1", STUCK]
    assert set(page["items"][0]) == {"id", "service", "created_at", "updated_at", "message_count"}
    assert page["items"][1]["message_count"] == 4
    first = await get_json(http, "/sessions", limit=2)
    rest = await get_json(http, "/sessions", limit=2, cursor=first["next_cursor"])
    assert [s["id"] for s in first["items"] + rest["items"]] == ["s2", "s1", STUCK]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("failed", ["s2", "s1"]), ("pending", ["s1"]), ("", ["s2", "s1", STUCK])],
)
async def test_sessions_filter_keeps_those_having_a_task_in_the_status(
    http: httpx.AsyncClient, status: str, expected: list[str]
) -> None:
    page = await get_json(http, "/sessions", status=status)
    assert [s["id"] for s in page["items"]] == expected


async def test_messages_come_in_seq_order_with_tool_calls(http: httpx.AsyncClient) -> None:
    page = await get_json(http, "/sessions/s1/messages", limit=2)
    assert [m["seq"] for m in page["items"]] == [0, 1]
    user, assistant = page["items"]
    assert set(user) == {
        "id", "session_id", "seq", "role", "content", "tool_calls", "tool_call_id",
        "tool_name", "error", "trace_id", "span_id", "time", "task_id",
    }  # fmt: skip
    assert (user["role"], user["task_id"]) == ("user", "s1-t1")
    assert ISO_UTC.match(user["time"])
    assert assistant["tool_calls"] == [
        {"id": "call_1", "name": "search_flights", "arguments": '{"to": "LIS"}'}
    ]
    rest = await get_json(http, "/sessions/s1/messages", cursor=page["next_cursor"])
    assert [m["role"] for m in rest["items"]] == ["tool", "assistant"]


async def test_status_reports_pending_messages(http: httpx.AsyncClient) -> None:
    status = await get_json(http, "/sessions/s1/status")
    assert status == {
        "messages": 4,
        "processed": 2,
        "pending": 2,
        "in_process": True,
        "last_error": "",
    }


async def test_flush_answers_what_it_processed_and_the_tasks(http: httpx.AsyncClient) -> None:
    response = await http.post("/sessions/s1/flush")
    assert response.status_code == 200
    result = response.json()
    assert result["processed"] == 2
    assert [t["order"] for t in result["tasks"]] == [1, 2, 3, 4, 5, 6, 7]
    assert (await get_json(http, "/sessions/s1/status"))["pending"] == 0


async def test_a_flush_that_does_not_catch_up_answers_504(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/sessions/{quote(STUCK, safe='')}/flush", params={"timeout": 0.05})
    assert response.status_code == 504
    assert "not extracted" in response.json()["error"]


async def test_flush_timeout_is_capped_at_the_server_maximum(
    http: httpx.AsyncClient, queries: MemoryQueries
) -> None:
    await http.post("/sessions/s1/flush", params={"timeout": 3600})
    await http.post("/sessions/s1/flush", params={"timeout": 1.5})
    assert queries.flush_timeouts == [FLUSH_TIMEOUT, 1.5]


async def test_tasks_across_sessions_filter_by_status_service_and_time(
    http: httpx.AsyncClient,
) -> None:
    failed = await get_json(http, "/tasks", status="failed")
    assert [t["id"] for t in failed["items"]] == ["s2-t1", "s1-t3"]
    mail = await get_json(http, "/tasks", service="mail")
    assert [t["id"] for t in mail["items"]] == ["s2-t1"]
    recent = await get_json(http, "/tasks", since=wire.format_time(T0 + timedelta(minutes=6)))
    assert [t["id"] for t in recent["items"]] == ["s2-t1", "s1-t7", "s1-t6"]
    early = await get_json(http, "/tasks", until=wire.format_time(T0 + timedelta(minutes=2)))
    assert [t["id"] for t in early["items"]] == ["s1-t1"]


async def test_tasks_across_sessions_are_paged(http: httpx.AsyncClient) -> None:
    first = await get_json(http, "/tasks", limit=5)
    rest = await get_json(http, "/tasks", limit=5, cursor=first["next_cursor"])
    assert len(first["items"]) == 5 and len(rest["items"]) == 3
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sessions/nope/tasks"),
        ("GET", "/sessions/nope/messages"),
        ("GET", "/sessions/nope/status"),
        ("POST", "/sessions/nope/flush"),
    ],
)
async def test_an_unknown_session_answers_404_with_a_json_error(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http.request(method, path)
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/sessions/s1/tasks", {"limit": "0"}, "limit"),
        ("/sessions/s1/tasks", {"limit": "1001"}, "limit"),
        ("/sessions/s1/tasks", {"status": "done"}, "status"),
        ("/sessions/s1/messages", {"limit": "many"}, "limit"),
        ("/sessions", {"status": "finished"}, "status"),
        ("/sessions", {"cursor": "not-a-cursor"}, "cursor"),
        ("/tasks", {"since": "yesterday"}, "since"),
        ("/tasks", {"until": "2026-99-01"}, "until"),
    ],
)
async def test_bad_parameters_answer_400_naming_the_parameter(
    http: httpx.AsyncClient, path: str, params: dict[str, str], error: str
) -> None:
    body = await get_json(http, path, expect=400, **params)
    assert error in body["error"]


async def test_a_bad_flush_timeout_answers_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/sessions/s1/flush", params={"timeout": "-1"})
    assert response.status_code == 400
    assert "timeout" in response.json()["error"]


# --- gRPC -----------------------------------------------------------------------


async def test_grpc_answers_the_same_data_as_http(
    http: httpx.AsyncClient, stub: TaskServiceStub
) -> None:
    def same(got: Page[Any], json_page: Any, item_from_json: Any) -> None:
        assert got == wire.page_from_json(json_page, item_from_json)

    tasks = await stub.GetSessionTasks(pb.GetSessionTasksRequest(session_id="s1", limit=3))
    same(
        proto_codec.page_from_pb(tasks, proto_codec.task_from_pb),
        await get_json(http, "/sessions/s1/tasks", limit=3),
        wire.task_from_json,
    )
    sessions = await stub.ListSessions(pb.ListSessionsRequest())
    same(
        proto_codec.page_from_pb(sessions, proto_codec.session_from_pb),
        await get_json(http, "/sessions"),
        wire.session_from_json,
    )
    messages = await stub.ListSessionMessages(pb.ListSessionMessagesRequest(session_id="s1"))
    same(
        proto_codec.page_from_pb(messages, proto_codec.message_from_pb),
        await get_json(http, "/sessions/s1/messages"),
        wire.message_from_json,
    )
    status = await stub.GetSessionStatus(pb.GetSessionStatusRequest(session_id="s1"))
    assert proto_codec.session_status_from_pb(status) == wire.session_status_from_json(
        await get_json(http, "/sessions/s1/status")
    )


async def test_grpc_pages_and_filters_tasks(stub: TaskServiceStub) -> None:
    first = await stub.GetSessionTasks(pb.GetSessionTasksRequest(session_id="s1", limit=4))
    rest = await stub.GetSessionTasks(
        pb.GetSessionTasksRequest(session_id="s1", limit=4, cursor=first.next_cursor)
    )
    assert [t.order for t in [*first.items, *rest.items]] == [1, 2, 3, 4, 5, 6, 7]
    assert rest.next_cursor == ""
    failed = await stub.ListTasks(pb.ListTasksRequest(status=pb.TASK_STATUS_FAILED))
    assert [t.id for t in failed.items] == ["s2-t1", "s1-t3"]
    mail = await stub.ListSessions(pb.ListSessionsRequest(status=pb.TASK_STATUS_PENDING))
    assert [s.id for s in mail.items] == ["s1"]


async def test_grpc_flush_answers_processed_and_tasks(
    stub: TaskServiceStub, queries: MemoryQueries
) -> None:
    result = await stub.Flush(pb.FlushRequest(session_id="s1"), timeout=10)
    assert result.processed == 2
    assert [t.order for t in result.tasks] == [1, 2, 3, 4, 5, 6, 7]
    assert 0 < queries.flush_timeouts[0] <= FLUSH_TIMEOUT


@pytest.mark.parametrize(
    ("call", "request_", "code"),
    [
        ("GetSessionTasks", pb.GetSessionTasksRequest(session_id="nope"), "NOT_FOUND"),
        ("GetSessionStatus", pb.GetSessionStatusRequest(session_id="nope"), "NOT_FOUND"),
        ("ListSessionMessages", pb.ListSessionMessagesRequest(session_id="nope"), "NOT_FOUND"),
        ("ListTasks", pb.ListTasksRequest(limit=5000), "INVALID_ARGUMENT"),
        ("ListSessions", pb.ListSessionsRequest(cursor="x"), "INVALID_ARGUMENT"),
        ("ListSessions", pb.ListSessionsRequest(status=42), "INVALID_ARGUMENT"),
        ("Flush", pb.FlushRequest(session_id=STUCK, timeout_seconds=0.05), "DEADLINE_EXCEEDED"),
    ],
)
async def test_grpc_maps_errors_to_status_codes(
    stub: TaskServiceStub, call: str, request_: Any, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, call)(request_)
    assert caught.value.code() == getattr(grpc.StatusCode, code)
