"""Three ``tasktrace serve`` processes on one external PostgreSQL (Debian's), every
export request sent round-robin to the next, as a load balancer that knows nothing
about sessions does: the sessions, messages and tasks come out as one instance
makes them. One instance is SIGKILLed mid-load while it holds leases: no
acknowledged span is lost, and the sessions it held are extracted by the others
once its leases have expired, each once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from psycopg import sql

from tests.support.external_pg import debian_cluster
from tests.support.otlp_traffic import export_grpc, fixture
from tests.support.ports import free_port
from tests.support.serve_process import start_serve
from tests.support.service import running_service
from tests.support.tasks_compare import flushed_tasks
from tests.unit.dialect_helpers import CONVERSATIONS

#: keyed by a session attribute, keyed another way, and one trace per call with no
#: session id (linked by history: the trace locks matter there)
VARIANTS = ("openai-v2-latest-span", "openinference-genai", "openllmetry", "logfire")
LEASE = 3.0
SHARED = [
    "service.instances=shared",
    f"service.lease={LEASE}",
    "service.poll=0.2",
    "processors.tasktrace.buffer.idle_timeout=0.5",
]
SESSIONS = "SELECT id, service, keyed, disabled, next_seq, message_count, tail, cursor_seq"
MESSAGES = (
    "SELECT session_id, seq, id, role, content, tool_calls::text, tool_call_id, tool_name,"
    " error, trace_id, span_id, time_ns, model, chain"
)


def span_requests(data: bytes) -> list[bytes]:
    """One export request per span of ``data``, in order (resource and scope kept)."""
    whole = ExportTraceServiceRequest.FromString(data)
    out = []
    for rs in whole.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                one = ExportTraceServiceRequest()
                part = one.resource_spans.add(resource=rs.resource, schema_url=rs.schema_url)
                part.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url).spans.append(span)
                out.append(one.SerializeToString())
    return out


def conversations() -> list[list[bytes]]:
    return [span_requests(fixture(c, variant=v)) for v in VARIANTS for c in CONVERSATIONS]


@pytest.fixture(name="cluster", scope="module")
def _cluster() -> Iterator[str]:
    with debian_cluster() as cluster:
        yield cluster.dsn


@contextlib.asynccontextmanager
async def hanging_llm() -> AsyncIterator[str]:
    """An OpenAI-compatible base URL that takes requests and never answers: an
    instance using it holds its leases until it dies."""
    held: list[asyncio.StreamWriter] = []

    async def take(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    port = free_port()
    server = await asyncio.start_server(take, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def rows(dsn: str, schema: str, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur = await conn.execute(query.encode(), params)
        return list(await cur.fetchall())


async def stored(dsn: str, schema: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Sessions, messages, and each task's status history (the last guard's record)."""
    history = (
        "SELECT t.session_id, t.ord, h.status, count(*) FROM task_history h"
        " JOIN tasks t ON t.id = h.task_id WHERE h.kind = 'status'"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    return (
        await rows(dsn, schema, SESSIONS + " FROM sessions ORDER BY id"),
        await rows(dsn, schema, MESSAGES + " FROM messages ORDER BY session_id, seq"),
        await rows(dsn, schema, history),
    )


async def send_round_robin(targets: list[str], requests: list[bytes], start: int) -> int:
    """Each request to the next target; one not acknowledged goes to the one after
    (as a load balancer retries). Returns the next start."""
    turn = start
    for request in requests:
        for attempt in range(len(targets)):
            target = targets[(turn + attempt) % len(targets)]
            answer = await export_grpc(target, request, timeout=10)
            if answer.code is grpc.StatusCode.OK:
                break
        else:
            pytest.fail(f"no instance took a request: {answer.code} {answer.details}")
        turn += 1
    return turn


async def wait_for_leases(dsn: str, schema: str, pid: int, deadline: float) -> list[Any]:
    """The sessions instance ``pid`` holds a live lease on, once it holds one."""
    query = "SELECT id, lease_until FROM sessions WHERE lease_owner LIKE %s AND lease_until > now()"
    while time.monotonic() < deadline:
        held = await rows(dsn, schema, query, (f"%:{pid}:%",))
        if held:
            return held
        await asyncio.sleep(0.05)
    pytest.fail(f"instance {pid} never claimed a session")


async def test_three_instances_round_robin_match_one_and_survive_a_killed_one(
    cluster: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    batches = conversations()
    one = f"t_{uuid.uuid4().hex[:12]}"
    alone = [f"exporters.postgres.schema={one}", "service.instances=single", SHARED[-1]]
    async with running_service(cluster, overrides=alone) as single:
        for requests in batches:
            await send_round_robin([single.endpoints.grpc], requests, 0)
        expected_tasks = await flushed_tasks(single.endpoints.http)
    expected = await stored(cluster, one)

    many = f"t_{uuid.uuid4().hex[:12]}"
    common = [f"exporters.postgres.dsn={cluster}", f"exporters.postgres.schema={many}", *SHARED]
    async with hanging_llm() as llm:
        victim_only = [
            "processors.tasktrace.extractor.type=llm",
            f"processors.tasktrace.extractor.llm.base_url={llm}",
        ]
        procs = await asyncio.gather(
            *(
                start_serve(
                    tmp_path / f"i{i}",
                    tmp_path / f"i{i}.log",
                    [*common, *(victim_only if i == 0 else [])],
                )
                for i in range(3)
            )
        )
        victim, targets = procs[0], [p.grpc for p in procs]
        try:
            half = len(batches) // 2
            turn = 0
            for requests in batches[:half]:
                turn = await send_round_robin(targets, requests, turn)
            # the others paused, so the victim is the one to claim what comes due next
            for proc in procs[1:]:
                proc.process.send_signal(signal.SIGSTOP)
            held = await wait_for_leases(cluster, many, victim.pid, time.monotonic() + 20)
            for proc in procs[1:]:
                proc.process.send_signal(signal.SIGCONT)
            assert await victim.kill() == -9
            for requests in batches[half:]:  # the balancer still tries the dead one first
                turn = await send_round_robin(targets, requests, turn)
            got_tasks = await flushed_tasks(procs[1].http)
        finally:
            for proc in procs:
                if proc.process.returncode is None:
                    proc.process.send_signal(signal.SIGCONT)
                    await proc.terminate()
    got = await stored(cluster, many)

    assert got[0] == expected[0]  # sessions (and cursors: everything extracted)
    assert got[1] == expected[1]  # messages: none lost, none doubled
    assert got[2] == expected[2]  # status history: no session extracted twice
    assert got_tasks == expected_tasks
    # each was taken over only once the dead instance's lease on it had expired
    taken = await rows(
        cluster,
        many,
        "SELECT s.id, s.updated_at >= v.until, s.cursor_seq = s.next_seq - 1 FROM sessions s"
        " JOIN unnest(%s::text[], %s::timestamptz[]) AS v(id, until) ON v.id = s.id",
        ([sid for sid, _ in held], [until for _, until in held]),
    )
    assert sorted(taken) == sorted((sid, True, True) for sid, _ in held)
    assert time.monotonic() - started < 90


@pytest.mark.parametrize("offset", range(3))
async def test_a_tool_error_seen_by_one_instance_flags_the_result_another_stores(
    cluster: str, offset: int
) -> None:
    """The error of a failed tool call is on the tool's span; its result text comes
    with the next model call's span, here to another instance (each offset puts
    the two on a different pair). The pairing left open travels in the database."""
    requests = span_requests(fixture("tool-error", variant=VARIANTS[0]))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    shared = [f"exporters.postgres.schema={schema}", "service.instances=shared"]
    async with contextlib.AsyncExitStack() as stack:
        services = [
            await stack.enter_async_context(running_service(cluster, overrides=shared))
            for _ in range(3)
        ]
        targets = [s.endpoints.grpc for s in services]
        await send_round_robin(targets, requests, offset)

    flags = await rows(cluster, schema, "SELECT error FROM messages WHERE role = 'tool'")
    assert flags == [(True,)]
