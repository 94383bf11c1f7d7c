"""The query API end to end: HTTP JSON, gRPC, the Python client and the CLI,
over real servers on 127.0.0.1 and a small in-memory TaskQueries."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import grpc
import httpx
import pytest
from aiohttp import web

from tasktrace.api import proto_codec, wire
from tasktrace.api.grpc import add_task_service
from tasktrace.api.http import add_api_routes
from tasktrace.client import APIConnectionError, APIError, Client, NotFound
from tasktrace.model import Message, Role, Session, Task, TaskStatus, ToolCall
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tasktrace.queries import (
    BadRequest,
    FlushResult,
    FlushTimeout,
    Page,
    SessionStatus,
    TaskFilter,
)
from tasktrace.queries import NotFound as NoSuchSession
from tests.support.query_builders import T0, make_message, make_session, make_task
from tests.support.query_cli import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
FLUSH_TIMEOUT = 5.0
STUCK = "stuck session/1"  # a flush here never catches up; the id needs URL escaping

T = TypeVar("T")


# --- a small in-memory TaskQueries ---------------------------------------------


@dataclass
class MemoryQueries:
    sessions: list[Session]
    messages: list[Message]
    tasks_: list[Task]
    pending: dict[str, int] = field(default_factory=dict)
    flush_timeouts: list[float] = field(default_factory=list)

    async def list_sessions(
        self, *, limit: int, cursor: str | None = None, status: TaskStatus | None = None
    ) -> Page[Session]:
        having = {t.session_id for t in self.tasks_ if t.status is status}
        found = [s for s in self.sessions if status is None or s.id in having]
        return _page(sorted(found, key=lambda s: s.updated_at or T0, reverse=True), limit, cursor)

    async def session_messages(
        self, session_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Message]:
        self._session(session_id)
        found = sorted((m for m in self.messages if m.session_id == session_id), key=_seq)
        return _page(found, limit, cursor)

    async def session_tasks(
        self,
        session_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> Page[Task]:
        self._session(session_id)
        found = [t for t in self.tasks_ if t.session_id == session_id]
        found = [t for t in found if status is None or t.status is status]
        return _page(sorted(found, key=lambda t: t.order), limit, cursor)

    async def tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page[Task]:
        services = {s.id: s.service for s in self.sessions}
        found = [
            t
            for t in self.tasks_
            if (flt.status is None or t.status is flt.status)
            and (flt.service is None or services[t.session_id] == flt.service)
            and (flt.since is None or t.updated_at >= flt.since)
            and (flt.until is None or t.updated_at < flt.until)
        ]
        return _page(sorted(found, key=lambda t: t.updated_at, reverse=True), limit, cursor)

    async def session_status(self, session_id: str) -> SessionStatus:
        session = self._session(session_id)
        pending = self.pending.get(session_id, 0)
        return SessionStatus(
            messages=session.message_count,
            processed=session.message_count - pending,
            pending=pending,
            in_process=pending > 0,
        )

    async def flush(self, session_id: str, *, timeout: float) -> FlushResult:
        self._session(session_id)
        self.flush_timeouts.append(timeout)
        if session_id == STUCK:
            try:
                await asyncio.wait_for(asyncio.Event().wait(), timeout)
            except TimeoutError:
                raise FlushTimeout(f"{session_id} not extracted within {timeout}s") from None
        processed = self.pending.pop(session_id, 0)
        tasks = await self.session_tasks(session_id, limit=1000)
        return FlushResult(processed=processed, tasks=tasks.items)

    def _session(self, session_id: str) -> Session:
        for session in self.sessions:
            if session.id == session_id:
                return session
        raise NoSuchSession(f"no session {session_id!r}")


def _seq(message: Message) -> int:
    return message.seq


def _page(items: Sequence[T], limit: int, cursor: str | None) -> Page[T]:
    if cursor is not None and not cursor.isdigit():
        raise BadRequest(f"bad cursor {cursor!r}")
    start = int(cursor or 0)
    end = start + limit
    return Page(tuple(items[start:end]), str(end) if end < len(items) else None)


S1_STATUSES = ["success", "success", "failed", "running", "pending", "success", "expired"]


def seeded() -> MemoryQueries:
    """s1 (shop): 7 tasks, 4 messages; s2 (mail): 1 failed task; STUCK (shop): nothing."""
    s1_tasks = [
        make_task(i + 1, status=TaskStatus(status), progress=("step",) * i)
        for i, status in enumerate(S1_STATUSES)
    ]
    s2_task = make_task(
        1, session_id="s2", status=TaskStatus.FAILED, updated_at=T0 + timedelta(hours=2)
    )
    call = ToolCall("call_1", "search_flights", '{"to": "LIS"}')
    messages = [
        make_message(0, content="book a flight to Lisbon", task_id="s1-t1"),
        make_message(1, role=Role.ASSISTANT, content="", tool_calls=(call,)),
        make_message(2, role=Role.TOOL, content="TP123", tool_call_id="call_1"),
        make_message(3, role=Role.ASSISTANT, content="booked TP123"),
        make_message(0, session_id="s2", content="mail Ana"),
    ]
    return MemoryQueries(
        sessions=[
            make_session("s1", message_count=4, updated_at=T0 + timedelta(hours=1)),
            make_session("s2", service="mail", message_count=1, updated_at=T0 + timedelta(hours=2)),
            make_session(STUCK, message_count=0),
        ],
        messages=messages,
        tasks_=[*s1_tasks, s2_task],
        pending={"s1": 2},
    )


# --- servers -------------------------------------------------------------------


@pytest.fixture
def queries() -> MemoryQueries:
    return seeded()


async def start_app(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def base_url(queries: MemoryQueries) -> AsyncIterator[str]:
    app = web.Application()
    add_api_routes(app, queries, flush_timeout=FLUSH_TIMEOUT)
    async for url in start_app(app):
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


# --- the Python client (sync, so it runs in a worker thread) ----------------------


async def test_client_returns_model_tasks_and_sessions(
    base_url: str, queries: MemoryQueries
) -> None:
    def use() -> tuple[Page[Task], Page[Session], list[Task]]:
        with Client(base_url) as client:
            return (
                client.sessions.get_tasks("s1", limit=3),
                client.sessions.list(status=TaskStatus.FAILED),
                list(client.sessions.iter_tasks("s1", page_size=3)),
            )

    page, sessions, every = await asyncio.to_thread(use)
    assert page.items == tuple(queries.tasks_[:3])
    assert page.next_cursor is not None
    assert [s.id for s in sessions.items] == ["s2", "s1"]
    assert every == queries.tasks_[:7]


async def test_client_reads_messages_status_and_flushes(
    base_url: str, queries: MemoryQueries
) -> None:
    def use() -> tuple[Page[Message], SessionStatus, FlushResult, SessionStatus]:
        with Client(base_url) as client:
            messages = client.sessions.messages("s1")
            before = client.sessions.status("s1")
            return messages, before, client.sessions.flush("s1"), client.sessions.status("s1")

    messages, before, flushed, after = await asyncio.to_thread(use)
    assert messages.items == tuple(queries.messages[:4])
    assert (before.pending, flushed.processed, after.pending) == (2, 2, 0)
    assert len(flushed.tasks) == 7


async def test_client_lists_and_iterates_tasks_across_sessions(base_url: str) -> None:
    def use() -> tuple[Page[Task], list[Task]]:
        with Client(base_url) as client:
            since = T0 + timedelta(minutes=6)
            return client.tasks.list(status="failed"), list(
                client.tasks.iter(since=since, page_size=1)
            )

    failed, recent = await asyncio.to_thread(use)
    assert [t.id for t in failed.items] == ["s2-t1", "s1-t3"]
    assert [t.id for t in recent] == ["s2-t1", "s1-t7", "s1-t6"]


async def test_client_escapes_session_ids(base_url: str) -> None:
    def use() -> SessionStatus:
        with Client(base_url) as client:
            return client.sessions.status(STUCK)

    assert (await asyncio.to_thread(use)).messages == 0


async def test_client_raises_not_found_and_api_errors_with_status_codes(base_url: str) -> None:
    def use() -> list[APIError]:
        errors = []
        with Client(base_url) as client:
            for call in (
                lambda: client.sessions.get_tasks("nope"),
                lambda: client.sessions.list(limit=0),
                lambda: client.sessions.flush(STUCK, timeout=0.05),
            ):
                try:
                    call()
                except APIError as exc:
                    errors.append(exc)
        return errors

    not_found, bad, timeout = await asyncio.to_thread(use)
    assert isinstance(not_found, NotFound) and not_found.status_code == 404
    assert bad.status_code == 400 and "limit" in bad.message
    assert timeout.status_code == 504


def test_client_raises_a_connection_error_when_nothing_answers() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = sock.getsockname()[1]
        with Client(f"http://127.0.0.1:{port}") as client, pytest.raises(APIConnectionError):
            client.sessions.list()


# --- the CLI ----------------------------------------------------------------------


async def test_cli_tasks_json_prints_a_json_array_of_every_task(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(run_cli, "tasks", "s1", "--json", "--endpoint", base_url)
    assert code == 0
    tasks = json.loads(capsys.readouterr().out)
    assert isinstance(tasks, list)
    assert [t["order"] for t in tasks] == [1, 2, 3, 4, 5, 6, 7]


async def test_cli_tasks_prints_a_table(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(run_cli, "tasks", "s1", "--endpoint", base_url)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["#", "STATUS", "REASON", "STEPS", "DESCRIPTION"]
    assert lines[3].split() == ["3", "failed", "-", "2", "task", "3", "of", "s1"]
    assert len(lines) == 8


async def test_cli_sessions_filters_by_status(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(
        run_cli, "sessions", "--status", "pending", "--json", "--endpoint", base_url
    )
    assert code == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == ["s1"]
    await asyncio.to_thread(run_cli, "sessions", "--limit", "2", "--endpoint", base_url)
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table] == ["SESSION", "s2", "s1"]


async def test_cli_flush_reports_processed_messages(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(run_cli, "flush", "s1", "--endpoint", base_url)
    assert code == 0
    assert capsys.readouterr().out.startswith("processed 2 messages; 7 tasks")


async def test_cli_fails_with_the_error_for_an_unknown_session(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(run_cli, "tasks", "nope", "--endpoint", base_url)
    assert code == 1
    assert "404" in capsys.readouterr().err


@dataclass
class Received:
    path: str
    content_type: str
    body: bytes


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Received]]]:
    """A stand-in OTLP/HTTP receiver recording what arrives; it rejects ``/v1/metrics``."""
    received: list[Received] = []

    async def record(request: web.Request) -> web.Response:
        received.append(Received(request.path, request.content_type, await request.read()))
        return web.json_response({"partialSuccess": {}})

    app = web.Application()
    app.router.add_post("/v1/traces", record)
    app.router.add_post("/v1/logs", record)
    async for url in start_app(app):
        yield url, received


async def test_cli_send_posts_a_protobuf_request_to_v1_traces(
    receiver: tuple[str, list[Received]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, received = receiver
    path = FIXTURES / "openinference" / "three-tools.pb"
    code = await asyncio.to_thread(run_cli, "send", str(path), "--endpoint", url)
    assert code == 0
    assert received == [Received("/v1/traces", "application/x-protobuf", path.read_bytes())]
    assert capsys.readouterr().out.startswith("200 OK")


async def test_cli_send_posts_a_json_logs_request_to_v1_logs(
    receiver: tuple[str, list[Received]],
) -> None:
    url, received = receiver
    path = FIXTURES / "openai-v2-latest-event" / "three-tools.logs.json"
    code = await asyncio.to_thread(run_cli, "send", str(path), "--endpoint", url)
    assert code == 0
    assert [(r.path, r.content_type) for r in received] == [("/v1/logs", "application/json")]


async def test_cli_send_exits_non_zero_when_the_receiver_refuses(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / "openinference" / "three-tools.json"
    code = await asyncio.to_thread(run_cli, "send", str(path), "--endpoint", base_url)
    assert code == 1  # the query-only app has no /v1/traces
    assert capsys.readouterr().out.startswith("404")


def test_cli_send_refuses_a_file_that_is_neither_pb_nor_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.txt"
    path.write_text("hello")
    assert run_cli("send", str(path)) == 2
    assert "expected a .pb or .json file" in capsys.readouterr().err
