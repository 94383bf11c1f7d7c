"""End to end with a real Jaeger v2: captured agent traces in, task spans out over
OTLP, found through Jaeger's own query API by ``tasktrace.task.status`` (the README's
query) and followed to the agent's trace, which Jaeger holds through pass-through."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import pytest

from tests.support.jaeger import Jaeger, JaegerTrace, poll, tags_of
from tests.support.otlp_traffic import export_grpc, fixture, session_of
from tests.support.service import running_service
from tests.unit.dialect_helpers import FIXTURES, load_spans

pytestmark = pytest.mark.jaeger

CONVERSATION = "tool-error"
VARIANT = "openai-v2-latest-span"
FAILED = {"tasktrace.task.status": "failed"}


def to_jaeger(jaeger: Jaeger, mode: str) -> list[str]:
    """Task spans (``output.mode``) and, through pass-through, the agent's own spans
    to Jaeger's OTLP gRPC receiver."""
    return [
        f"exporters.otlp.endpoint={jaeger.otlp_grpc}",
        "exporters.otlp.retry_on_failure.max_elapsed_time=20s",
        f"exporters.otlp.output.mode={mode}",
        "service.pipelines.traces/passthrough.receivers=[otlp]",
        "service.pipelines.traces/passthrough.processors=[]",
        "service.pipelines.traces/passthrough.exporters=[otlp]",
    ]


async def send_and_flush(pg_dsn: str, overrides: list[str]) -> dict[str, Any]:
    """Send the failing conversation over gRPC, flush its session: the failed task."""
    async with running_service(pg_dsn, overrides=overrides) as service:
        answer = await export_grpc(service.endpoints.grpc, fixture(CONVERSATION, variant=VARIANT))
        assert answer.code is grpc.StatusCode.OK
        async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
            flushed = await http.post(f"/api/v1/sessions/{session_of(CONVERSATION)}/flush")
    (task,) = [t for t in flushed.json()["tasks"] if t["status"] == "failed"]
    return dict(task)


def find_task(
    jaeger: Jaeger, task_id: str, *, in_agent_trace: bool, agent_traces: set[str]
) -> tuple[JaegerTrace, dict[str, Any]]:
    """The trace and span of ``task_id`` that a tag search for failed tasks returns:
    the one inside an agent trace (``child`` mode) or in its own trace (``link``).
    Task ids are stable, and the session's Jaeger holds both tests' spans."""

    def search() -> tuple[JaegerTrace, dict[str, Any]] | None:
        for trace in jaeger.search("tasktrace", FAILED):
            if (trace["traceID"] in agent_traces) is not in_agent_trace:
                continue
            for span in trace["spans"]:
                if tags_of(span).get("tasktrace.task.id") == task_id:
                    return trace, span
        return None

    found = poll(search)
    assert found, f"a search for {FAILED} in Jaeger did not return task {task_id}"
    return found


def held_span_ids(jaeger: Jaeger, trace_id: str, wanted: set[str]) -> set[str]:
    """Span ids Jaeger holds in ``trace_id``, polled until ``wanted`` are among them."""

    def read() -> set[str] | None:
        trace = jaeger.trace(trace_id)
        ids = {span["spanID"] for span in trace["spans"]} if trace else set()
        return ids if wanted <= ids else None

    return poll(read) or set()


def as_list(value: Any) -> list[Any]:
    """A list attribute as Jaeger returns it: the OTLP array as a JSON string."""
    return list(json.loads(value)) if isinstance(value, str) else list(value)


async def test_a_failed_task_is_found_by_tag_in_jaeger_and_links_to_the_agents_trace_there(
    pg_dsn: str, jaeger: Jaeger
) -> None:
    agent_spans = load_spans(FIXTURES / VARIANT / f"{CONVERSATION}.pb")
    agent_traces = {s.trace_id for s in agent_spans}
    task = await send_and_flush(pg_dsn, to_jaeger(jaeger, "link"))

    trace, span = await asyncio.to_thread(
        find_task, jaeger, task["id"], in_agent_trace=False, agent_traces=agent_traces
    )
    tags = tags_of(span)
    assert span["operationName"] == "task"
    assert tags["error"] is True
    assert tags["tasktrace.task.status"] == "failed"
    assert tags["tasktrace.task.status_reason"] == task["status_reason"] == "tool_error"
    assert as_list(tags["tasktrace.task.progress"]) == task["progress"] != []
    assert as_list(tags.get("tasktrace.task.preferences", "[]")) == task["preferences"]
    assert tags["session.id"] == session_of(CONVERSATION)
    assert trace["processes"][span["processID"]]["serviceName"] == "tasktrace"

    linked = {ref["traceID"] for ref in span["references"] if ref["traceID"] != trace["traceID"]}
    assert linked and linked <= agent_traces
    for trace_id in linked:
        wanted = {s.span_id for s in agent_spans if s.trace_id == trace_id}
        assert wanted <= await asyncio.to_thread(held_span_ids, jaeger, trace_id, wanted)


async def test_in_child_mode_the_failed_task_is_a_span_inside_the_agents_trace_in_jaeger(
    pg_dsn: str, jaeger: Jaeger
) -> None:
    agent_spans = load_spans(FIXTURES / VARIANT / f"{CONVERSATION}.pb")
    agent_traces = {s.trace_id for s in agent_spans}
    task = await send_and_flush(pg_dsn, to_jaeger(jaeger, "child"))

    trace, span = await asyncio.to_thread(
        find_task, jaeger, task["id"], in_agent_trace=True, agent_traces=agent_traces
    )
    (parent,) = [ref for ref in span["references"] if ref["refType"] == "CHILD_OF"]
    agent_ids = {s.span_id for s in agent_spans if s.trace_id == trace["traceID"]}
    assert parent["spanID"] in agent_ids
    held = await asyncio.to_thread(held_span_ids, jaeger, trace["traceID"], agent_ids)
    assert agent_ids <= held
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert "tasktrace" in services and len(services) == 2
