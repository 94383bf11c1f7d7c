"""Sending the captured conversations to tasktrace, directly or through a collector,
and reading back their tasks in a form that two runs can be compared by."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import httpx

from tests.support.otlp_traffic import export_grpc, fixture
from tests.unit.dialect_helpers import CONVERSATIONS

VARIANT = "openai-v2-latest-span"

#: a task as two runs must agree on it: everything but ids and times
TaskView = tuple[Any, ...]


async def send_all(
    endpoint: str, conversations: Iterable[str] = CONVERSATIONS, variant: str = VARIANT
) -> None:
    """Export each conversation's captured request (of ``variant``) to ``endpoint``."""
    for conversation in conversations:
        answer = await export_grpc(endpoint, fixture(conversation, variant=variant))
        assert answer.code is grpc.StatusCode.OK, (conversation, answer.details)


async def flushed_tasks(http_endpoint: str) -> dict[str, list[TaskView]]:
    """Flush every session the instance at ``http_endpoint`` reads (its store's); the
    tasks by session id. Sessions without a captured id get one derived from the data,
    the same on every instance."""
    out: dict[str, list[TaskView]] = {}
    async with httpx.AsyncClient(base_url=f"http://{http_endpoint}", timeout=60) as http:
        listed = await http.get("/api/v1/sessions", params={"limit": "1000"})
        assert listed.status_code == 200, listed.text
        for session in listed.json()["items"]:
            answer = await http.post(f"/api/v1/sessions/{session['id']}/flush")
            assert answer.status_code == 200, answer.text
            out[session["id"]] = [view(task) for task in answer.json()["tasks"]]
    return out


def view(task: dict[str, Any]) -> TaskView:
    history = tuple((change["status"], change["reason"]) for change in task["history"])
    return (
        task["order"],
        task["description"],
        task["status"],
        tuple(task["progress"]),
        tuple(task["preferences"]),
        len(task["message_ids"]),
        history,
    )
