"""The heuristic extractor on requests that change something: the terms of the
change, several changes announced at once, a redo offer, numbered answers and
an assistant's conditional ask."""

from __future__ import annotations

from tasktrace.extractor import heuristic_cues as cues
from tasktrace.model import TaskStatus
from tests.unit.heuristic_helpers import assistant, call, result, tasks_of, user

RESERVATION = {"reservation_id": "ABC123", "origin": "DEN", "destination": "IAH"}


def test_a_change_drops_the_lookup_terms_it_does_not_carry() -> None:
    tasks = tasks_of(
        user("I need to change my flight from Denver to Houston to May 27, in economy."),
        call("search_direct_flight", origin="DEN", destination="IAH", date="2024-05-27"),
        result("search_direct_flight", [{"flight_number": "HAT1", "price": 120}]),
        assistant("HAT1 leaves at 9am and costs $120 in economy. Shall I change it?"),
        user("Yes, please."),
        call("update_reservation_flights", reservation_id="ABC123", cabin="economy"),
        result("update_reservation_flights", {**RESERVATION, "cabin": "economy"}),
        assistant("Your flight has been changed."),
    )
    (task,) = tasks
    assert "cabin=economy" in task.preferences
    assert not [p for p in task.preferences if p.startswith(("origin=", "destination="))]


def test_a_change_keeps_the_lookup_terms_it_carries() -> None:
    tasks = tasks_of(
        user("Please book a flight from DEN to IAH, economy, no insurance."),
        call("search_direct_flight", origin="DEN", destination="IAH"),
        result("search_direct_flight", [{"flight_number": "HAT1", "price": 120}]),
        assistant("HAT1 costs $120. Shall I book it?"),
        user("Yes, go ahead."),
        call("book_reservation", origin="DEN", destination="IAH", cabin="economy", insurance="no"),
        result("book_reservation", {"reservation_id": "XYZ", "origin": "DEN"}),
        assistant("Your flight is booked."),
    )
    (task,) = tasks
    assert {"origin=DEN", "destination=IAH", "cabin=economy"} <= set(task.preferences)


def test_a_lookup_alone_keeps_its_terms() -> None:
    tasks = tasks_of(
        user("Find me flights from DEN to IAH."),
        call("search_direct_flight", origin="DEN", destination="IAH"),
        result("search_direct_flight", [{"flight_number": "HAT1", "price": 120}]),
        assistant("HAT1 leaves at 9am and costs $120."),
    )
    assert {"origin=DEN", "destination=IAH"} <= set(tasks[0].preferences)


#: an upgrade made, then "also" a second change
UPGRADE_THEN_BAGS = (
    user("Please upgrade me to business class."),
    call("update_reservation_flights", reservation_id="ABC123", cabin="business"),
    result("update_reservation_flights", {**RESERVATION, "cabin": "business"}),
    assistant("You are now in business class."),
    user("Great, thank you! I also need to add 2 checked bags."),
    call("update_reservation_baggages", reservation_id="ABC123", total_baggages=2),
    result("update_reservation_baggages", {**RESERVATION, "total_baggages": 2}),
    assistant("Two checked bags have been added."),
)


def test_changes_announced_together_stay_one_task() -> None:
    tasks = tasks_of(
        user("Hi! I need to make some changes to my upcoming flight ABC123."),
        assistant("Sure. What would you like to change?"),
        *UPGRADE_THEN_BAGS,
    )
    assert len(tasks) == 1
    assert [s.split("(")[0] for s in tasks[0].progress] == [
        "update_reservation_flights",
        "update_reservation_baggages",
    ]


def test_a_single_change_then_another_with_also_is_two_tasks() -> None:
    tasks = tasks_of(
        user("Hi! I need to change my upcoming flight ABC123."),
        assistant("Sure. What would you like to change?"),
        *UPGRADE_THEN_BAGS,
    )
    assert len(tasks) == 2


def test_accepting_an_offer_to_redo_stays_in_the_task() -> None:
    tasks = tasks_of(
        user("Book the 7pm table at Luigi's and pay with my voucher."),
        call("book_table", restaurant="Luigi's", time="19:00"),
        result("book_table", {"booking": "B1", "paid_with": "card"}),
        assistant(
            "Booked! The voucher was not accepted, so your card was charged $40. If you like,"
            " I can try to apply the voucher again. Would you like me to do that?"
        ),
        user("Yes, please try the voucher for as much as it covers."),
        call("update_booking", booking="B1", payment="voucher"),
        result("update_booking", {"booking": "B1", "paid_with": "voucher"}),
        assistant("Done, the voucher now covers it."),
    )
    assert len(tasks) == 1
    assert tasks[0].status is TaskStatus.SUCCESS


def test_numbered_answers_state_no_counts() -> None:
    tasks = tasks_of(
        user("I want to book a flight from New York to Seattle."),
        assistant("1. One-way or round trip? 2. Cabin? 3. How many bags? 4. Insurance?"),
        user("1. One-way 2. Economy 3. It's just me. 4. No insurance."),
        call("book_reservation", origin="JFK", flight_type="one_way", total_baggages=3),
        result("book_reservation", {"reservation_id": "R1"}),
        assistant("Your flight is booked."),
    )
    assert "total_baggages=3" not in tasks[0].preferences
    assert "flight_type=one_way" in tasks[0].preferences


def test_a_conditional_ask_is_a_question() -> None:
    assert cues.is_question("If you can provide your user ID, I can look up your trips.")
    assert not cues.is_question("If you want, I looked up your trips already.")


def _booked_then(reply: str) -> TaskStatus:
    tasks = tasks_of(
        user("Book an appointment at the salon for 3:15 pm."),
        call("BookAppointment", stylist="Atelier", appointment_time="15:15"),
        result("BookAppointment", {"stylist": "Atelier", "appointment_time": "15:30"}),
        assistant(reply),
    )
    return tasks[-1].status


def test_offering_the_same_write_again_means_it_did_not_go_through() -> None:
    """Seen where a library records no tool error: the reply is all there is."""
    assert (
        _booked_then("Would you like me to book an appointment at 3:30 pm instead?")
        is TaskStatus.FAILED
    )
    assert _booked_then("You're booked! Would you like me to book a taxi there?") is (
        TaskStatus.SUCCESS
    )
