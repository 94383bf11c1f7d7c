"""Ingest reads what the store knows of a batch in one store call (one round
trip), however many traces and sessions the batch holds, and nothing more while
it plans; the write gets what the lookup found."""

from __future__ import annotations

from collections.abc import Sequence

from tasktrace.model import Message
from tasktrace.receiver.batch import BatchContent, merge_batches, read_batch
from tasktrace.receiver.ingest import Ingestor
from tasktrace.receiver.otlp_decode import iter_spans, parse_trace_request
from tasktrace.records import Lookup, TranscriptState, WritePlan
from tests.support.otlp_traffic import fixture, session_of

CONVERSATIONS = ("three-tools", "tool-error")


class CountingStore:
    """A store that knows nothing and counts what ingest asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lookups: list[tuple[list[str], list[str], list[bytes]]] = []
        self.plans: list[WritePlan] = []

    async def lookup(
        self, trace_ids: Sequence[str], session_ids: Sequence[str], chains: Sequence[bytes]
    ) -> Lookup:
        self.calls.append("lookup")
        self.lookups.append((list(trace_ids), list(session_ids), list(chains)))
        return Lookup()

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        self.calls.append("find_tails")
        return {}

    async def load_transcript(
        self, session_id: str
    ) -> tuple[TranscriptState, list[Message]] | None:
        self.calls.append("load_transcript")
        return None

    async def write(self, plan: WritePlan) -> None:
        self.calls.append("write")
        self.plans.append(plan)


def batch_of(*conversations: str) -> BatchContent:
    return merge_batches(
        [
            read_batch(list(iter_spans(parse_trace_request(fixture(name)))), [])
            for name in conversations
        ]
    )


async def test_one_lookup_then_one_write_for_a_batch_of_several_sessions() -> None:
    store = CountingStore()
    batch = batch_of(*CONVERSATIONS)
    plan = await Ingestor(store).ingest(batch)
    assert store.calls == ["lookup", "write"]
    traces, sessions, _ = store.lookups[0]
    assert sorted(traces) == sorted(batch.traces)
    assert sorted(sessions) == sorted(session_of(name) for name in CONVERSATIONS)
    assert {m.session_id for m, _ in plan.messages} == set(sessions)


async def test_what_memory_holds_is_not_looked_up_again() -> None:
    store = CountingStore()
    ingestor = Ingestor(store)
    await ingestor.ingest(batch_of("three-tools"))
    await ingestor.ingest(batch_of("three-tools"))  # a re-send: all known by now
    assert store.calls == ["lookup", "write", "write"]
