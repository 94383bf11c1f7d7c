"""The Python client and the CLI against the real query API on 127.0.0.1, over
the small in-memory TaskQueries of tests/support/memory_queries.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from tasktrace.client import APIConnectionError, APIError, Client, NotFound
from tasktrace.model import Message, Session, Task, TaskStatus
from tasktrace.queries import (
    FlushResult,
    Page,
    SessionStatus,
)
from tests.support.memory_queries import (
    STUCK,
    MemoryQueries,
    seeded,
    serve_api,
    start_app,
)
from tests.support.query_builders import T0
from tests.support.query_cli import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"


@pytest.fixture
def queries() -> MemoryQueries:
    return seeded()


@pytest.fixture
async def base_url(queries: MemoryQueries) -> AsyncIterator[str]:
    async for url in serve_api(queries):
        yield url


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
