"""Redaction through the real service: OTLP/HTTP in, real PostgreSQL, the real
``llm`` extractor against llama.cpp (behind a recording proxy: the LLM server's
request log), and task spans to an OTLP/gRPC backend that records them.

The conversation holds the Visa test card number, an e-mail address, a phone
number and a booking code, in user text, tool-call arguments and a tool result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from psycopg import sql

from tasktrace.server.pipeline import Service
from tests.support.fake_otlp import FlakyTraceService, serving_grpc
from tests.support.llm_proxy import RecordingProxy, recording_proxy
from tests.support.service import running_service
from tests.support.session_api import post_traces

SESSION = "redaction-session-1"
CARD = "4111 1111 1111 1111"
SECRETS = (CARD, "4111111111111111", "4111-1111", "jane.doe@example.com", "123-4567", "BK-482913")
USER = (
    f"Book the Hotel Lutetia in Paris for May 3 to 5 and pay with my card {CARD}. "
    "Send the confirmation to jane.doe@example.com or call me at (555) 123-4567."
)
ARGUMENTS = {"hotel": "Lutetia", "card_number": "4111111111111111", "email": "jane.doe@example.com"}
RESULT = {"status": "confirmed", "booking": "BK-482913", "charged_card": 4111111111111111}
ANSWER = (
    "Your room at the Lutetia is booked (BK-482913); the confirmation goes to jane.doe@example.com."
)
REDACTION = [
    "processors.tasktrace.redaction.regexes=[{name: booking, pattern: 'BK-[0-9]{6}'}]",
]
TASK_SPAN_TIMEOUT = 30.0
LLM_FLUSH_TIMEOUT = 600.0


FOLLOW_UP = f"Thanks! Please also send it to bob@example.org and keep {CARD} on file."


def booking_request(*, follow_up: bool = False) -> ExportTraceServiceRequest:
    """One GenAI ``chat`` span: the user's request, the assistant's tool call and the
    tool's result as input, the assistant's answer as output. ``follow_up``: the next
    call instead, whose history repeats all that and adds the user's next message."""
    history = [
        {"role": "user", "parts": [{"type": "text", "content": USER}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "book_hotel", "arguments": ARGUMENTS}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": RESULT}],
        },
    ]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
    if follow_up:
        history += [*output, {"role": "user", "parts": [{"type": "text", "content": FOLLOW_UP}]}]
        output = [{"role": "assistant", "parts": [{"type": "text", "content": "Done."}]}]
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.conversation.id": SESSION,
        "gen_ai.input.messages": json.dumps(history),
        "gen_ai.output.messages": json.dumps(output),
    }
    span = Span(
        trace_id=bytes.fromhex(
            "5b8efff798038103d269b633813fc60d" if follow_up else "5b8efff798038103d269b633813fc60c"
        ),
        span_id=bytes.fromhex("eee19b7ec3c1b175" if follow_up else "eee19b7ec3c1b174"),
        name="chat gpt-4o-mini",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
    )
    span.attributes.extend(
        KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items()
    )
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="hotel-agent"))
    )
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@dataclass
class Stored:
    messages: str
    tasks: str


async def stored(dsn: str, service: Service) -> Stored:
    """Everything the messages and tasks tables hold, as text."""
    schema = sql.Identifier(service.config.exporters.postgres.schema_name)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        messages = await conn.execute(
            sql.SQL("SELECT content, tool_calls::text FROM {}.messages ORDER BY seq").format(schema)
        )
        message_rows = await messages.fetchall()
        tasks = await conn.execute(
            sql.SQL("SELECT description, progress::text, preferences::text FROM {}.tasks").format(
                schema
            )
        )
        task_rows = await tasks.fetchall()
    return Stored(json.dumps(message_rows), json.dumps(task_rows))


def span_text(backend: FlakyTraceService) -> str:
    """Every attribute, event and status of the task spans that arrived, as text."""
    return "\n".join(str(span) for span in backend.spans)


@asynccontextmanager
async def pipeline(
    dsn: str, overrides: Sequence[str], *, expected_spans: int = 1
) -> AsyncIterator[tuple[Service, FlakyTraceService, httpx.AsyncClient]]:
    backend = FlakyTraceService(expected=expected_spans)
    async with serving_grpc(backend) as port:
        config = [*overrides, f"exporters.otlp.endpoint=127.0.0.1:{port}"]
        async with (
            running_service(dsn, overrides=config) as service,
            httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
        ):
            yield service, backend, http


async def flush(service: Service, timeout: float) -> Any:
    assert service.scheduler is not None
    return await service.scheduler.flush(SESSION, timeout=timeout)


async def api_messages(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get(f"/api/v1/sessions/{SESSION}/messages", params={"limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- the llm extractor: what reaches the LLM server --------------------------------


@asynccontextmanager
async def llm_pipeline(
    dsn: str, upstream: str, store: str
) -> AsyncIterator[tuple[Service, FlakyTraceService, httpx.AsyncClient, RecordingProxy]]:
    async with recording_proxy(upstream) as proxy:
        overrides = [
            *REDACTION,
            f"processors.tasktrace.redaction.store={store}",
            "processors.tasktrace.extractor.type=llm",
            f"processors.tasktrace.extractor.llm.base_url={proxy.base_url}",
            "processors.tasktrace.extractor.llm.model=local",
            "processors.tasktrace.extractor.llm.max_retries=0",
            "processors.tasktrace.extractor.llm.timeout=300s",
        ]
        async with pipeline(dsn, overrides) as (service, backend, http):
            yield service, backend, http, proxy


def assert_llm_saw_only_redacted_text(proxy: RecordingProxy) -> None:
    assert proxy.bodies, "the LLM server got no request"
    for body in proxy.bodies:
        text = body.decode()
        assert leaked(text) == [], text
    first = proxy.bodies[0].decode()
    # the conversation did reach it, redacted
    assert "Lutetia" in first and "[REDACTED:card]" in first and "[REDACTED:email]" in first
    assert "[REDACTED:booking]" in first


@pytest.mark.llm
async def test_with_store_redacted_no_card_digits_reach_the_llm_server_postgres_or_task_spans(
    pg_dsn: str, llm_endpoint: str
) -> None:
    async with llm_pipeline(pg_dsn, llm_endpoint, "redacted") as (service, backend, http, proxy):
        await post_traces(http, booking_request())
        result = await flush(service, LLM_FLUSH_TIMEOUT)
        assert result.tasks, "the model made no task"
        await asyncio.wait_for(backend.all_arrived.wait(), TASK_SPAN_TIMEOUT)
        in_store = await stored(pg_dsn, service)
        messages = await api_messages(http)
    assert_llm_saw_only_redacted_text(proxy)
    assert leaked(in_store.messages) == [] and leaked(in_store.tasks) == []
    assert "[REDACTED:card]" in in_store.messages
    assert leaked(json.dumps(messages)) == []
    assert backend.spans and leaked(span_text(backend)) == []


@pytest.mark.llm
async def test_with_store_raw_the_llm_server_still_gets_redacted_text_and_postgres_keeps_it_as_sent(
    pg_dsn: str, llm_endpoint: str
) -> None:
    async with llm_pipeline(pg_dsn, llm_endpoint, "raw") as (service, _, http, proxy):
        await post_traces(http, booking_request())
        await flush(service, LLM_FLUSH_TIMEOUT)
        messages = await api_messages(http)
    assert_llm_saw_only_redacted_text(proxy)
    assert messages[0]["content"] == USER
    assert json.loads(messages[1]["tool_calls"][0]["arguments"]) == ARGUMENTS
    assert json.loads(messages[2]["content"]) == RESULT
    assert messages[3]["content"] == ANSWER


# --- the heuristic extractor: what is stored and what task spans carry -------------


async def test_with_store_redacted_postgres_and_the_query_api_hold_only_redacted_text(
    pg_dsn: str,
) -> None:
    overrides = [
        *REDACTION,
        "processors.tasktrace.redaction.store=redacted",
        "processors.tasktrace.redaction.spans=raw",  # nothing raw is left to export
    ]
    async with pipeline(pg_dsn, overrides) as (service, backend, http):
        await post_traces(http, booking_request())
        result = await flush(service, 30.0)
        await asyncio.wait_for(backend.all_arrived.wait(), TASK_SPAN_TIMEOUT)
        in_store = await stored(pg_dsn, service)
        messages = await api_messages(http)
    assert result.tasks
    assert leaked(in_store.messages) == [] and leaked(in_store.tasks) == []
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == (
        "Book the Hotel Lutetia in Paris for May 3 to 5 and pay with my card [REDACTED:card]. "
        "Send the confirmation to [REDACTED:email] or call me at [REDACTED:phone]."
    )
    assert json.loads(messages[1]["tool_calls"][0]["arguments"])["card_number"] == (
        "[REDACTED:card]"
    )
    assert json.loads(messages[2]["content"]) == {
        "status": "confirmed",
        "booking": "[REDACTED:booking]",
        "charged_card": "[REDACTED:card]",
    }
    assert backend.spans and leaked(span_text(backend)) == []


@pytest.mark.parametrize(("spans", "leaks"), [("redacted", False), ("raw", True)])
async def test_with_store_raw_task_spans_carry_task_text_redacted_unless_spans_raw(
    pg_dsn: str, spans: str, leaks: bool
) -> None:
    overrides = [*REDACTION, f"processors.tasktrace.redaction.spans={spans}"]
    async with pipeline(pg_dsn, overrides) as (service, backend, http):
        await post_traces(http, booking_request())
        await flush(service, 30.0)
        await asyncio.wait_for(backend.all_arrived.wait(), TASK_SPAN_TIMEOUT)
        in_store = await stored(pg_dsn, service)
    assert CARD in in_store.messages and CARD in in_store.tasks  # raw storage: as sent
    assert backend.spans
    assert bool(leaked(span_text(backend))) is leaks
    if not leaks:
        assert "[REDACTED:card]" in span_text(backend)


async def test_with_store_redacted_a_history_sent_again_adds_no_duplicate_messages(
    pg_dsn: str,
) -> None:
    overrides = [*REDACTION, "processors.tasktrace.redaction.store=redacted"]
    async with pipeline(pg_dsn, overrides) as (_, _, http):
        await post_traces(http, booking_request())
        await post_traces(http, booking_request())  # resent
        await post_traces(http, booking_request(follow_up=True))  # repeats the history
        messages = await api_messages(http)
    assert [m["seq"] for m in messages] == list(range(6))
    assert messages[4]["content"] == (
        "Thanks! Please also send it to [REDACTED:email] and keep [REDACTED:card] on file."
    )
    assert leaked(json.dumps(messages)) == []
