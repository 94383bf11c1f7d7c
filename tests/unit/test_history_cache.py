"""The history cache reads a growing history exactly as a full read does."""

from __future__ import annotations

import json
import random

import pytest

from tasktrace.receiver.dialects._history import HistoryCache
from tasktrace.receiver.dialects._parts import _history, read_messages


def _random_item(rng: random.Random, turn: int) -> dict[str, object]:
    call_id = f"c{rng.randrange(6)}"
    kind = rng.randrange(9)
    if kind == 0:
        return {"role": "user", "parts": [{"type": "text", "content": f"ask {turn}"}]}
    if kind == 1:
        return {"role": "assistant", "parts": [{"type": "text", "content": f"answer {turn}"}]}
    if kind == 2:
        part = {
            "type": "tool_call",
            "id": call_id,
            "name": f"t{turn % 3}",
            "arguments": {"x": turn},
        }
        return {"role": "assistant", "parts": [part]}
    if kind == 3:
        part = {"type": "tool_call_response", "id": call_id, "response": f"r{turn}"}
        return {"role": "tool", "parts": [part]}
    if kind == 4:
        return {"role": "tool", "tool_call_id": rng.choice(["", call_id]), "content": "plain"}
    if kind == 5:
        return {"role": "system", "parts": [{"type": "text", "content": "be brief"}]}
    if kind == 6:
        return {"role": "assistant", "parts": []}
    if kind == 7:
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": call_id, "function": {"name": "f"}}],
        }
    return {"role": "user", "parts": [{"type": "text", "content": f"more {turn}"}]}


def _full(text: str, system: str) -> tuple[object, ...] | None:
    messages = read_messages(text)
    return _history(messages, system) if messages else None


@pytest.mark.parametrize("seed", range(60))
def test_a_growing_history_reads_the_same_as_a_full_read(seed: int) -> None:
    rng = random.Random(seed)
    cache = HistoryCache(read_messages)
    system = rng.choice(["", "You help."])
    items: list[dict[str, object]] = []
    for turn in range(25):
        items.extend(_random_item(rng, turn) for _ in range(rng.randrange(1, 4)))
        separators = rng.choice([(",", ":"), (", ", ": ")])
        text = json.dumps(items, separators=separators)
        assert cache.tidied("k", text, system) == _full(text, system)


def test_a_history_that_does_not_extend_the_last_one_is_read_in_full() -> None:
    cache = HistoryCache(read_messages)
    first = json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    other = json.dumps([{"role": "user", "content": "x"}])
    assert cache.tidied("k", first, "") == _full(first, "")
    assert cache.tidied("k", other, "") == _full(other, "")
    assert cache.tidied("k", first[:-1] + ",]", "") is None


def test_the_cache_keeps_at_most_its_bound() -> None:
    cache = HistoryCache(read_messages, max_entries=3)
    for i in range(10):
        cache.tidied(str(i), json.dumps([{"role": "user", "content": str(i)}]), "")
    assert len(cache._entries) == 3
