"""Issue 18's travel agent through a real server, as two libraries send it: a
flight booked with a seat preference for the whole trip, a return booking whose
tool throws, then an unrelated hotel search. The failed task stays failed with
its own trace and messages; the stated preference reaches the return booking."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tasktrace.evaluation.dataset import parse_conversation
from tasktrace.evaluation.replay import encode
from tests.support.session_api import PROTOBUF, flush, service_api, task_list

SESSION = "travel-agent-18"
WHOLE_TRIP = "I prefer a window seat for the whole trip"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "tool_calls": [{"name": name, "arguments": arguments}]}


def result(name: str, content: str, *, error: bool = False) -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": content, "error": error}


TURNS = [
    {"role": "user", "content": f"Book me a flight from Boston to Lisbon on May 3. {WHOLE_TRIP}."},
    call("book_flight", origin="Boston", destination="Lisbon", seat="window"),
    result("book_flight", '{"confirmation": "ABC123"}'),
    {"role": "assistant", "content": "Your flight is booked, confirmation ABC123, window seat."},
    {"role": "user", "content": "Now book the return flight from Lisbon to Boston on May 10."},
    call("book_flight", origin="Lisbon", destination="Boston"),
    result("book_flight", "RuntimeError: booking backend unavailable", error=True),
    {
        "role": "assistant",
        "content": "I'm sorry, the booking system failed. Would you like me to try later?",
    },
    {"role": "user", "content": "Can you find me a hotel in Lisbon for May 3 to May 10?"},
    call("search_hotels", city="Lisbon"),
    result("search_hotels", '[{"name": "Hotel Avenida", "price": 120}]'),
    {"role": "assistant", "content": "I found Hotel Avenida for $120 a night."},
]


async def send(http: httpx.AsyncClient, library: str, session: str) -> None:
    conversation = parse_conversation({"id": session, "session_id": session, "turns": TURNS})
    for kind, body in encode(library, conversation):
        response = await http.post(f"/v1/{kind}", content=body, headers={"Content-Type": PROTOBUF})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("library", ["genai", "openinference"])
async def test_a_new_request_leaves_the_failed_task_alone_and_the_trip_preference_carries(
    pg_dsn: str, library: str
) -> None:
    session = f"{SESSION}-{library}"
    async with service_api(pg_dsn) as http:
        await send(http, library, session)
        await flush(http, session)
        flight, back, hotel = await task_list(http, session)

    assert (back["status"], back["status_reason"]) == ("failed", "tool_error"), back
    assert back["history"][-1]["status"] == "failed", back["history"]
    assert "new request" not in back["history"][-1]["reason"], back["history"]
    assert (hotel["status"], hotel["status_reason"]) == ("success", "completed"), hotel
    assert hotel["description"].startswith("Can you find me a hotel")
    # one trace per request, each in one task only
    traces = [set(t["trace_ids"]) for t in (flight, back, hotel)]
    assert all(len(t) == 1 for t in traces), traces
    assert len(set.union(*traces)) == 3
    assert set(back["message_ids"]).isdisjoint(hotel["message_ids"])
    assert WHOLE_TRIP in back["preferences"], back["preferences"]
    assert flight["status"] == "success"
