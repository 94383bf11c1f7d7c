"""Talking to a running tasktrace over OTLP/HTTP and ``/api/v1`` with httpx, from
async tests: send requests, read a session's extraction status, and poll it
with a bounded deadline where the server offers no event to wait for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.genai_chat import Turn, chat_request
from tests.support.service import running_service

PROTOBUF = "application/x-protobuf"
POLL_INTERVAL = 0.02

Status = dict[str, Any]


@asynccontextmanager
async def service_api(dsn: str, overrides: Sequence[str] = ()) -> AsyncIterator[httpx.AsyncClient]:
    """The real service (see :func:`running_service`) and an httpx client for its HTTP port."""
    async with (
        running_service(dsn, overrides=overrides) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        yield http


async def post_traces(http: httpx.AsyncClient, request: ExportTraceServiceRequest | bytes) -> None:
    """POST an OTLP trace request; returns once the server acknowledged (stored) it."""
    body = request if isinstance(request, bytes) else request.SerializeToString()
    response = await http.post("/v1/traces", content=body, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 200, response.text


async def send_turn(http: httpx.AsyncClient, session_id: str, turns: list[Turn]) -> None:
    """Send the last of ``turns`` (its span carries the history before it)."""
    await post_traces(http, chat_request(session_id, turns, first=len(turns) - 1))


async def status(http: httpx.AsyncClient, session_id: str) -> Status:
    response = await http.get(f"/api/v1/sessions/{session_id}/status")
    assert response.status_code == 200, response.text
    body: Status = response.json()
    return body


async def wait_for_status(
    http: httpx.AsyncClient,
    session_id: str,
    done: Callable[[Status], bool],
    *,
    timeout: float = 10.0,
) -> Status:
    """Poll the session's status until ``done(status)``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        current = await status(http, session_id)
        if done(current):
            return current
        assert time.monotonic() < deadline, f"{session_id}: still {current} after {timeout}s"
        await asyncio.sleep(POLL_INTERVAL)


def caught_up(current: Status) -> bool:
    """Every stored message is processed and no extraction runs."""
    return (
        bool(current["messages"])
        and current["processed"] == current["messages"]
        and not current["in_process"]
    )


async def flush(http: httpx.AsyncClient, session_id: str, timeout: float = 10.0) -> Any:
    response = await http.post(f"/api/v1/sessions/{session_id}/flush", params={"timeout": timeout})
    assert response.status_code == 200, response.text
    return response.json()


async def task_list(http: httpx.AsyncClient, session_id: str, **params: Any) -> list[Any]:
    """Every task of the session (one page of up to 1000)."""
    response = await http.get(
        f"/api/v1/sessions/{session_id}/tasks", params={"limit": 1000, **params}
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items
