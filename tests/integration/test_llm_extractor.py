"""The ``llm`` extractor over HTTP: a real llama.cpp server with a small model,
and a tiny stub endpoint for the failures a real model cannot be made to produce."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput
from tasktrace.extractor.llm import LLMExtractor
from tasktrace.model import (
    AppendProgress,
    CreateTask,
    Message,
    Role,
    SetStatus,
    TaskStatus,
    ToolCall,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
VALID = json.dumps(
    {
        "operations": [
            {
                "op": "create",
                "description": "weather in Paris",
                "reason": "asked",
                "status": "running",
                "messages": ["m1"],
            },
            {"op": "set_status", "task": 1, "reason": "answered", "status": "success"},
        ]
    }
)


def weather_conversation() -> tuple[Message, ...]:
    arguments = '{"city": "Paris", "day": "tomorrow"}'
    call = ToolCall(id="call_1", name="get_weather", arguments=arguments)
    rows: list[tuple[Role, dict[str, Any]]] = [
        (Role.USER, {"content": "What's the weather in Paris tomorrow?"}),
        (Role.ASSISTANT, {"tool_calls": (call,)}),
        (
            Role.TOOL,
            {
                "content": '{"forecast": "rain", "high_c": 14}',
                "tool_call_id": "call_1",
                "tool_name": "get_weather",
            },
        ),
        (Role.ASSISTANT, {"content": "Tomorrow in Paris expect rain with a high of 14°C."}),
    ]
    return tuple(
        Message(id=f"msg-{seq}", session_id="s1", seq=seq, role=role, **kw)
        for seq, (role, kw) in enumerate(rows)
    )


def make_request(messages: tuple[Message, ...] | None = None) -> ExtractionInput:
    messages = weather_conversation() if messages is None else messages
    return ExtractionInput(session_id="s1", tasks=(), messages=messages, now=NOW)


# --- against the real model ----------------------------------------------------


@pytest.mark.llm
async def test_a_real_model_turns_a_tool_using_conversation_into_task_operations(
    llm_endpoint: str,
) -> None:
    config = LLMExtractorConfig(base_url=llm_endpoint, model="local", max_retries=0, timeout=120)
    extractor = LLMExtractor(config, CriteriaConfig())
    request = make_request()
    try:
        result = await extractor.extract(request)
    finally:
        await extractor.aclose()
    creates = [op for op in result.ops if isinstance(op, CreateTask)]
    assert creates, result
    real_ids = {m.id for m in request.messages}
    assert all(op.message_ids and set(op.message_ids) <= real_ids for op in creates)
    assert creates[0].order == 1
    assert result.input_tokens > 0
    assert result.output_tokens > 0


# --- against a stub endpoint -----------------------------------------------------


@dataclass
class StubLLM:
    """Answers chat completions with ``answers`` in turn and records the requests."""

    answers: list[str]
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        self.in_flight += 1
        async with self.arrived:
            self.arrived.notify_all()
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        if self.status != 200:
            return web.json_response({"error": {"message": "boom"}}, status=self.status)
        content = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return web.json_response(
            {
                "id": "stub",
                "object": "chat.completion",
                "created": 0,
                "model": "stub",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
            }
        )


@pytest.fixture
async def stub() -> AsyncIterator[StubLLM]:
    stub = StubLLM(answers=[VALID])
    stub.release.set()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stub.base_url = f"http://127.0.0.1:{port}/v1"
    yield stub
    await runner.cleanup()


def stub_extractor(stub: StubLLM, **overrides: Any) -> LLMExtractor:
    config = LLMExtractorConfig(base_url=stub.base_url, max_retries=0, **overrides)
    return LLMExtractor(config, CriteriaConfig(success="the forecast is given"))


async def test_a_valid_answer_is_used_as_is_and_the_request_asks_for_the_schema(
    stub: StubLLM,
) -> None:
    extractor = stub_extractor(stub)
    result = await extractor.extract(make_request())
    await extractor.aclose()
    assert result.ops == (
        CreateTask(1, "weather in Paris", TaskStatus.RUNNING, ("msg-0",), "asked"),
        SetStatus(1, TaskStatus.SUCCESS, "answered"),
        # the tool call is a step of the task, written from the call itself
        AppendProgress(1, "get_weather(city=Paris, day=tomorrow)", ("msg-1",)),
    )
    (sent,) = stub.requests
    assert sent["response_format"]["type"] == "json_schema"
    assert "the forecast is given" in sent["messages"][0]["content"]
    assert (result.input_tokens, result.output_tokens) == (100, 10)


async def test_a_malformed_answer_is_re_prompted_with_the_validation_error(
    stub: StubLLM,
) -> None:
    stub.answers = ['{"operations": [{"op": "explode"}]}', VALID]
    extractor = stub_extractor(stub)
    result = await extractor.extract(make_request())
    await extractor.aclose()
    assert len(stub.requests) == 2
    retry = stub.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": stub.answers[0]}
    assert "not valid" in retry[-1]["content"] and "explode" in retry[-1]["content"]
    assert len(result.ops) == 3
    assert (result.input_tokens, result.output_tokens) == (200, 20)


async def test_a_second_malformed_answer_fails_the_extraction(stub: StubLLM) -> None:
    stub.answers = ["I think there is one task.", "Still no JSON, sorry."]
    extractor = stub_extractor(stub)
    with pytest.raises(ExtractionFailed, match="after a re-prompt"):
        await extractor.extract(make_request())
    await extractor.aclose()
    assert len(stub.requests) == 2


async def test_a_server_error_fails_the_extraction(stub: StubLLM) -> None:
    stub.status = 503
    extractor = stub_extractor(stub)
    with pytest.raises(ExtractionFailed, match="endpoint failed"):
        await extractor.extract(make_request())
    await extractor.aclose()


async def test_an_unreachable_endpoint_fails_the_extraction() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMExtractorConfig(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    extractor = LLMExtractor(config, CriteriaConfig())
    with pytest.raises(ExtractionFailed):
        await extractor.extract(make_request())
    await extractor.aclose()


async def test_no_new_messages_means_no_request(stub: StubLLM) -> None:
    extractor = stub_extractor(stub)
    result = await extractor.extract(make_request(messages=()))
    await extractor.aclose()
    assert result.ops == ()
    assert stub.requests == []


async def test_concurrent_extractions_are_bounded_by_max_concurrency(stub: StubLLM) -> None:
    stub.release.clear()
    extractor = stub_extractor(stub, max_concurrency=2)
    calls = [asyncio.create_task(extractor.extract(make_request())) for _ in range(5)]
    async with stub.arrived:
        await stub.arrived.wait_for(lambda: len(stub.requests) >= 2)
    assert stub.in_flight == 2
    stub.release.set()
    results = await asyncio.gather(*calls)
    await extractor.aclose()
    assert len(results) == 5
    assert stub.max_in_flight == 2


async def test_json_object_mode_asks_for_json_without_a_schema(stub: StubLLM) -> None:
    extractor = stub_extractor(stub, response_format="json_object")
    await extractor.extract(make_request())
    await extractor.aclose()
    assert stub.requests[0]["response_format"] == {"type": "json_object"}
