"""Constraints a user states in words, as ``key=value`` preferences. Pure.

Tool arguments give preferences only when the agent makes a call (see
``heuristic_prefs``); a user also states what they want before any call, or for
a call the agent never makes: "economy", "no insurance", "it's just
me", "I'll use my gift card, then my card", "3 checked bags". Each entry of
:data:`CONSTRAINTS` is a key, the clause test that says the clause is about it,
and the value the clause gives. A clause that states a fact about what the user
already has ("my current ticket is basic economy", "I have insurance") gives
nothing. Values are ``snake_case``; a key with several values said together
("certificates first, then my gift card") joins them with ``+``, in the order
said.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from tasktrace.extractor.heuristic_cues import NUMBER_WORDS


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CLAUSES = re.compile(r"(?<=[.!?;\n])\s+|\n+|,?\s+\bbut\b\s+|\s*\(\s*|\)\s*")
#: the clause states what the user has now, not what they want
_FACT = _rx(
    r"\b(current(ly)?|original(ly)?|right now|already|i have|i had|i've got|i bought"
    r"|(it|this|that|which) (is|was)|it'?s|booked (in|as))\b"
)
_COUNT = r"(?P<n>\d+|no|zero|one|two|three|four|five|six|seven|eight|nine|ten|a single|an extra)"
_COUNTS = {**NUMBER_WORDS, "no": 0, "zero": 0, "a single": 1, "an extra": 1}


@dataclass(frozen=True, slots=True)
class Choice:
    """One value of a key, said when ``pattern`` matches the clause."""

    value: str
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Constraint:
    """A key whose values are picked from a clause; ``facts`` keeps clauses that
    state a fact (for keys where that is how a wish is said: "it's just me")."""

    key: str
    value_of: Callable[[str], str]
    facts: bool = False


#: words just before a choice that rule it out ("that isn't basic economy")
_NEGATED = _rx(r"\b(not|isn'?t|aren'?t|no|without|except|other than|rather than|instead of)\s+$")


def _said(pattern: re.Pattern[str], clause: str) -> re.Match[str] | None:
    """The first match of ``pattern`` in ``clause`` that is not ruled out."""
    return next(
        (m for m in pattern.finditer(clause) if not _NEGATED.search(clause[: m.start()])), None
    )


def _choices(*choices: Choice, about: re.Pattern[str] | None = None) -> Callable[[str], str]:
    """Values of every choice said in the clause, in the order said, joined by ``+``."""

    def value_of(clause: str) -> str:
        if about is not None and not about.search(clause):
            return ""
        found: list[tuple[int, str]] = []
        for choice in choices:
            match = _said(choice.pattern, clause)
            if match and all(v != choice.value for _, v in found):
                found.append((match.start(), choice.value))
        return "+".join(v for _, v in sorted(found))

    return value_of


def _first(*choices: Choice, about: re.Pattern[str] | None = None) -> Callable[[str], str]:
    """The value of the first choice that matches (choices that exclude each other)."""

    def value_of(clause: str) -> str:
        if about is not None and not about.search(clause):
            return ""
        return next((c.value for c in choices if _said(c.pattern, clause)), "")

    return value_of


def _counted(noun: str) -> Callable[[str], str]:
    """The number said before ``noun`` ("3 checked bags"; "no bags", "I don't need
    baggage": 0)."""
    pattern = _rx(rf"\b{_COUNT}\s+(?:\w+\s+)?(?:{noun})\b")
    none = _rx(rf"\b(don'?t|do not) (need|want|have|bring)\b[^.?!]{{0,30}}\b({noun})\b")

    def value_of(clause: str) -> str:
        match = pattern.search(clause)
        if match is None:
            return "0" if none.search(clause) else ""
        n = match.group("n").casefold()
        return n if n.isdigit() else str(_COUNTS[n])

    return value_of


_CABIN = _first(
    Choice("basic_economy", _rx(r"\bbasic[- ]economy\b")),
    Choice("premium_economy", _rx(r"\bpremium[- ]economy\b")),
    Choice("economy", _rx(r"\beconomy\b(?! (extra|plus))")),
    Choice(
        "business",
        _rx(
            r"\bbusiness[- ]class\b|\bbusiness (round|one|seats?|fares?|tickets?|cabin)\b"
            r"|\b(to|fly|book|cheapest|in a) business\b(?! (trip|meeting|hours|day))"
        ),
    ),
    Choice("first", _rx(r"\bfirst[- ]class\b")),
)
_PAYMENT = _choices(
    Choice("certificate", _rx(r"\bcertificates?\b")),
    Choice("voucher", _rx(r"\bvouchers?\b")),
    Choice("gift_card", _rx(r"\bgift ?cards?\b")),
    Choice("debit_card", _rx(r"\bdebit ?cards?\b")),
    Choice(
        "credit_card",
        _rx(
            r"\bcredit ?cards?\b|\bmaster ?card\b|\bvisa\b|\bamex\b|\b\d{4} card\b"
            r"|\bcard ending\b"
        ),
    ),
    Choice("paypal", _rx(r"\bpaypal\b")),
    Choice("points", _rx(r"\b(miles|points)\b")),
    about=_rx(r"\b(use|using|pay|paying|payment|charge|charged|apply|cover|put it on|with my)\b"),
)
_INSURANCE = _first(
    Choice(
        "no",
        _rx(
            r"\b(no|not|don'?t|do not|without|skip|decline|none|pass on)\b[^.?!]*\binsurance\b"
            r"|\binsurance\b[^.?!]*\b(no|not needed|isn'?t needed)\b"
        ),
    ),
    Choice("yes", _rx(r"\b(want|add|with|include|purchase|buy|get|take)\b[^.?!]*\binsurance\b")),
    about=_rx(r"\binsurance\b"),
)
_SOLO = _rx(
    r"\b(just|only) (me|myself)\b|\bby myself\b|\b(travell?ing|flying|going) alone\b|\bsolo\b"
)
_GROUP = _counted("people|persons?|passengers|adults|travell?ers|of us|seats?|tickets?")


def _passengers(clause: str) -> str:
    return "1" if _SOLO.search(clause) else _GROUP(clause)


#: the constraints recognised in a user's words; general terms of travel and shopping
CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("cabin", _CABIN),
    Constraint("payment", _PAYMENT),
    Constraint("insurance", _INSURANCE),
    Constraint("bags", _counted("bags?|baggages?|luggage|suitcases?")),
    Constraint("passengers", _passengers, facts=True),
)

CONSTRAINT_KEYS = frozenset(c.key for c in CONSTRAINTS)
#: distinct texts whose constraints are kept (a bounded LRU)
CONSTRAINTS_CACHE = 1024

#: words of tool argument names for the terms a user agrees to when saying yes to a
#: write (see ``heuristic_prefs.agreed_terms``): the kinds of terms above, and the trip
#: type, which is not read from words as search tools often carry it in their name
#: (``search_oneway_flight``): said in words it would be a second copy of the search
TERM_ARGUMENTS = frozenset(
    [
        "cabin",
        "class",
        "seating",
        "payment",
        "insurance",
        "trip",
        "flight_type",
        "bag",
        "baggage",
        "luggage",
        "suitcase",
    ]
)
#: words of argument names that list the people a write is for (their number is a term)
PEOPLE_ARGUMENTS = frozenset(["passenger", "traveler", "traveller", "guest", "attendee"])


@functools.lru_cache(maxsize=CONSTRAINTS_CACHE)
def stated_constraints(text: str) -> tuple[str, ...]:
    """``key=value`` for each constraint the user states in ``text``; a key said in
    several clauses takes its last value. Cached: a task's user messages are read
    again at each of its tool calls."""
    said: dict[str, str] = {}
    for clause in _CLAUSES.split(text):
        if not clause or not clause.strip():
            continue
        fact = bool(_FACT.search(clause))
        for constraint in CONSTRAINTS:
            if fact and not constraint.facts:
                continue
            value = constraint.value_of(clause)
            if value:
                said[constraint.key] = value
    return tuple(f"{key}={value}" for key, value in said.items())
