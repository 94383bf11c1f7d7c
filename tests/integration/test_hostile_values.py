"""Hostile values through the real server and its query API (issue 16.6): session
ids, service names and message text made of SQL, format strings, quotes, very long
strings, unicode and NUL. What is stored comes back byte-identical; what Postgres
cannot hold (NUL in an id or a name) is a clean 400, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio
from google.protobuf import json_format
from psycopg import sql

from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tasktrace.server.pipeline import Service
from tests.support.genai_chat import Turn, chat_request
from tests.support.otlp_traffic import export_grpc
from tests.support.service import running_service
from tests.support.session_api import PROTOBUF

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOSTILE = [
    "'; DROP TABLE tasks; --",
    'x" OR "1"="1',
    "%s %(x)s {0} {} $1 :name ?",
    "back\\slash\\'quote",
    "ünïcødé 🚀 会话 \u202e rtl \U0001f9ea",
    "a/b?c#d%20e&f=g",
    "tab\tnew\nline\rcr",
    "x" * 4_000,  # in a URL path: aiohttp reads request lines of up to 8190 bytes
]
TEXTS = [*HOSTILE[:-1], "y" * 10_000]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(pg_dsn: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with (
        running_service(pg_dsn) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}", timeout=60) as http,
    ):
        yield service, http


async def post(http: httpx.AsyncClient, session_id: str, service: str, text: str) -> int:
    request = chat_request(session_id, [Turn(text, f"answer to {text}")], service=service)
    body = request.SerializeToString()
    answer = await http.post("/v1/traces", content=body, headers={"Content-Type": PROTOBUF})
    return answer.status_code


def session_path(session_id: str, tail: str) -> str:
    return f"/api/v1/sessions/{quote(session_id, safe='')}/{tail}"


async def get_json(http: httpx.AsyncClient, path: str, **params: object) -> object:
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    return answer.json()


@pytest.mark.parametrize("index", range(len(HOSTILE)))
async def test_a_hostile_session_id_service_and_text_come_back_byte_identical(
    served: tuple[Service, httpx.AsyncClient], index: int
) -> None:
    service, http = served
    value = HOSTILE[index]
    session_id, service_name, text = f"sid-{index}-{value}", f"svc-{index}-{value}", TEXTS[index]
    assert await post(http, session_id, service_name, text) == 200
    assert service.scheduler is not None
    await service.scheduler.flush(session_id, timeout=30)

    messages = await get_json(http, session_path(session_id, "messages"), limit=10)
    assert isinstance(messages, dict)
    assert [m["content"] for m in messages["items"]] == [text, f"answer to {text}"]
    assert {m["session_id"] for m in messages["items"]} == {session_id}
    tasks = await get_json(http, session_path(session_id, "tasks"), limit=10)
    assert isinstance(tasks, dict) and tasks["items"]
    description = tasks["items"][0]["description"]
    by_service = await get_json(http, "/api/v1/tasks", service=service_name, limit=10)
    assert isinstance(by_service, dict)
    assert {t["session_id"] for t in by_service["items"]} == {session_id}
    by_prefix = await get_json(http, "/api/v1/tasks", session_prefix=session_id[:200], limit=10)
    assert isinstance(by_prefix, dict)
    assert {t["session_id"] for t in by_prefix["items"]} == {session_id}
    found = await get_json(http, "/api/v1/tasks", text=description[:200], limit=100)
    assert isinstance(found, dict)
    assert session_id in {t["session_id"] for t in found["items"]}


async def test_a_ten_thousand_character_session_id_is_listed_byte_identical_and_tables_survive(
    served: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = served
    long_id = "'; DROP TABLE sessions; --" + "s" * 10_000
    assert await post(http, long_id, "svc-long-id", "hello") == 200
    listed = await get_json(http, "/api/v1/sessions", limit=1000)
    assert isinstance(listed, dict)
    ids = {s["id"] for s in listed["items"]}
    assert long_id in ids
    assert {f"sid-{i}-{v}" for i, v in enumerate(HOSTILE)} <= ids


async def test_a_million_character_message_comes_back_byte_identical(
    served: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = served
    text = "é" * 500_000 + "'; DROP TABLE messages; --" + "z" * 500_000
    assert await post(http, "sid-long", "svc-long", text) == 200
    messages = await get_json(http, session_path("sid-long", "messages"), limit=10)
    assert isinstance(messages, dict)
    assert messages["items"][0]["content"] == text


async def test_nul_in_message_text_is_kept_as_the_replacement_character(
    served: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = served
    assert await post(http, "sid-nul-text", "svc", "before\x00after") == 200
    messages = await get_json(http, session_path("sid-nul-text", "messages"), limit=10)
    assert isinstance(messages, dict)
    assert messages["items"][0]["content"] == "before\ufffdafter"


@pytest.mark.parametrize(
    ("session_id", "service_name"), [("sid\x00nul", "svc"), ("sid-nul-service", "svc\x00nul")]
)
async def test_nul_in_a_session_id_or_service_name_is_refused_with_400(
    served: tuple[Service, httpx.AsyncClient], session_id: str, service_name: str
) -> None:
    _, http = served
    assert await post(http, session_id, service_name, "hello") == 400
    assert (await http.get(session_path(session_id, "messages"))).status_code in (400, 404)


@pytest.mark.parametrize(
    "path",
    [
        session_path("a\x00b", "messages"),
        session_path("a\x00b", "tasks"),
        session_path("a\x00b", "status"),
        "/api/v1/tasks?service=a%00b",
        "/api/v1/tasks?text=a%00b",
        "/api/v1/tasks?session_prefix=a%00b",
        "/api/v1/traces/a%00b/tasks",
        "/api/v1/spans/a%00b/tasks",
    ],
)
async def test_nul_in_a_query_is_a_400_not_a_500(
    served: tuple[Service, httpx.AsyncClient], path: str
) -> None:
    _, http = served
    answer = await http.get(path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert "NUL" in error or "hex digits" in error  # the store's refusal, or the id's syntax


async def test_hostile_and_nul_session_ids_over_grpc_are_answered_not_internal_errors(
    served: tuple[Service, httpx.AsyncClient],
) -> None:
    service, http = served
    session_id = "grpc-'; DROP TABLE tasks; -- {0} %s ünï 🚀"
    assert await post(http, session_id, "svc-grpc", session_id) == 200
    async with grpc.aio.insecure_channel(service.endpoints.grpc) as channel:
        stub = TaskServiceStub(channel)
        answer = await stub.ListSessionMessages(
            pb.ListSessionMessagesRequest(session_id=session_id)
        )
        assert [m.content for m in answer.items] == [session_id, f"answer to {session_id}"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListSessionMessages(pb.ListSessionMessagesRequest(session_id="a\x00b"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "NUL" in (caught.value.details() or "")


async def test_nul_in_a_session_id_over_otlp_grpc_is_invalid_argument_and_the_server_goes_on(
    served: tuple[Service, httpx.AsyncClient],
) -> None:
    service, http = served
    bad = chat_request("grpc-sid\x00nul", [Turn("hello", "hi")], service="svc")
    answer = await export_grpc(service.endpoints.grpc, bad.SerializeToString())
    assert answer.code is grpc.StatusCode.INVALID_ARGUMENT, answer
    good = chat_request("grpc-sid-after-nul", [Turn("hello", "hi")], service="svc")
    assert (await export_grpc(service.endpoints.grpc, good.SerializeToString())).code is (
        grpc.StatusCode.OK
    )
    messages = await get_json(http, session_path("grpc-sid-after-nul", "messages"), limit=10)
    assert isinstance(messages, dict) and len(messages["items"]) == 2


@pytest.mark.parametrize("schema", ["select", "user"])
async def test_a_schema_named_by_a_reserved_word_is_quoted_everywhere(
    pg_dsn: str, schema: str
) -> None:
    """Identifiers go through ``sql.Identifier``: a valid name that is an SQL keyword works."""
    async with (
        running_service(pg_dsn, overrides=[f"exporters.postgres.schema={schema}"]) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        assert await post(http, "sid-reserved", "svc", "convert 10 USD to EUR") == 200
        assert service.scheduler is not None
        await service.scheduler.flush("sid-reserved", timeout=30)
        tasks = await get_json(http, session_path("sid-reserved", "tasks"), limit=10)
        assert isinstance(tasks, dict) and tasks["items"]
        assert (await http.get("/readyz")).status_code == 200
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def otlp_json(node: object) -> object:
    """protobuf's JSON mapping made OTLP/JSON: trace and span ids in hex, not base64."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in _IDS else otlp_json(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [otlp_json(v) for v in node]
    return node


_IDS = {"traceId", "spanId", "parentSpanId"}


@pytest.mark.parametrize(
    ("session_id", "status"),
    [("json-'; DROP TABLE tasks; -- \\\" \u2028 🚀", 200), ("json-nul\x00", 400)],
)
async def test_hostile_session_ids_over_otlp_json_come_back_identical_or_get_400(
    served: tuple[Service, httpx.AsyncClient], session_id: str, status: int
) -> None:
    _, http = served
    request = chat_request(session_id, [Turn(session_id, "ok")], service="svc-json")
    body = json.dumps(otlp_json(json_format.MessageToDict(request)))
    answer = await http.post(
        "/v1/traces", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    if status == 200:
        messages = await get_json(http, session_path(session_id, "messages"), limit=10)
        assert isinstance(messages, dict)
        assert [m["content"] for m in messages["items"]] == [session_id, "ok"]
