"""The tasks an extractor hands back with its ops (``ExtractionResult.tasks``) are
the ones applying its ops gives: the scheduler stores them instead of applying
the ops a second time."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tasktrace.extractor.apply import tasks_after
from tasktrace.extractor.base import ExtractionInput, ExtractionResult
from tasktrace.extractor.heuristic import CONTEXT_MESSAGES, HeuristicExtractor
from tasktrace.extractor.redacting import RedactingExtractor
from tasktrace.model import Message, Task, TaskStatus
from tasktrace.redaction import parse_redaction
from tests.unit.heuristic_helpers import NOW, assistant, call, messages, result, user

CONVERSATION = messages(
    user("What's the capital of Australia?"),
    assistant("The capital of Australia is Canberra."),
    user("Thanks. Now convert 250 AUD to EUR for me, I prefer the mid-market rate."),
    call("convert_currency", amount=250, from_currency="AUD", to_currency="EUR"),
    result("convert_currency", {"amount": 152.75}),
    assistant("250 AUD is about 152.75 EUR."),
    user("Book me a table for 4 in Rome on Friday."),
    call("book_table", city="Rome", people=4, day="Friday"),
    result("book_table", "error: no tables left", error=True),
    assistant("Sorry, I could not book a table: none are left on Friday."),
    user("Then cancel my hotel booking in Rome instead."),
    call("cancel_booking", city="Rome"),
    result("cancel_booking", {"status": "cancelled"}),
    assistant("Your hotel booking in Rome is cancelled."),
)


def _request(
    msgs: tuple[Message, ...], start: int, size: int, tasks: tuple[Task, ...]
) -> ExtractionInput:
    return ExtractionInput(
        session_id="s1",
        tasks=tasks,
        messages=msgs[start : start + size],
        now=NOW,
        context=msgs[max(0, start - CONTEXT_MESSAGES) : start],
    )


@pytest.mark.parametrize("size", [1, 3, 5, len(CONVERSATION)])
def test_the_heuristics_tasks_are_its_ops_applied_chunk_by_chunk(size: int) -> None:
    extractor = HeuristicExtractor()
    tasks: tuple[Task, ...] = ()
    for start in range(0, len(CONVERSATION), size):
        request = _request(CONVERSATION, start, size, tasks)
        got = asyncio.run(extractor.extract(request))
        assert got.tasks is not None
        applied = tasks_after(request, replace(got, tasks=None), extractor.name)
        assert got.tasks == applied
        tasks = got.tasks
    assert len(tasks) >= 3
    assert {t.status for t in tasks} >= {TaskStatus.SUCCESS, TaskStatus.FAILED}


def test_tasks_after_uses_the_extractors_tasks_when_it_gives_them() -> None:
    request = _request(CONVERSATION, 0, 2, ())
    ops = asyncio.run(HeuristicExtractor().extract(request)).ops
    applied = tasks_after(request, ExtractionResult(ops=ops), "heuristic")
    (task,) = applied
    given = (replace(task, description="as the extractor had it"),)
    assert tasks_after(request, ExtractionResult(ops=ops, tasks=given), "heuristic") == given


def test_a_redacting_extractor_hands_back_no_tasks_of_the_redacted_view() -> None:
    redaction = parse_redaction({})
    assert redaction is not None
    extractor = RedactingExtractor(HeuristicExtractor(), redaction)
    request = _request(CONVERSATION, 0, len(CONVERSATION), ())
    got = asyncio.run(extractor.extract(request))
    assert got.ops
    assert got.tasks is None
