"""The real service, populated once for the query API tests: three real-library
fixture conversations and one synthetic one, each flushed, in ``FLUSH_ORDER``
(so that is their ``updated_at`` order too)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.genai_chat import Turn, chat_request, numbered_turns
from tests.support.service import running_service
from tests.support.session_api import flush, post_traces

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"

TWO, FAILED, PENDING, BILLING = (
    "sess-two-requests-001",
    "sess-tool-error-003",
    "sess-pending-006",
    "billing-1",
)
FLUSH_ORDER = [TWO, FAILED, PENDING, BILLING]
EXPECTED_STATUSES = {
    TWO: ["success", "success"],
    FAILED: ["failed"],
    PENDING: ["success", "pending"],
    BILLING: ["success", "success", "success", "pending"],
}
BILLING_TURNS = [*numbered_turns(3), Turn("Now pay the invoice INV-7 from the same account.")]


@dataclass(frozen=True)
class Server:
    base_url: str
    grpc: str


async def _populate(http: httpx.AsyncClient) -> None:
    for variant, name in (
        ("openinference", "two-requests"),
        ("openinference", "tool-error"),
        ("openai-v2-legacy", "pending"),
    ):
        await post_traces(http, (FIXTURES / variant / f"{name}.pb").read_bytes())
        logs = FIXTURES / variant / f"{name}.logs.pb"
        if logs.exists():
            response = await http.post(
                "/v1/logs",
                content=logs.read_bytes(),
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert response.status_code == 200, response.text
    await post_traces(http, chat_request(BILLING, BILLING_TURNS, service="billing"))
    for session_id in FLUSH_ORDER:
        await flush(http, session_id)


@contextlib.asynccontextmanager
async def populated_service(pg_dsn: str) -> AsyncIterator[Server]:
    async with running_service(pg_dsn) as service:
        base_url = f"http://{service.endpoints.http}"
        async with httpx.AsyncClient(base_url=base_url) as http:
            await _populate(http)
        yield Server(base_url, service.endpoints.grpc)
