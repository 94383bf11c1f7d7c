"""A failing extractor loses nothing: the real service with the ``llm`` extractor
against a scripted endpoint that answers 500 until told otherwise. Messages
stay pending with the error in the status, and are extracted once it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.genai_chat import chat_request, numbered_turns
from tests.support.llm_stub import LLMStub, llm_overrides, running_stub
from tests.support.session_api import (
    caught_up,
    post_traces,
    service_api,
    status,
    task_list,
    wait_for_status,
)

OVERRIDES = [
    "processors.tasktrace.buffer.retry_backoff=0.2s",
    "processors.tasktrace.buffer.max_backoff=0.4s",
    "processors.tasktrace.buffer.max_turns=2",
]


@pytest.fixture
async def stub() -> AsyncIterator[LLMStub]:
    async with running_stub(LLMStub(failing=True)) as running:
        yield running


@pytest.fixture
async def http(pg_dsn: str, stub: LLMStub) -> AsyncIterator[httpx.AsyncClient]:
    async with service_api(pg_dsn, [*llm_overrides(stub.base_url), *OVERRIDES]) as client:
        yield client


async def test_failed_extractions_keep_messages_pending_and_retry_until_the_llm_answers(
    http: httpx.AsyncClient, stub: LLMStub
) -> None:
    turns = numbered_turns(3)
    await post_traces(http, chat_request("retry-1", turns))
    await stub.wait_for_calls(3)  # the first call and two retries after backoff
    failed = await wait_for_status(http, "retry-1", lambda s: not s["in_process"])
    assert (failed["processed"], failed["pending"]) == (0, 6)
    assert "LLM endpoint failed" in failed["last_error"]
    assert "500" in failed["last_error"]
    assert await task_list(http, "retry-1") == []
    runs, errors = await extraction_counts(http)
    assert errors >= 3 and runs == errors, "every failed run is counted in /metrics"

    stub.failing = False
    done = await wait_for_status(http, "retry-1", caught_up, timeout=5)
    assert done == {
        "messages": 6, "processed": 6, "pending": 0, "in_process": False, "last_error": "",
    }  # fmt: skip
    tasks = await task_list(http, "retry-1")
    assert [t["description"] for t in tasks] == [t.user for t in turns]
    # every call, failed or not, asked about the same new messages
    assert {tuple(call) for call in stub.calls} == {tuple(t.user for t in turns)}
    runs, errors_after = await extraction_counts(http)
    assert runs > errors_after >= errors


async def extraction_counts(http: httpx.AsyncClient) -> tuple[float, float]:
    """``tasktrace_extraction_runs_total`` and ``..._errors_total`` from ``/metrics``."""
    text = (await http.get("/metrics")).text
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return values["tasktrace_extraction_runs_total"], values["tasktrace_extraction_errors_total"]


async def test_messages_arriving_during_failures_are_extracted_with_the_backlog(
    http: httpx.AsyncClient, stub: LLMStub
) -> None:
    turns = numbered_turns(4)
    await post_traces(http, chat_request("retry-2", turns[:2]))
    await stub.wait_for_calls(1)
    await post_traces(http, chat_request("retry-2", turns, first=2))
    every_user_text = [t.user for t in turns]
    await stub.wait_for(lambda calls: calls[-1] == every_user_text)  # a retry saw them all
    assert (await status(http, "retry-2"))["processed"] == 0
    stub.failing = False
    done = await wait_for_status(http, "retry-2", caught_up, timeout=5)
    assert done["processed"] == 8
    tasks = await task_list(http, "retry-2")
    assert [t["description"] for t in tasks] == [t.user for t in turns]
    assert [t["order"] for t in tasks] == [1, 2, 3, 4]
