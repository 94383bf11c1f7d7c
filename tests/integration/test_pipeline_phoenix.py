"""End to end: captured agent traces in, task spans out to a real Arize Phoenix,
found there by ``tasktrace.task.status`` and tied to the agent's own traces."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasktrace.server.pipeline import Service
from tests.support.phoenix import filter_spans, get_spans
from tests.support.service import running_service
from tests.unit.dialect_helpers import FIXTURES, load_spans

pytestmark = pytest.mark.phoenix

TIMEOUT = 60.0
README = Path(__file__).resolve().parents[2] / "README.md"
# the README's filter: Phoenix nests dotted attribute keys
PHOENIX_FILTER = 'attributes["tasktrace"]["task"]["status"] == "failed"'


async def read_back(base_url: str, attributes: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Poll Phoenix (there is no event to await), bounded by ``TIMEOUT``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        spans = await asyncio.to_thread(get_spans, base_url, "tasktrace", attributes=attributes)
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.25)


async def send_and_flush(service: Service, fixture: Path, session: str) -> dict[str, Any]:
    """POST ``fixture`` to /v1/traces, then flush ``session``: its tasks."""
    async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}", timeout=30) as http:
        sent = await http.post(
            "/v1/traces",
            content=fixture.read_bytes(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert sent.status_code == 200
        flushed: dict[str, Any] = (await http.post(f"/api/v1/sessions/{session}/flush")).json()
    return flushed


async def test_a_failed_task_shows_up_in_phoenix_linked_to_its_source_trace(
    pg_dsn: str, phoenix: str
) -> None:
    fixture = FIXTURES / "openinference" / "tool-error.pb"
    source_traces = {span.trace_id for span in load_spans(fixture)}
    overrides = [
        f"exporters.otlp_http/phoenix.endpoint={phoenix}",
        "exporters.otlp_http/phoenix.retry_on_failure.max_elapsed_time=20s",
        "service.pipelines.traces.exporters=[postgres, otlp_http/phoenix]",
    ]
    async with running_service(pg_dsn, overrides=overrides) as service:
        flushed = await send_and_flush(service, fixture, "sess-tool-error-003")
        assert [t["status"] for t in flushed["tasks"]] == ["failed"]
        task_id = flushed["tasks"][0]["id"]
        spans = await read_back(
            phoenix, {"tasktrace.task.id": task_id, "tasktrace.task.status": "failed"}, 1
        )
    assert spans, "no failed task span reached Phoenix"
    span = spans[-1]
    assert span["name"] == "task"
    assert span["status_code"] == "ERROR"
    attributes = span["attributes"]
    assert attributes["session.id"] == "sess-tool-error-003"
    assert attributes["tasktrace.extractor"] == "heuristic"
    assert set(attributes["tasktrace.source.trace_ids"]) <= source_traces
    assert attributes["tasktrace.source.trace_ids"]


async def test_with_pass_through_the_agents_own_spans_reach_phoenix_beside_the_task(
    pg_dsn: str, phoenix: str
) -> None:
    fixture = FIXTURES / "openai-v2-latest-span" / "tool-error.pb"
    sent_spans = load_spans(fixture)
    session = "sess-tool-error-003"
    overrides = [
        f"exporters.otlp_http/phoenix.endpoint={phoenix}",
        "service.pipelines.traces.exporters=[postgres, otlp_http/phoenix]",
        "service.pipelines.traces/passthrough.processors=[]",
        "service.pipelines.traces/passthrough.exporters=[otlp_http/phoenix]",
    ]
    async with running_service(pg_dsn, overrides=overrides) as service:
        flushed = await send_and_flush(service, fixture, session)
        task_id = flushed["tasks"][0]["id"]
        task_spans = await read_back(phoenix, {"tasktrace.task.id": task_id}, 1)
        sent_ids = {(s.trace_id, s.span_id) for s in sent_spans}
        received = await ids_in_phoenix(phoenix, "default", sent_ids)

    assert sent_ids <= received
    assert task_spans


async def ids_in_phoenix(
    base_url: str, project: str, wanted: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """(trace id, span id) of the spans in ``project``, polled until ``wanted`` are
    among them or ``TIMEOUT`` passes."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        spans = await asyncio.to_thread(get_spans, base_url, project)
        ids = {(s["context"]["trace_id"], s["context"]["span_id"]) for s in spans}
        if wanted <= ids or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.25)


async def test_the_readmes_phoenix_filter_finds_the_failed_task_and_its_source_trace(
    pg_dsn: str, phoenix: str
) -> None:
    assert f"`{PHOENIX_FILTER}`" in README.read_text()
    fixture = FIXTURES / "openinference" / "tool-error.pb"
    source_traces = {span.trace_id for span in load_spans(fixture)}
    overrides = [
        f"exporters.otlp_http/phoenix.endpoint={phoenix}",
        "service.pipelines.traces.exporters=[postgres, otlp_http/phoenix]",
    ]
    async with running_service(pg_dsn, overrides=overrides) as service:
        flushed = await send_and_flush(service, fixture, "sess-tool-error-003")
        task_id = flushed["tasks"][0]["id"]
        await read_back(phoenix, {"tasktrace.task.id": task_id}, 1)

    found = await asyncio.to_thread(filter_spans, phoenix, "tasktrace", PHOENIX_FILTER)
    mine = [s for s in found if s["attributes"]["tasktrace"]["task"]["id"] == task_id]
    assert mine, f"the filter found {len(found)} spans, none of task {task_id}"
    assert all(s["attributes"]["tasktrace"]["task"]["status"] == "failed" for s in found)
    # no span links in Phoenix: the source trace ids are the way back
    assert set(mine[0]["attributes"]["tasktrace"]["source"]["trace_ids"]) <= source_traces
    flat = 'attributes["tasktrace.task.status"] == "failed"'
    flat_found = await asyncio.to_thread(filter_spans, phoenix, "tasktrace", flat)
    assert [s for s in flat_found if s["attributes"]["tasktrace"]["task"]["id"] == task_id] == []


async def test_each_task_span_carries_its_own_tasks_revision(pg_dsn: str, phoenix: str) -> None:
    """Two tasks of one session, changed a different number of times: each span
    shows its task's revision as the API reports it, not a session-wide count."""
    fixture = FIXTURES / "openinference" / "two-requests.pb"
    source_traces = {span.trace_id for span in load_spans(fixture)}
    overrides = [
        f"exporters.otlp_http/phoenix.endpoint={phoenix}",
        "service.pipelines.traces.exporters=[postgres, otlp_http/phoenix]",
    ]
    async with running_service(pg_dsn, overrides=overrides) as service:
        flushed = await send_and_flush(service, fixture, "sess-two-requests-001")
        revisions = {t["id"]: t["revision"] for t in flushed["tasks"]}
        spans = await read_back(phoenix, {"session.id": "sess-two-requests-001"}, len(revisions))

    assert len(revisions) == 2 and len(set(revisions.values())) == 2, revisions
    latest: dict[str, int] = {}
    # this fixture's spans only (other tests send the same session from other libraries)
    for span in (
        s for s in spans if set(s["attributes"]["tasktrace.source.trace_ids"]) <= source_traces
    ):
        task_id = span["attributes"]["tasktrace.task.id"]
        latest[task_id] = max(latest.get(task_id, 0), span["attributes"]["tasktrace.task.revision"])
    assert latest == revisions
