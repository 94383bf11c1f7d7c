"""``Every``: the rate limit of repeated log lines, and its count of what it held back."""

from __future__ import annotations

from tasktrace.durations import Every


def test_every_says_yes_once_per_interval() -> None:
    every = Every(10.0)
    assert [every.due(t) for t in (0.0, 1.0, 9.9, 10.0, 15.0, 20.5)] == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]


def test_asked_if_due_counts_the_calls_since_the_last_yes() -> None:
    every = Every(10.0)
    assert every.asked_if_due(0.0) == 1
    assert [every.asked_if_due(t) for t in (1.0, 2.0, 3.0)] == [0, 0, 0]
    assert every.asked_if_due(12.0) == 4  # this call and the three held back
    assert every.asked_if_due(30.0) == 1
