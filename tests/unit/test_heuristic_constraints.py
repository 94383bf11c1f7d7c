"""Constraints the user states in words become ``key=value`` preferences, also for
a request whose write call the agent never makes."""

from __future__ import annotations

import pytest

from tasktrace.extractor.heuristic_constraints import stated_constraints
from tests.unit.heuristic_helpers import assistant, tasks_of, user


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
