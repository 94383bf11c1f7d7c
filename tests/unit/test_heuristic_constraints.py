"""Constraints the user states in words become ``key=value`` preferences, also for
a request whose write call the agent never makes."""

from __future__ import annotations

import pytest

from tasktrace.extractor.heuristic_constraints import stated_constraints
from tasktrace.extractor.heuristic_prefs import new_preferences, stated_preferences
from tests.unit.heuristic_helpers import assistant, call, result, tasks_of, user


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Economy, please.", ["cabin=economy"]),
        ("I'd like to upgrade to business class.", ["cabin=business"]),
        ("It's just me traveling.", ["passengers=1"]),
        ("We are a group, so book it for 3 people.", ["passengers=3"]),
        ("No, I do not want travel insurance.", ["insurance=no"]),
        ("Please add travel insurance.", ["insurance=yes"]),
        ("I need to add 2 checked bags.", ["bags=2"]),
        ("I'll bring no bags.", ["bags=0"]),
        (
            "I want to use my certificates first, and then my 7447 card.",
            ["payment=certificate+credit_card"],
        ),
        ("Please use my gift card for the payment.", ["payment=gift_card"]),
        ("The cheapest Economy option that isn't Basic Economy.", ["cabin=economy"]),
        ("Change it to the cheapest business round trip.", ["cabin=business"]),
        ("I don't need insurance or baggage.", ["insurance=no", "bags=0"]),
        ("No, I need two seats.", ["passengers=2"]),
    ],
)
def test_a_stated_constraint_is_a_key_value_preference(text: str, expected: list[str]) -> None:
    assert list(stated_constraints(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The current ticket is in basic economy. Does that allow changes?",
        "I have travel insurance, so the fee should be waived.",
        "Could you tell me the sum of my gift card balances?",
        "I'm in business for myself.",
    ],
)
def test_a_fact_or_a_question_about_a_thing_is_no_constraint(text: str) -> None:
    assert list(stated_constraints(text)) == []


def test_a_later_clause_replaces_an_earlier_value_of_the_same_key() -> None:
    text = "I understand it's basic economy, but I'm willing to upgrade to economy."
    assert list(stated_constraints(text)) == ["cabin=economy"]


def test_constraints_said_in_answers_are_preferences_of_the_task_without_a_write_call() -> None:
    tasks = tasks_of(
        user("Hi! I'm looking to book a flight from New York to Seattle on May 20th."),
        assistant("Which cabin class would you like, and do you want travel insurance?"),
        user("Economy, and no insurance. It's just me."),
        assistant("I'm sorry, I cannot book that flight under our policy."),
    )
    assert len(tasks) == 1
    assert {"cabin=economy", "insurance=no", "passengers=1"} <= set(tasks[0].preferences)


def test_a_code_the_assistant_wrote_for_the_users_place_name_is_stated() -> None:
    texts = [
        (True, "I want to fly from New York to Seattle."),
        (False, "There are flights from New York (JFK) to Seattle (SEA)."),
    ]
    arguments = '{"origin": "JFK", "destination": "SEA", "flight": "HAT069"}'
    assert list(stated_preferences(arguments, texts)) == ["origin=JFK", "destination=SEA"]


def test_a_code_the_user_never_named_is_not_stated() -> None:
    texts = [(True, "Book the first one."), (False, "Flight HAT1 leaves Boston (BOS).")]
    assert list(stated_preferences('{"origin": "BOS"}', texts)) == []


def test_the_id_of_a_record_is_not_a_preference() -> None:
    texts = [(True, "Please cancel reservation HXDUBJ.")]
    assert list(stated_preferences('{"reservation_id": "HXDUBJ"}', texts)) == []


def test_a_value_already_held_under_the_same_key_adds_nothing() -> None:
    known = ("payment=certificate+credit_card", "date=2024-05-20")
    candidates = ["payment=certificate", "flights.date=2024-05-20", "cabin=economy"]
    assert new_preferences(candidates, known) == ["cabin=economy"]


def test_a_write_call_does_not_narrow_the_payment_the_user_stated() -> None:
    tasks = tasks_of(
        user("Please book the flight. I'll use my certificate first, then my credit card."),
        call("book_reservation", payment_id="certificate_123", cabin="economy"),
        result("book_reservation", {"reservation_id": "R1"}),
        assistant("Your flight is booked."),
    )
    assert "payment=certificate+credit_card" in tasks[0].preferences
    assert "payment=certificate" not in tasks[0].preferences


def test_a_tool_argument_restating_a_constraint_replaces_it_in_the_tools_spelling() -> None:
    known = ("cabin=premium_economy", "passengers=2")
    candidates = ["seating_class=Premium Economy", "number_of_seats=2", "cabin=premium_economy"]
    assert new_preferences(candidates, known) == ["cabin=Premium Economy", "number_of_seats=2"]


def test_one_way_is_not_a_count_of_one() -> None:
    texts = [(True, "Find me a one-way flight to Chicago.")]
    assert list(stated_preferences('{"passengers": "1", "city": "Chicago"}', texts)) == [
        "city=Chicago"
    ]


def test_the_options_of_a_write_the_user_said_yes_to_are_preferences() -> None:
    tasks = tasks_of(
        user("I'd like to book the flight we discussed."),
        assistant("To confirm: economy, paid with your gift card, no bags. Shall I book it?"),
        user("Yes, please proceed."),
        call(
            "book_reservation",
            cabin="economy",
            payment_id="gift_card_7091239",
            total_baggages=0,
            flight_number="HAT069",
            amount=5,
        ),
    )
    assert {"cabin=economy", "payment=gift_card", "total_baggages=0"} <= set(tasks[0].preferences)
    assert not any(p.startswith(("flight_number", "amount")) for p in tasks[0].preferences)


def test_a_write_made_without_the_users_yes_gives_no_agreed_terms() -> None:
    tasks = tasks_of(
        user("I'd like to book the flight we discussed."),
        call("book_reservation", cabin="economy", total_baggages=0),
    )
    assert tasks[0].preferences == ()


def test_the_number_of_people_a_write_the_user_agreed_to_is_for_is_a_preference() -> None:
    tasks = tasks_of(
        user("Please book the flight for me and my husband."),
        assistant("Two passengers, Ann and Bob Lee. Shall I book it?"),
        user("Yes, go ahead."),
        call(
            "book_reservation",
            passengers=[{"first_name": "Ann"}, {"first_name": "Bob"}],
            flight_number="HAT069",
        ),
    )
    assert "passengers=2" in tasks[0].preferences
