"""A scripted OpenAI-compatible Chat Completions endpoint on 127.0.0.1 for an
instrumented *app* (the LLM side of the quickstart): it asks for the app's
first tool once per user request that mentions weather, then answers in text.
Deterministic, so the tasks the app yields are known."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from tests.support.llm_stub import serve_completions

MODEL = "gpt-4o-mini-2024-07-18"


def _reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    last = messages[-1] if messages else {}
    if last.get("role") == "user" and "weather" in str(last.get("content", "")) and tools:
        name = tools[0]["function"]["name"]
        call = {
            "id": f"call_{len(messages)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps({"city": "Paris"})},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if last.get("role") == "tool":
        return {"role": "assistant", "content": "It is light rain in Paris today, 14 C."}
    return {"role": "assistant", "content": "Rain is just the sky's way of saying hello."}


async def _complete(request: web.Request) -> web.Response:
    body = await request.json()
    message = _reply(body.get("messages", []), body.get("tools", []))
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return web.json_response(
        {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        }
    )


def chat_stub() -> AbstractAsyncContextManager[str]:
    """Serve the stub on a free port; yields its base URL (``http://127.0.0.1:N/v1``)."""
    return serve_completions(_complete)
