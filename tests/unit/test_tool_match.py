"""Pairing tool spans with tool results, and the error signs a result carries itself."""

from __future__ import annotations

import pytest

from tasktrace.model import Message, Role, ToolCall, ToolRun
from tasktrace.receiver.tool_match import ToolLedger, reports_error


def asking(seq: int, call_id: str, name: str) -> Message:
    call = ToolCall(call_id, name)
    return Message(f"m{seq}", "s", seq, Role.ASSISTANT, tool_calls=(call,))


def result(seq: int, call_id: str) -> Message:
    return Message(f"m{seq}", "s", seq, Role.TOOL, "{}", tool_call_id=call_id)


def test_a_call_id_the_model_reuses_pairs_only_with_a_run_of_the_same_tool() -> None:
    ledger = ToolLedger()
    ledger.on_message(asking(0, "call_1", "search_flights"))
    assert not ledger.on_message(result(1, "call_1"))
    ledger.on_message(asking(2, "call_1", "book_reservation"))
    assert not ledger.on_message(result(3, "call_1"))
    # the failed booking marks the booking's result, not the search's
    assert ledger.on_run(ToolRun("book_reservation", call_id="call_1", error=True)) == [3]


def test_runs_not_paired_yet_are_handed_over_once() -> None:
    ledger = ToolLedger()
    run = ToolRun("book_reservation", call_id="call_9", error=True)
    assert ledger.on_run(run) == []
    assert ledger.take_runs() == [run]
    assert ledger.take_runs() == []
    target = ToolLedger()
    target.on_message(asking(0, "call_9", "book_reservation"))
    target.on_message(result(1, "call_9"))
    assert target.on_run(run) == [1]


@pytest.mark.parametrize(
    "text",
    [
        "Error: not enough seats on flight HAT229",
        "error: payment amount does not add up",
        "  Exception: timeout",
        '{"error": "reservation not found"}',
    ],
)
def test_a_result_that_says_it_failed_reports_an_error(text: str) -> None:
    assert reports_error(text)


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"error": null, "status": "ok"}',
        '{"flights": [], "errors_seen": 0}',
        "No error: all seats confirmed",
        "Errors are listed below",
        "{not json",
    ],
)
def test_a_result_that_only_mentions_errors_does_not(text: str) -> None:
    assert not reports_error(text)


def test_a_run_not_paired_yet_survives_dump_and_restore_and_flags_its_result() -> None:
    here = ToolLedger()
    here.on_message(asking(0, "call_1", "deploy"))
    assert here.on_run(ToolRun("deploy", call_id="call_1", error=True)) == []

    elsewhere = ToolLedger.restore(here.dump(), [asking(0, "call_1", "deploy")])

    assert elsewhere.on_message(result(1, "call_1")) is True


def test_a_result_not_paired_yet_survives_dump_and_restore_and_is_flagged_by_its_run() -> None:
    here = ToolLedger()
    stored = [asking(0, "call_1", "deploy"), result(1, "call_1")]
    for message in stored:
        here.on_message(message)

    elsewhere = ToolLedger.restore(here.dump(), stored)

    assert elsewhere.on_run(ToolRun("deploy", call_id="call_1", error=True)) == [1]
    assert ToolLedger().dump() == ""
