"""Searching tasks across sessions on the real service: ``status_reason``, text
in the description and a session id prefix over HTTP JSON, gRPC, the client and
the CLI; unknown query parameters refused on every route; the stored revision
and extractor shown by the client.

Three sessions are sent as GenAI chat spans and extracted. Their tasks'
``status_reason`` is then set in the store by hand (extraction computing it is
another change): ``awaiting_user`` for ``shop-us-2``'s, ``completed`` for the others.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio

from tasktrace.api import proto_codec
from tasktrace.client import Client
from tasktrace.model import StatusReason, Task
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tests.support.genai_chat import Turn, chat_request, numbered_turns
from tests.support.query_cli import run_cli
from tests.support.service import running_service
from tests.support.session_api import flush, post_traces

pytestmark = pytest.mark.asyncio(loop_scope="module")

SESSIONS = {
    "shop-eu-1": ("shop", numbered_turns(2, topic="EUR")),
    "shop-us-2": ("shop", [Turn("Find me a 50% off coupon for the blue_kettle.", "Here is one.")]),
    "desk-3": ("desk", numbered_turns(1, topic="GBP")),
}


@dataclass(frozen=True)
class Server:
    base_url: str
    grpc: str
    tasks: list[Task]  # every task as stored, newest first


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(pg_dsn: str) -> AsyncIterator[Server]:
    async with running_service(pg_dsn) as service:
        base_url = f"http://{service.endpoints.http}"
        async with httpx.AsyncClient(base_url=base_url) as http:
            for session_id, (app, turns) in SESSIONS.items():
                await post_traces(http, chat_request(session_id, turns, service=app))
            for session_id in SESSIONS:
                await flush(http, session_id)
        schema = service.config.exporters.postgres.schema_name
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            await conn.execute(
                f"UPDATE {schema}.tasks SET status_reason = CASE session_id"
                " WHEN 'shop-us-2' THEN 'awaiting_user' ELSE 'completed' END"
            )
        yield Server(
            base_url, service.endpoints.grpc, await asyncio.to_thread(every_task, base_url)
        )


def every_task(base_url: str) -> list[Task]:
    with Client(base_url) as client:
        return list(client.tasks.iter())


@pytest_asyncio.fixture(loop_scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url + "/api/v1") as client:
        yield client


async def found(http: httpx.AsyncClient, **params: str) -> list[tuple[str, int]]:
    response = await http.get("/tasks", params=params)
    assert response.status_code == 200, response.text
    return [(t["session_id"], t["order"]) for t in response.json()["items"]]


def expected(server: Server, keep: Any) -> list[tuple[str, int]]:
    return [(t.session_id, t.order) for t in server.tasks if keep(t)]


async def test_the_sessions_made_the_tasks_the_search_tests_need(server: Server) -> None:
    assert sorted((t.session_id, t.order) for t in server.tasks) == [
        ("desk-3", 1), ("shop-eu-1", 1), ("shop-eu-1", 2), ("shop-us-2", 1)
    ]  # fmt: skip


async def test_tasks_are_found_by_status_reason(server: Server, http: httpx.AsyncClient) -> None:
    completed = await found(http, status_reason="completed")
    assert completed == expected(server, lambda t: t.status_reason == "completed")
    assert len(completed) == 3
    assert await found(http, status_reason="awaiting_user") == [("shop-us-2", 1)]
    assert await found(http, status_reason="refused") == []


async def test_tasks_are_found_by_text_anywhere_in_the_description_ignoring_case(
    server: Server, http: httpx.AsyncClient
) -> None:
    assert await found(http, text="usd to eur") == expected(
        server, lambda t: "EUR" in t.description
    )
    assert len(await found(http, text="usd to eur")) == 2
    assert await found(http, text="GBP") == [("desk-3", 1)]
    # LIKE's wildcards are matched literally
    assert await found(http, text="50% off") == [("shop-us-2", 1)]
    assert await found(http, text="blue_kettle") == [("shop-us-2", 1)]
    assert await found(http, text="%") == [("shop-us-2", 1)]
    assert await found(http, text="blue-kettle") == []


async def test_tasks_are_found_by_the_start_of_their_session_id(
    server: Server, http: httpx.AsyncClient
) -> None:
    shop = await found(http, session_prefix="shop-")
    assert shop == expected(server, lambda t: t.session_id.startswith("shop-"))
    assert len(shop) == 3
    assert await found(http, session_prefix="shop-us") == [("shop-us-2", 1)]
    assert await found(http, session_prefix="hop") == []
    assert await found(http, session_prefix="shop_") == []  # "_" is no wildcard


async def test_search_filters_combine_and_page(server: Server, http: httpx.AsyncClient) -> None:
    both = await found(http, session_prefix="shop", status_reason="completed", text="usd")
    assert both == expected(server, lambda t: t.session_id == "shop-eu-1")
    assert len(both) == 2
    first = (await http.get("/tasks", params={"session_prefix": "shop", "limit": "1"})).json()
    second = await http.get(
        "/tasks", params={"session_prefix": "shop", "limit": "1", "cursor": first["next_cursor"]}
    )
    pages = [first["items"][0]["id"], second.json()["items"][0]["id"]]
    assert pages == [t.id for t in server.tasks if t.session_id.startswith("shop")][:2]


async def test_grpc_searches_like_http(server: Server, http: httpx.AsyncClient) -> None:
    async with grpc.aio.insecure_channel(server.grpc) as channel:
        stub = TaskServiceStub(channel)
        answer = await stub.ListTasks(
            pb.ListTasksRequest(session_prefix="shop", status_reason="completed", text="USD")
        )
        eu = expected(server, lambda t: t.session_id == "shop-eu-1")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListTasks(pb.ListTasksRequest(status_reason="done"))
    assert [(t.session_id, t.order) for t in answer.items] == eu and len(eu) == 2
    assert proto_codec.task_from_pb(answer.items[0]) == next(
        t for t in server.tasks if (t.session_id, t.order) == eu[0]
    )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "status_reason must be one of" in (info.value.details() or "")


async def test_the_client_searches_and_shows_the_stored_revision_and_extractor(
    server: Server, pg_dsn: str
) -> None:
    def search() -> list[Task]:
        with Client(server.base_url) as client:
            return list(
                client.tasks.iter(status_reason=StatusReason.COMPLETED, text="eur", page_size=1)
            )

    tasks = await asyncio.to_thread(search)
    assert [(t.session_id, t.order) for t in tasks] == expected(
        server, lambda t: t.session_id == "shop-eu-1"
    )
    assert all(t.status_reason == "completed" for t in tasks)
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cur = await conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'tasks'"
        )
        schemas = [r[0] for r in await cur.fetchall()]
        stored: dict[str, tuple[int, str]] = {}
        for schema in schemas:
            cur = await conn.execute(f"SELECT id, revision, extractor FROM {schema}.tasks")
            stored |= {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
    assert all((t.revision, t.extractor) == stored[t.id] for t in server.tasks)
    assert {t.extractor for t in server.tasks} == {"heuristic"}
    assert max(t.revision for t in server.tasks) > 1  # not the placeholder


ROUTES = [
    ("GET", "/sessions", "limit, cursor, status"),
    ("GET", "/sessions/desk-3/messages", "limit, cursor"),
    ("GET", "/sessions/desk-3/tasks", "limit, cursor, status"),
    ("GET", "/sessions/desk-3/status", "none"),
    ("POST", "/sessions/desk-3/flush", "timeout"),
    (
        "GET",
        "/tasks",
        "status, status_reason, service, text, session_prefix, since, until, limit, cursor",
    ),
    ("GET", f"/traces/{'ab' * 16}/tasks", "limit, cursor"),
    ("GET", f"/spans/{'ab' * 8}/tasks", "limit, cursor"),
]


@pytest.mark.parametrize(("method", "path", "known"), ROUTES)
async def test_an_unknown_query_parameter_answers_400_listing_the_known_ones(
    http: httpx.AsyncClient, method: str, path: str, known: str
) -> None:
    response = await http.request(method, path, params={"trace_id": "x"})
    assert response.status_code == 400
    assert response.json() == {"error": f"unknown query parameter trace_id; known: {known}"}


async def test_every_api_route_is_covered_by_the_unknown_parameter_test(
    http: httpx.AsyncClient,
) -> None:
    # /telemetry, when served, knows no parameter
    response = await http.get("/telemetry", params={"x": "1"})
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert response.json() == {"error": "unknown query parameter x; known: none"}


async def test_cli_lists_tasks_across_sessions_with_filters_in_the_same_table(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    end = ["--endpoint", server.base_url]
    argv = ["tasks", "--status", "success", "--reason", "awaiting_user", *end]
    assert await asyncio.to_thread(run_cli, *argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SESSION", "#", "STATUS", "REASON", "STEPS", "DESCRIPTION"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["shop-us-2", "1", "success", "awaiting_user"]
    ]
    assert await asyncio.to_thread(run_cli, "tasks", "--status", "failed", *end) == 0
    assert capsys.readouterr().out.strip() == "no tasks"
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    argv = ["tasks", "--service", "shop", "--since", since, "--json", *end]
    assert await asyncio.to_thread(run_cli, *argv) == 0
    shop = json.loads(capsys.readouterr().out)
    assert [(t["session_id"], t["order"]) for t in shop] == expected(
        server, lambda t: t.session_id.startswith("shop")
    )
    argv = ["tasks", "--since", "1m", "--reason", "completed", "--text", "gbp", "--json", *end]
    assert await asyncio.to_thread(run_cli, *argv) == 0
    assert [t["session_id"] for t in json.loads(capsys.readouterr().out)] == ["desk-3"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await asyncio.to_thread(run_cli, "tasks", "--since", future, *end) == 0
    assert capsys.readouterr().out.strip() == "no tasks"
    argv = ["tasks", "--session-prefix", "shop-eu", "--limit", "1", "--json", *end]
    assert await asyncio.to_thread(run_cli, *argv) == 0
    newest = expected(server, lambda t: t.session_id == "shop-eu-1")[:1]
    assert [(t["session_id"], t["order"]) for t in json.loads(capsys.readouterr().out)] == newest


async def test_cli_refuses_a_session_with_cross_session_filters(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tasks", "desk-3", "--service", "shop", "--endpoint", server.base_url]
    assert await asyncio.to_thread(run_cli, *argv) == 2
    assert "--service filter tasks across sessions" in capsys.readouterr().err
