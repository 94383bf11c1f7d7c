"""The query API of the real service: HTTP JSON, gRPC, the Python client and the
``tasktrace`` CLI over real Postgres, after real OTLP data was received and
extracted. One service for the module, populated once:

* ``sess-two-requests-001`` (openinference fixture): two successes;
* ``sess-tool-error-003`` (openinference fixture): one failed task;
* ``sess-pending-006`` (openai-v2-legacy fixture, with its logs): success, pending;
* ``billing-1`` (synthetic, service ``billing``): three successes, then a pending one.

They are flushed in that order, so that is their ``updated_at`` order too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
import pytest_asyncio

from tasktrace.api import proto_codec, wire
from tasktrace.client import Client, NotFound
from tasktrace.exporter.read_store import encode_cursor
from tasktrace.model import Task, TaskStatus
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tests.support.populated_service import (
    BILLING,
    BILLING_TURNS,
    EXPECTED_STATUSES,
    FAILED,
    FLUSH_ORDER,
    PENDING,
    TWO,
    Server,
    populated_service,
)
from tests.support.query_builders import ISO_UTC

pytestmark = pytest.mark.asyncio(loop_scope="module")

TASKTRACE = Path(sys.executable).parent / "tasktrace"
TASK_KEYS = {
    "id", "session_id", "order", "description", "status", "progress", "preferences",
    "message_ids", "trace_ids", "created_at", "updated_at", "history",
    "status_reason", "revision", "extractor", "extracted_at",
}  # fmt: skip
MESSAGE_KEYS = {
    "id", "session_id", "seq", "role", "content", "tool_calls", "tool_call_id",
    "tool_name", "error", "trace_id", "span_id", "time", "task_id",
}  # fmt: skip


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(pg_dsn: str) -> AsyncIterator[Server]:
    async with populated_service(pg_dsn) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url + "/api/v1") as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def stub(server: Server) -> AsyncIterator[TaskServiceStub]:
    async with grpc.aio.insecure_channel(server.grpc) as channel:
        yield TaskServiceStub(channel)


async def get_json(http: httpx.AsyncClient, path: str, *, expect: int = 200, **params: Any) -> Any:
    response = await http.get(path, params=params)
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def every_page(http: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    """The items of each page, following ``next_cursor`` to the end."""
    pages, cursor = [], None
    while True:
        page = await get_json(http, path, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


async def all_tasks(http: httpx.AsyncClient) -> list[Any]:
    page = await get_json(http, "/tasks", limit=1000)
    assert page["next_cursor"] is None
    items: list[Any] = page["items"]
    return items


# --- HTTP JSON --------------------------------------------------------------------


async def test_each_session_has_the_tasks_its_conversation_implies(http: httpx.AsyncClient) -> None:
    for session_id, statuses in EXPECTED_STATUSES.items():
        page = await get_json(http, f"/sessions/{session_id}/tasks")
        assert [t["status"] for t in page["items"]] == statuses, session_id
        assert [t["order"] for t in page["items"]] == list(range(1, len(statuses) + 1))


async def test_session_tasks_come_one_per_page_in_order_with_a_status_filter(
    http: httpx.AsyncClient,
) -> None:
    pages = await every_page(http, f"/sessions/{BILLING}/tasks", limit=1)
    assert [[t["order"] for t in page] for page in pages] == [[1], [2], [3], [4]]
    successes = await every_page(http, f"/sessions/{BILLING}/tasks", limit=1, status="success")
    assert [[t["order"] for t in page] for page in successes] == [[1], [2], [3]]
    pending = await get_json(http, f"/sessions/{BILLING}/tasks", status="pending")
    assert [t["description"] for t in pending["items"]] == [BILLING_TURNS[3].user]
    none = await get_json(http, f"/sessions/{BILLING}/tasks", status="failed")
    assert none == {"items": [], "next_cursor": None}


async def test_task_json_has_exactly_the_promised_fields(http: httpx.AsyncClient) -> None:
    tasks = await all_tasks(http)
    assert len(tasks) == sum(len(s) for s in EXPECTED_STATUSES.values())
    for task in tasks:
        assert set(task) == TASK_KEYS
        assert ISO_UTC.match(task["created_at"]) and ISO_UTC.match(task["updated_at"])
        assert task["history"][0]["status"] == "pending"
        assert task["history"][-1]["status"] == task["status"]
        for change in task["history"]:
            assert set(change) == {"status", "at", "reason"} and ISO_UTC.match(change["at"])
        assert task["message_ids"] and task["trace_ids"]


async def test_tasks_across_sessions_filter_by_status_and_service(http: httpx.AsyncClient) -> None:
    failed = await get_json(http, "/tasks", status="failed")
    assert [(t["session_id"], t["order"]) for t in failed["items"]] == [(FAILED, 1)]
    billing = await get_json(http, "/tasks", service="billing")
    assert sorted(t["order"] for t in billing["items"]) == [1, 2, 3, 4]
    assert {t["session_id"] for t in billing["items"]} == {BILLING}
    pending = await get_json(http, "/tasks", status="pending")
    assert [t["session_id"] for t in pending["items"]] == [BILLING, PENDING]
    assert (await get_json(http, "/tasks", service="nobody"))["items"] == []


async def test_since_and_until_split_tasks_at_an_update_time(http: httpx.AsyncClient) -> None:
    tasks = await all_tasks(http)
    cut = next(t for t in tasks if t["session_id"] == PENDING)["updated_at"]
    since = await get_json(http, "/tasks", since=cut, limit=1000)
    until = await get_json(http, "/tasks", until=cut, limit=1000)
    later = [t["id"] for t in tasks if t["updated_at"] >= cut]
    earlier = [t["id"] for t in tasks if t["updated_at"] < cut]
    assert [t["id"] for t in since["items"]] == later
    assert [t["id"] for t in until["items"]] == earlier
    assert {t["session_id"] for t in since["items"]} == {PENDING, BILLING}
    assert {t["session_id"] for t in until["items"]} == {TWO, FAILED}
    both = await get_json(http, "/tasks", since=cut, until=cut)
    assert both["items"] == []


async def test_tasks_across_sessions_are_paged_newest_first_without_gaps_or_repeats(
    http: httpx.AsyncClient,
) -> None:
    tasks = await all_tasks(http)
    pages = await every_page(http, "/tasks", limit=2)
    assert all(len(page) == 2 for page in pages[:-1]) and len(pages) == 5
    assert [t["id"] for page in pages for t in page] == [t["id"] for t in tasks]
    keys = [(t["updated_at"], t["id"]) for t in tasks]
    assert keys == sorted(keys, reverse=True)
    recent = await every_page(http, "/tasks", limit=1, status="success", service="billing")
    assert [len(page) for page in recent] == [1, 1, 1]


async def test_sessions_are_listed_most_recently_updated_first_and_filter_by_status(
    http: httpx.AsyncClient,
) -> None:
    pages = await every_page(http, "/sessions", limit=1)
    assert [s["id"] for page in pages for s in page] == FLUSH_ORDER[::-1]
    failed = await get_json(http, "/sessions", status="failed")
    assert [s["id"] for s in failed["items"]] == [FAILED]
    pending = await get_json(http, "/sessions", status="pending")
    assert [s["id"] for s in pending["items"]] == [BILLING, PENDING]
    billing = next(s for page in pages for s in page if s["id"] == BILLING)
    assert billing == billing | {"service": "billing", "message_count": 7}


async def test_messages_are_paged_in_seq_order_and_point_at_their_task(
    http: httpx.AsyncClient,
) -> None:
    pages = await every_page(http, f"/sessions/{TWO}/messages", limit=2)
    messages = [m for page in pages for m in page]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [m["seq"] for m in messages] == list(range(7))
    assert all(set(m) == MESSAGE_KEYS for m in messages)
    assert messages[1]["content"] == "What's the capital of Australia?"
    tasks = (await get_json(http, f"/sessions/{TWO}/tasks"))["items"]
    assert messages[1]["task_id"] == tasks[0]["id"]
    assert messages[1]["id"] in tasks[0]["message_ids"]


async def test_status_shows_every_message_of_every_session_processed(
    http: httpx.AsyncClient,
) -> None:
    for session_id in FLUSH_ORDER:
        status = await get_json(http, f"/sessions/{session_id}/status")
        assert status["messages"] > 0
        assert status == {
            "messages": status["messages"], "processed": status["messages"], "pending": 0,
            "in_process": False, "last_error": "",
        }  # fmt: skip


@pytest.mark.parametrize("session_id", ["nope", "sess-two-requests-001/x", "billing 1"])
async def test_every_session_route_answers_404_for_an_unknown_session(
    http: httpx.AsyncClient, session_id: str
) -> None:
    escaped = quote(session_id, safe="")
    for method, route in (
        ("GET", "tasks"),
        ("GET", "messages"),
        ("GET", "status"),
        ("POST", "flush"),
    ):
        response = await http.request(method, f"/sessions/{escaped}/{route}")
        assert (response.status_code, response.json()) == (
            404,
            {"error": f"no session {session_id!r}"},
        ), route


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        (f"/sessions/{TWO}/tasks", {"cursor": "not-a-cursor"}, "cursor"),
        (f"/sessions/{TWO}/tasks", {"cursor": encode_cursor("first")}, "cursor"),
        (f"/sessions/{TWO}/tasks", {"cursor": encode_cursor(None)}, "cursor"),
        (f"/sessions/{TWO}/messages", {"cursor": encode_cursor([1])}, "cursor"),
        (f"/sessions/{TWO}/messages", {"cursor": encode_cursor(1.5)}, "cursor"),
        ("/tasks", {"cursor": encode_cursor(3)}, "cursor"),
        ("/sessions", {"cursor": encode_cursor("yesterday", "s")}, "cursor"),
        (f"/sessions/{TWO}/tasks", {"limit": "0"}, "limit"),
        ("/tasks", {"limit": "1001"}, "limit"),
        (f"/sessions/{TWO}/messages", {"limit": "many"}, "limit"),
        (f"/sessions/{TWO}/tasks", {"status": "done"}, "status"),
        ("/sessions", {"status": "finished"}, "status"),
        ("/tasks", {"since": "yesterday"}, "since"),
    ],
)
async def test_bad_parameters_answer_400_naming_the_parameter(
    http: httpx.AsyncClient, path: str, params: dict[str, str], error: str
) -> None:
    body = await get_json(http, path, expect=400, **params)
    assert error in body["error"]


# --- gRPC ---------------------------------------------------------------------------


async def test_grpc_answers_the_same_data_as_http(
    http: httpx.AsyncClient, stub: TaskServiceStub
) -> None:
    tasks = await stub.GetSessionTasks(pb.GetSessionTasksRequest(session_id=BILLING, limit=2))
    http_tasks = await get_json(http, f"/sessions/{BILLING}/tasks", limit=2)
    assert proto_codec.page_from_pb(tasks, proto_codec.task_from_pb) == wire.page_from_json(
        http_tasks, wire.task_from_json
    )
    rest = await stub.GetSessionTasks(
        pb.GetSessionTasksRequest(session_id=BILLING, limit=2, cursor=tasks.next_cursor)
    )
    assert [t.order for t in rest.items] == [3, 4] and rest.next_cursor == ""
    sessions = await stub.ListSessions(pb.ListSessionsRequest(status=pb.TASK_STATUS_PENDING))
    assert proto_codec.page_from_pb(sessions, proto_codec.session_from_pb) == wire.page_from_json(
        await get_json(http, "/sessions", status="pending"), wire.session_from_json
    )
    messages = await stub.ListSessionMessages(pb.ListSessionMessagesRequest(session_id=PENDING))
    grpc_messages = proto_codec.page_from_pb(messages, proto_codec.message_from_pb).items
    http_messages = wire.page_from_json(
        await get_json(http, f"/sessions/{PENDING}/messages"), wire.message_from_json
    ).items
    # JSON times are RFC 3339 with microseconds; gRPC carries the nanoseconds
    assert [replace(m, time_ns=m.time_ns // 1000 * 1000) for m in grpc_messages] == list(
        http_messages
    )
    assert len(grpc_messages) == 6
    failed = await stub.ListTasks(pb.ListTasksRequest(status=pb.TASK_STATUS_FAILED))
    assert proto_codec.page_from_pb(failed, proto_codec.task_from_pb) == wire.page_from_json(
        await get_json(http, "/tasks", status="failed"), wire.task_from_json
    )
    status = await stub.GetSessionStatus(pb.GetSessionStatusRequest(session_id=TWO))
    assert proto_codec.session_status_from_pb(status) == wire.session_status_from_json(
        await get_json(http, f"/sessions/{TWO}/status")
    )


async def test_grpc_tasks_carry_status_reason_revision_extractor_and_extracted_at(
    http: httpx.AsyncClient, stub: TaskServiceStub
) -> None:
    answer = await stub.GetSessionTasks(pb.GetSessionTasksRequest(session_id=BILLING))
    over_http = (await get_json(http, f"/sessions/{BILLING}/tasks"))["items"]

    assert len(answer.items) == len(over_http) == 4
    for task, json_task in zip(answer.items, over_http, strict=True):
        assert task.HasField("extracted_at")
        assert task.extracted_at.ToDatetime() >= task.created_at.ToDatetime()
        assert (task.status_reason, task.revision, task.extractor) == (
            json_task["status_reason"],
            json_task["revision"],
            json_task["extractor"],
        )
        assert task.extractor == "heuristic"
    assert [t.status_reason for t in answer.items][:3] == ["completed"] * 3
    assert max(task.revision for task in answer.items) > 1  # not the placeholder


async def test_grpc_flush_of_an_extracted_session_processes_nothing_and_returns_its_tasks(
    stub: TaskServiceStub,
) -> None:
    result = await stub.Flush(pb.FlushRequest(session_id=PENDING), timeout=10)
    assert result.processed == 0
    assert [proto_codec.task_from_pb(t).status for t in result.tasks] == [
        TaskStatus.SUCCESS,
        TaskStatus.PENDING,
    ]


@pytest.mark.parametrize(
    ("call", "request_", "code"),
    [
        ("GetSessionTasks", pb.GetSessionTasksRequest(session_id="nope"), "NOT_FOUND"),
        ("GetSessionStatus", pb.GetSessionStatusRequest(session_id="nope"), "NOT_FOUND"),
        ("Flush", pb.FlushRequest(session_id="nope"), "NOT_FOUND"),
        (
            "GetSessionTasks",
            pb.GetSessionTasksRequest(session_id=TWO, cursor="x"),
            "INVALID_ARGUMENT",
        ),
        ("ListTasks", pb.ListTasksRequest(cursor=encode_cursor(1)), "INVALID_ARGUMENT"),
        ("ListSessions", pb.ListSessionsRequest(limit=5000), "INVALID_ARGUMENT"),
    ],
)
async def test_grpc_maps_store_errors_to_status_codes(
    stub: TaskServiceStub, call: str, request_: Any, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, call)(request_)
    assert caught.value.code() == getattr(grpc.StatusCode, code)


# --- the Python client and the CLI --------------------------------------------------


async def test_the_client_reads_the_same_tasks_page_by_page(server: Server) -> None:
    def use() -> tuple[list[Task], list[Task], list[Task], int]:
        with Client(server.base_url) as client:
            whole = list(client.sessions.get_tasks(BILLING, limit=1000).items)
            paged = list(client.sessions.iter_tasks(BILLING, page_size=1))
            failed = list(client.tasks.iter(status="failed", page_size=1))
            try:
                client.sessions.status("nope")
            except NotFound as exc:
                return whole, paged, failed, exc.status_code or 0
        raise AssertionError("no NotFound for an unknown session")

    whole, paged, failed, not_found = await asyncio.to_thread(use)
    assert paged == whole
    assert [t.status for t in whole] == [TaskStatus(s) for s in EXPECTED_STATUSES[BILLING]]
    assert [(t.session_id, t.status) for t in failed] == [(FAILED, TaskStatus.FAILED)]
    assert not_found == 404


async def test_cli_tasks_json_prints_every_task_as_the_api_does(
    server: Server, http: httpx.AsyncClient
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(TASKTRACE), "tasks", PENDING, "--json", "--endpoint", server.base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    printed = json.loads(out)
    assert printed == (await get_json(http, f"/sessions/{PENDING}/tasks"))["items"]
    assert all(set(task) == TASK_KEYS for task in printed)
    assert [t["status"] for t in printed] == ["success", "pending"]
