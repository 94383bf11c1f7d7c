"""What the bad-input tests share: a good fixture sent first and checked
unchanged after, a good request that must still be accepted after a bad one,
and how to read an OTLP/HTTP error answer."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import grpc
import httpx
from google.rpc import status_pb2

from tasktrace.client import NotFound
from tasktrace.model import Message
from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import (
    JSON,
    chat_request,
    export_grpc,
    export_http,
    fixture,
    session_of,
    transcript,
    without_task_ids,
)

GOOD = "two-requests"
MIB = 1024 * 1024
LIMITS = (
    "receivers.otlp.protocols.grpc.max_recv_msg_size_mib=1",
    "receivers.otlp.protocols.http.max_request_body_size_mib=1",
)


def status_message(response: httpx.Response) -> str:
    """The reason an OTLP/HTTP error answer carries, in the request's encoding."""
    if response.headers["content-type"].startswith(JSON):
        return str(response.json()["message"])
    return status_pb2.Status.FromString(response.content).message


async def stored(service: Service, session_id: str) -> list[Message]:
    """The session's transcript, or [] when the session does not exist."""
    try:
        return await transcript(service.endpoints.http, session_id)
    except NotFound:
        return []


def one_span_json(span: dict[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


@contextlib.asynccontextmanager
async def good_transcript_kept(service: Service) -> AsyncIterator[list[Message]]:
    """Sends the good fixture before the test, and checks after it that the
    stored transcript is exactly what it was."""
    answer = await export_grpc(service.endpoints.grpc, fixture(GOOD))
    assert answer.code is grpc.StatusCode.OK, answer.details
    before = without_task_ids(await transcript(service.endpoints.http, session_of(GOOD)))
    assert len(before) == 7
    yield before
    assert without_task_ids(await transcript(service.endpoints.http, session_of(GOOD))) == before


async def still_accepts(service: Service, session_id: str = "after-bad-input") -> None:
    """A good request after the bad one is accepted and stored."""
    request = chat_request(session_id, "still there?", trace_id=b"\x99" * 16)
    response = await export_http(service.endpoints.http, request.SerializeToString())
    assert response.status_code == 200, response.text
    assert [m.content for m in await stored(service, session_id)] == ["still there?", "ok"]
