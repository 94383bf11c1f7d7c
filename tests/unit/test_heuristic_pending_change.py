"""The heuristic extractor while a requested change is not made yet: the user's
answers, choices, confirmations and push-back stay in the task, and so do the
tool calls that follow them."""

from __future__ import annotations

import pytest

from tasktrace.extractor.heuristic import CONTEXT_MESSAGES
from tasktrace.model import StatusReason, TaskStatus
from tests.unit.heuristic_helpers import assistant, call, result, tasks_of, user

CHANGE = (
    user("Hi, I need to make some changes to my upcoming flight."),
    call("get_reservation_details", reservation_id="ABC123"),
    result("get_reservation_details", {"reservation_id": "ABC123", "cabin": "economy"}),
)


def _tools(progress: tuple[str, ...]) -> list[str]:
    return [s.split("(")[0] for s in progress]


def test_answering_what_to_change_stays_in_the_task_even_with_also() -> None:
    tasks = tasks_of(
        *CHANGE,
        assistant("Please let me know what changes you would like to make to this reservation."),
        user("I'd like to upgrade to business class. Also, I'd like to add 2 checked bags."),
        call("update_reservation_flights", reservation_id="ABC123", cabin="business"),
        result("update_reservation_flights", {"reservation_id": "ABC123", "cabin": "business"}),
        assistant("Your reservation has been upgraded to business class."),
    )
    assert len(tasks) == 1
    assert _tools(tasks[0].progress) == ["get_reservation_details", "update_reservation_flights"]


def _failed_try(card: str) -> tuple[dict[str, object], ...]:
    return (
        call("update_reservation_flights", reservation_id="ABC123", payment_id=card),
        result("update_reservation_flights", "Error: payment declined", error=True),
        assistant("The payment was declined. Would you like to use another card?"),
        user(f"Yes, let's use {card} for the transaction."),
    )


@pytest.mark.parametrize("tries", [0, CONTEXT_MESSAGES // 4 + 1])
def test_accepting_a_handoff_after_a_failed_change_stays_in_the_task(tries: int) -> None:
    """Also after so many retries that the request that opened the task is out of
    the extractor's sight."""
    tasks = tasks_of(
        user("Please change my flight to a nonstop one."),
        *[turn for n in range(tries) for turn in _failed_try(f"card_{n}")],
        call("update_reservation_flights", reservation_id="ABC123", flight="HAT1"),
        result("update_reservation_flights", "Error: payment declined", error=True),
        assistant("The payment failed. Would you like me to transfer you to a human agent?"),
        user("Sure, please transfer me to a human agent. Thank you!"),
        call("transfer_to_human_agents", summary="payment issue"),
        result("transfer_to_human_agents", "Transfer successful"),
    )
    assert len(tasks) == 1
    assert tasks[0].status is TaskStatus.FAILED
    assert tasks[0].status_reason == StatusReason.ESCALATED


def test_the_write_after_an_empty_note_and_a_confirmation_lands_on_the_task() -> None:
    tasks = tasks_of(
        user("I want to change my flight from EWR to a nonstop one on the same day."),
        call("search_direct_flight", origin="EWR", destination="LAX"),
        result("search_direct_flight", [{"flight_number": "HAT041", "price": 136}]),
        user("I'm willing to pay up to $100 for the change."),
        call("think", thought="136 is over the budget"),
        result("think", ""),
        assistant("The nonstop flight costs $136, which exceeds your budget of $100."),
        user("If I use my gift card, will that cover the difference?"),
        call("calculate", expression="136 - 100"),
        result("calculate", "36.0"),
        assistant(
            "Your gift card covers the difference. Would you like to proceed with this option?"
        ),
        user("Yes, let's go ahead and use the gift card. Thank you!"),
        call("update_reservation_flights", flight="HAT041", payment_id="gift_card_123"),
        result("update_reservation_flights", {"flight_number": "HAT041"}),
        assistant("Your reservation has been updated to the nonstop flight HAT041."),
    )
    assert len(tasks) == 1
    assert "update_reservation_flights" in _tools(tasks[0].progress)


def test_a_separate_request_marked_as_such_still_starts_a_task_while_a_change_waits() -> None:
    tasks = tasks_of(
        user("I need to cancel my hotel booking."),
        assistant("Could you give me the booking number?"),
        user("I don't have it now. Also, can you play some jazz?"),
        call("play_music", genre="jazz"),
        result("play_music", {"playing": "jazz"}),
        assistant("Now playing jazz."),
    )
    assert len(tasks) == 2
    assert _tools(tasks[1].progress) == ["play_music"]


def test_after_a_change_is_made_a_new_request_starts_a_task() -> None:
    tasks = tasks_of(
        user("Please book a table for two at Nopa tonight."),
        call("reserve_restaurant", restaurant="Nopa", party_size=2),
        result("reserve_restaurant", {"confirmation": "X1"}),
        assistant("Your table at Nopa is booked."),
        user("Great! Could you also book me a cab there?"),
        call("book_ride", destination="Nopa"),
        result("book_ride", {"ride": "R1"}),
        assistant("Your cab is booked."),
    )
    assert len(tasks) == 2


def test_a_change_asked_unprompted_inside_a_question_task_waits_for_its_write() -> None:
    tasks = tasks_of(
        user("Hi, I'd like to know the sum of my gift card balances, please."),
        assistant("I'm unable to provide information about your gift card balances."),
        user("Alright, I would like to change my reservation ABC123 to business class."),
        call("search_direct_flight", origin="JFK", destination="SFO"),
        result("search_direct_flight", [{"flight_number": "HAT1", "business": 800}]),
        assistant("Business class costs $800. Would you like to proceed with this change?"),
        user("Yes, please proceed."),
        call("update_reservation_flights", reservation_id="ABC123", cabin="business"),
    )
    assert len(tasks) == 1
    assert tasks[0].status is TaskStatus.RUNNING
    assert tasks[0].status_reason == StatusReason.IN_PROGRESS
    assert _tools(tasks[0].progress) == ["search_direct_flight", "update_reservation_flights"]


def test_an_answer_that_mentions_tickets_is_no_new_change_request() -> None:
    tasks = tasks_of(
        user("Will you find me some flights?"),
        assistant("Where are you leaving from and when?"),
        user("From NYC on March 7th. I need tickets for 1 person."),
        call("search_roundtrip_flights", origin="New York", passengers=1),
        result("search_roundtrip_flights", [{"airline": "Southwest", "price": 316}]),
        assistant("I found a Southwest flight for $316."),
        user("No. Will you find me oneway flights on Economy."),
        call("search_oneway_flight", origin="New York", seating_class="Economy"),
        result("search_oneway_flight", [{"airline": "Southwest", "price": 268}]),
        assistant("I found a Southwest flight for $268."),
    )
    assert tasks[0].status is TaskStatus.SUCCESS


def test_accepting_an_offer_of_an_action_the_user_already_asked_for_stays_in_the_task() -> None:
    tasks = tasks_of(
        user("Could we cancel my reservation ABC123 and book a new one in business class?"),
        call("cancel_reservation", reservation_id="ABC123"),
        result("cancel_reservation", {"reservation_id": "ABC123", "status": "cancelled"}),
        assistant("Your reservation is cancelled. Would you like to proceed with this booking?"),
        user("Yes, please proceed with this arrangement."),
        call("book_reservation", cabin="business"),
    )
    assert len(tasks) == 1
    assert tasks[0].status is TaskStatus.RUNNING
    assert _tools(tasks[0].progress) == ["cancel_reservation", "book_reservation"]


def _call_with_id(call_id: str, name: str, **arguments: object) -> dict[str, object]:
    return {
        "role": "assistant",
        "tool_calls": [{"id": call_id, "name": name, "arguments": arguments}],
    }


def _result_of(call_id: str, name: str, content: str, *, error: bool = False) -> dict[str, object]:
    return {
        "role": "tool",
        "tool_call_id": call_id,
        "name": name,
        "content": content,
        "error": error,
    }


def test_a_reused_call_id_does_not_make_a_look_up_count_as_a_write() -> None:
    tasks = tasks_of(
        user("I need to change my flight to a later one."),
        _call_with_id("c1", "get_reservation_details", reservation_id="ABC123"),
        _result_of("c1", "get_reservation_details", '{"reservation_id": "ABC123"}'),
        _call_with_id("c1", "update_reservation_flights", reservation_id="ABC123"),
        _result_of("c1", "update_reservation_flights", "Error: balance too low", error=True),
        assistant("The payment failed. Please let me know how you would like to proceed!"),
        user("Could you please use Gift Card 6276644, and then apply Gift Card 7091239?"),
        _call_with_id("c2", "update_reservation_flights", reservation_id="ABC123"),
    )
    assert len(tasks) == 1
