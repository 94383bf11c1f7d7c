"""Sessions that get no tasks, and tasks that expire, against the real service.

Opted-out sessions (the span attribute ``tasktrace.disabled=true``, or a
session id matching ``opt_out.session_patterns``) keep their transcript and
their cursor still advances, but no task is made. Open tasks of a session idle
past ``task_ttl`` become ``expired``, with an entry in their status history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tasktrace.extractor.scheduler import ExtractionScheduler
from tests.support.genai_chat import Turn, chat_request, numbered_turns
from tests.support.llm_stub import LLMStub, llm_overrides, running_stub
from tests.support.service import running_service
from tests.support.session_api import (
    caught_up,
    flush,
    post_traces,
    service_api,
    status,
    task_list,
    wait_for_status,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp" / "openinference"
TTL_MINUTES = 30


def messages_of(http_page: httpx.Response) -> list[str]:
    assert http_page.status_code == 200, http_page.text
    return [m["content"] for m in http_page.json()["items"]]


async def test_a_session_disabled_by_span_attribute_keeps_messages_but_gets_no_tasks(
    pg_dsn: str,
) -> None:
    turns = numbered_turns(2)
    async with service_api(pg_dsn) as http:
        await post_traces(http, chat_request("quiet-1", turns, disabled=True))
        await post_traces(http, chat_request("loud-1", turns))
        for sid in ("quiet-1", "loud-1"):
            await flush(http, sid)
        transcript = messages_of(await http.get("/api/v1/sessions/quiet-1/messages"))
        quiet = await status(http, "quiet-1")
        assert await task_list(http, "quiet-1") == []
        assert len(await task_list(http, "loud-1")) == 2
    assert transcript == [turns[0].user, turns[0].assistant, turns[1].user, turns[1].assistant]
    assert (quiet["processed"], quiet["pending"]) == (4, 0)


async def test_sessions_matching_an_opt_out_pattern_keep_messages_but_get_no_tasks(
    pg_dsn: str,
) -> None:
    patterns = 'processors.tasktrace.opt_out.session_patterns=["sess-two-.*"]'
    async with service_api(pg_dsn, [patterns]) as http:
        for name in ("two-requests", "three-tools"):
            await post_traces(http, (FIXTURES / f"{name}.pb").read_bytes())
        opted = await flush(http, "sess-two-requests-001")
        kept = await flush(http, "sess-three-tools-002")
        transcript = messages_of(await http.get("/api/v1/sessions/sess-two-requests-001/messages"))
        opted_status = await status(http, "sess-two-requests-001")
    assert (opted["processed"], opted["tasks"]) == (7, [])
    assert "What's the capital of Australia?" in transcript
    assert (opted_status["processed"], opted_status["pending"]) == (7, 0)
    assert [t["status"] for t in kept["tasks"]] == ["success"]


async def test_open_tasks_of_a_session_idle_past_the_ttl_expire_with_a_history_entry(
    pg_dsn: str,
) -> None:
    turns = [*numbered_turns(1), Turn("Book a table for two at 8pm tonight.")]
    overrides = [f"processors.tasktrace.task_ttl={TTL_MINUTES}m"]
    async with running_service(pg_dsn, overrides=overrides) as service:
        scheduler = service.scheduler
        assert isinstance(scheduler, ExtractionScheduler)
        async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
            sent = datetime.now(UTC)
            await post_traces(http, chat_request("ttl-1", turns))
            await flush(http, "ttl-1")
            before = await task_list(http, "ttl-1")
            ttl = timedelta(minutes=TTL_MINUTES)
            too_soon = await scheduler.expire_idle(sent + ttl - timedelta(minutes=1))
            expired = await scheduler.expire_idle(sent + ttl + timedelta(minutes=1))
            again = await scheduler.expire_idle(sent + ttl + timedelta(minutes=2))
            after = await task_list(http, "ttl-1")
            listed = (await http.get("/api/v1/tasks", params={"status": "expired"})).json()
    assert [t["status"] for t in before] == ["success", "pending"]
    assert (too_soon, expired, again) == (0, 1, 0)
    assert [t["status"] for t in after] == ["success", "expired"]
    assert after[0] == before[0]  # a finished task is left alone
    history = after[1]["history"]
    assert [h["status"] for h in history] == ["pending", "expired"]
    assert "idle" in history[-1]["reason"]
    assert history[-1]["at"] > before[1]["updated_at"]
    assert after[1]["updated_at"] == history[-1]["at"]
    assert [t["id"] for t in listed["items"]] == [after[1]["id"]]


async def test_expiry_leaves_a_session_alone_while_its_extraction_runs(pg_dsn: str) -> None:
    turns = numbered_turns(2)
    far_future = datetime.now(UTC) + timedelta(days=1)
    async with running_stub(LLMStub(hold_from=1, task_status="pending")) as stub:
        overrides = [*llm_overrides(stub.base_url), "processors.tasktrace.buffer.max_turns=2"]
        async with running_service(pg_dsn, overrides=overrides) as service:
            scheduler = service.scheduler
            assert isinstance(scheduler, ExtractionScheduler)
            async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
                await post_traces(http, chat_request("held-1", turns[:1]))
                await stub.wait_for_calls(1)
                await wait_for_status(http, "held-1", caught_up)
                await post_traces(http, chat_request("held-1", turns, first=1))
                await stub.wait_for_calls(2)  # the second extraction is now in flight
                during = await scheduler.expire_idle(far_future)
                stub.release()
                await wait_for_status(http, "held-1", caught_up)
                after = await scheduler.expire_idle(far_future)
                tasks = await task_list(http, "held-1")
    assert (during, after) == (0, 2)
    assert [t["status"] for t in tasks] == ["expired", "expired"]
    assert [[h["status"] for h in t["history"]] for t in tasks] == [["pending", "expired"]] * 2
