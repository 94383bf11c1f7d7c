"""End to end: captured agent traces in, task spans out to a real Arize Phoenix,
found there by ``tasktrace.task.status`` and tied to the agent's own traces."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.support.phoenix import get_spans
from tests.support.service import running_service
from tests.unit.dialect_helpers import FIXTURES, load_spans

pytestmark = pytest.mark.phoenix

TIMEOUT = 60.0


async def read_back(base_url: str, attributes: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Poll Phoenix (there is no event to await), bounded by ``TIMEOUT``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        spans = await asyncio.to_thread(get_spans, base_url, "tasktrace", attributes=attributes)
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.25)


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
        async with httpx.AsyncClient(
            base_url=f"http://{service.endpoints.http}", timeout=30
        ) as http:
            sent = await http.post(
                "/v1/traces",
                content=fixture.read_bytes(),
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert sent.status_code == 200
            flushed = (await http.post("/api/v1/sessions/sess-tool-error-003/flush")).json()
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
