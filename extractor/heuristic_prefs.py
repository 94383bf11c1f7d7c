"""Which tool arguments the user stated: the heuristic's preferences. Pure.

A tool argument is a preference of the task when its value is something the
user said in that task's messages before the assistant did: literally (case
and plural folded), by its long words, whole or cut short ("Vegas", "San
Fran"), by its initials in capitals ("SF", "NYC"), as a number however written
("3.6" for 3.60, "1,790") or a number word, as a date or time expression
for ISO dates and ``HH:MM`` times, or, for booleans, by naming the argument
("pets" for ``pets_allowed=true``). Values the assistant offered first (an
item picked from its results) and values from earlier tasks are not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from tasktrace.extractor.heuristic_constraints import (
    CONSTRAINT_KEYS,
    PEOPLE_ARGUMENTS,
    TERM_ARGUMENTS,
)
from tasktrace.extractor.heuristic_cues import NUMBER_WORDS, words
from tasktrace.extractor.tool_steps import argument_items, arguments_object

#: the last distinct checks of a task's words kept (bounded LRUs): their keys hold a
#: task's user text, so few (the repeats come within a message and the next ones)
PREFERENCES_CACHE = 256

_NUMBER_WORDS = {
    **NUMBER_WORDS,
    "single": 1,
    "couple": 2,
    "solo": 1,
    "alone": 1,
    "myself": 1,
    "just me": 1,
    "me and": 2,
    "both": 2,
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_WORDS = re.compile(
    r"\b(today|tomorrow|tonight|yesterday|day after|next week|this week|weekend|next month"
    r"|this month|(mon|tues|wednes|thurs|fri|satur|sun)day|jan(uary)?|feb(ruary)?|march|mar"
    r"|april|apr|may|june?|july?|aug(ust)?|sep(tember)?|oct(ober)?|nov(ember)?|dec(ember)?"
    r"|\d{1,2}(st|nd|rd|th)|\d{1,2}/\d{1,2}|\d{4}-\d{2}-\d{2})\b",
    re.IGNORECASE,
)
_TIME_WORDS = re.compile(
    r"(\b\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)|\bo'?clock\b|\bnoon\b|\bmidnight\b|\bmorning\b"
    r"|\bafternoon\b|\bevening\b|\bnight\b|\bhalf past\b|\bquarter\b|\b\d{1,2}:\d{2}\b|\bh\d{2}\b)",
    re.IGNORECASE,
)
_WRITTEN_NUMBER = re.compile(
    r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,]|\.\d)|(?<![\w.,])\d+\.\d+(?![\w]|\.\d)"
)
_ACRONYM = re.compile(r"\b[A-Z]{2,4}\b")
_SKIP_VALUES = frozenset({"dontcare", "none", "null", "any", ""})


def _has_phrase(text: str, phrase: str) -> bool:
    return _phrase_pattern(phrase).search(text) is not None


@functools.lru_cache(maxsize=4096)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """``phrase`` as a whole phrase; cached: values recur far more often than
    ``re``'s own cache of 512 patterns holds."""
    return re.compile(rf"(?<![\w]){re.escape(phrase)}(?![\w])")


def _number_stated(value: str, text: str) -> bool:
    text = _without_list_markers(text)
    if _has_phrase(text, value):
        return True
    try:
        number = float(value)
    except ValueError:
        return False
    # the same number written otherwise: "3.6" for 3.60, "1,790" for 1790
    if any(float(n.replace(",", "")) == number for n in _WRITTEN_NUMBER.findall(text)):
        return True
    # "one-way", "one of them", "the one": no count
    text = _NOT_A_COUNT.sub(" ", text)
    return any(n == number and _has_phrase(text, w) for w, n in _NUMBER_WORDS.items())


def _without_list_markers(text: str) -> str:
    """``text`` without the numbers of a numbered list ("1. One-way 2. Economy"): the
    user numbers the answers to the assistant's questions, and counts nothing."""
    numbers = {m.group(1) for m in _LIST_MARKER.finditer(text)}
    return _LIST_MARKER.sub(" ", text) if {"1", "2"} <= numbers else text


_LIST_MARKER = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)](?=\s)")
_NOT_A_COUNT = re.compile(r"\bone[- ]way\b|\bone (of|more|another)\b|\b(the|this|that|which) one\b")


_RELATIVE_DAY = re.compile(
    r"\b(today|tomorrow|tonight|day after|next week|this week|weekend"
    r"|(mon|tues|wednes|thurs|fri|satur|sun)day)\b"
)
_ORDINALS = (
    "",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
)
_WORDS = {
    n: w
    for w, n in _NUMBER_WORDS.items()
    if w.isalpha() and n > 0 and w not in ("single", "couple", "solo", "alone", "myself", "both")
}


def _said_number(text: str, n: int) -> bool:
    return _has_phrase(text, str(n)) or (n in _WORDS and _has_phrase(text, _WORDS[n]))


def _date_stated(value: str, text: str) -> bool:
    """An ISO date is stated by its day of month ("the 10th", "March 10") or a
    relative day ("tomorrow", "next Friday"), which cannot be checked without a calendar."""
    day = int(value[8:10])
    if re.search(rf"(?<!\d){day}(st|nd|rd|th)?\b", text) or _RELATIVE_DAY.search(text):
        return True
    return day < len(_ORDINALS) and _has_phrase(text, _ORDINALS[day])


def _time_stated(value: str, text: str) -> bool:
    """``HH:MM`` is stated when its hour (12- or 24-hour) is said, and, unless it
    is on the hour, its minutes or "half"/"quarter"."""
    hour, minute = int(value[:2]), int(value[3:5])
    hours = {hour, hour % 12 or 12}
    if not any(_said_number(text, h) or re.search(rf"(?<!\d){h}:\d\d", text) for h in hours):
        return "noon" in text and hour == 12
    if minute == 0:
        return True
    if minute in (15, 30, 45) and re.search(r"\b(half|quarter)\b", text):
        return True
    return re.search(rf":{minute:02d}\b|\b{minute}\b", text) is not None


@functools.lru_cache(maxsize=PREFERENCES_CACHE)
def value_stated(key: str, value: str, said: str) -> bool:
    """Whether the user's words ``said`` state ``key=value``. Cached: a task's
    calls repeat their arguments, checked against the same words."""
    v = value.casefold().strip()
    text = said.casefold()
    if v in _SKIP_VALUES:
        return False
    if _ISO_DATE.match(v):
        return _says(_DATE_WORDS, text) and _date_stated(v, text)
    if _TIME.match(v):
        return _says(_TIME_WORDS, text) and _time_stated(v, text)
    if _NUMBER.match(v):
        return _number_stated(v, text)
    if v in ("true", "false"):
        key_words = [w for w in words(key.rsplit(".", 1)[-1]) if len(w) >= 3]
        return any(_has_phrase(text, w) for w in key_words) or any(w in text for w in key_words)
    return _has_phrase(text, v) or _words_stated(v, text) or _acronym_stated(v, said)


@functools.lru_cache(maxsize=PREFERENCES_CACHE)
def _says(words_of: re.Pattern[str], text: str) -> bool:
    """``text`` has one of ``words_of`` (a date's or a time's words); once per text,
    not once per argument: the scan of a long text for none of them is the slow one."""
    return words_of.search(text) is not None


def _words_stated(value: str, text: str) -> bool:
    """Every long word of ``value`` is said, whole or cut short ("San Fran", "Vegas")."""
    value_words = [w for w in words(value) if len(w) >= 3]
    needed = [w for w in value_words if len(w) >= 4] or value_words
    text_words, cut = _text_words(text)
    return bool(needed) and all(w in text_words or w.startswith(cut) for w in needed)


@functools.lru_cache(maxsize=PREFERENCES_CACHE)
def _text_words(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The words of ``text``, and those of 4 letters or more (what a value's word
    may be cut short to); once per text, not once per argument checked against it."""
    text_words = frozenset(words(text))
    return text_words, tuple(w for w in text_words if len(w) >= 4)


def _acronym_stated(value: str, said: str) -> bool:
    """The user wrote the initials of a value of several words in capitals ("SF", "NYC")."""
    initials = "".join(w[0] for w in value.split() if w[:1].isalpha())
    if len(initials) < 2:
        return False
    return any(
        a.casefold().startswith(initials) and len(a) <= len(initials) + 1
        for a in _ACRONYM.findall(said)
    )


def _literal(value: str) -> bool:
    v = value.casefold()
    return not (_NUMBER.match(v) or _ISO_DATE.match(v) or _TIME.match(v) or v in ("true", "false"))


#: an identifier of one thing of a kind: ``gift_card_7091239``, ``credit_card_42``
_KIND_ID = re.compile(r"^(?P<kind>[a-z]+(?:_[a-z]+)*)_\d{2,}$", re.IGNORECASE)
#: an identifier: a code with letters and digits (``H9ZU1C``, ``mia_li_3668``)
_IDENTIFIER = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9_\-]{5,}$", re.IGNORECASE)
#: argument names about who the user is, not what they want
_WHO = frozenset({"user", "customer", "account", "member", "client", "email", "phone", "dob"})
_PERSON = re.compile(r"(first|last|full|given|family|middle)_?name$|birth|dob$", re.IGNORECASE)
#: an argument naming one record by its id (``reservation_id=HXDUBJ``): a fact, not a wish
_RECORD_ID = re.compile(r"(^|[._])id$|_id$|[a-z]Id$")


def _wanted(key: str, value: str) -> tuple[str, str] | None:
    """The argument as something the user could want: identifiers are facts, not
    wishes, except for the kind the user chose (``payment_id=gift_card_7091239``
    gives ``payment=gift_card``: "pay with my gift card"). None: not a preference."""
    if _PERSON.search(key):
        return None
    if not _IDENTIFIER.match(value):
        return None if _RECORD_ID.search(key) else (key, value)
    kind = _KIND_ID.match(value)
    if kind is None or set(words(key)) & _WHO:
        return None
    name = re.sub(r"[._]?id$", "", key.rsplit(".", 1)[-1]) or key
    return name, kind.group("kind")


def stated_preferences(arguments: str, texts: Sequence[tuple[bool, str]]) -> tuple[str, ...]:
    """``key=value`` for each argument the user stated in ``texts`` (the task's
    messages in conversation order, as ``(said by the user, text)``), unless a
    literal value was said by the assistant first. Identifiers are left out,
    but for the kind of thing the user chose (see :func:`_wanted`)."""
    return _stated_preferences(arguments, tuple(texts))


@functools.lru_cache(maxsize=PREFERENCES_CACHE)
def _stated_preferences(arguments: str, texts: tuple[tuple[bool, str], ...]) -> tuple[str, ...]:
    # cached: a task's lookups are read again at each of its writes, over the same texts
    user = " \n ".join(t for is_user, t in texts if is_user)
    stated: list[str] = []
    for raw_key, raw_value in argument_items(arguments):
        wanted = _wanted(raw_key, raw_value)
        if wanted is None:
            continue
        key, value = wanted
        if _alias_said(key, value, texts):
            stated.append(f"{key}={value}")
            continue
        if not value_stated(key, value, user):
            continue
        if _literal(value) and not _chosen(key, value, texts):
            continue
        stated.append(f"{key}={value}")
    return tuple(stated)


def _alias_said(key: str, value: str, texts: Sequence[tuple[bool, str]]) -> bool:
    """The user said a name that the assistant then wrote the value for, in
    parentheses: "New York" and then "New York (JFK)" state ``origin=JFK``."""
    if not _CODE.match(value):
        return False
    named = re.compile(
        rf"((?:[A-Z][\w.'-]*\s+){{0,3}}[A-Z][\w.'-]*)\s*\(\s*{re.escape(value)}\s*\)"
    )
    said = ""
    for is_user, text in texts:
        if is_user:
            said += " \n " + text
            continue
        # the code itself must be there for the pattern to match: a scan for it first
        if (
            said
            and value in text
            and any(value_stated(key, m.group(1), said) for m in named.finditer(text))
        ):
            return True
    return False


#: a short code the agent resolves a name to (an airport, a station, a currency)
_CODE = re.compile(r"^[A-Z]{2,5}$")


#: a value from a small vocabulary of options (``economy``, ``gift_card``, ``one_way``, ``no``)
_OPTION = re.compile(r"^[a-z]+(_[a-z]+)*$")
_SMALL_COUNT = re.compile(r"^\d$")
#: argument names of money, which the agent computes
_MONEY = re.compile(r"amount|price|cost|balance|fee|total_price|paid", re.IGNORECASE)


def agreed_terms(arguments: str) -> Iterable[str]:
    """``key=value`` for the arguments of a write call that choose among options (a
    cabin, the kind of payment, insurance, a trip type, a count of bags: argument
    names with a word of ``TERM_ARGUMENTS``): the terms the user said yes to,
    whoever named them first. Names, dates, amounts and ids
    are left to :func:`stated_preferences`, which wants the user's own words."""
    for raw_key, raw_value in argument_items(arguments):
        wanted = _wanted(raw_key, raw_value)
        if wanted is None:
            continue
        key, value = wanted
        named = {key.rsplit(".", 1)[-1].casefold(), *words(key)}
        if value in _SKIP_VALUES or _MONEY.search(key) or not named & TERM_ARGUMENTS:
            continue
        if _OPTION.match(value) or _SMALL_COUNT.match(value):
            yield f"{key}={value}"
    yield from _head_counts(arguments)


def _head_counts(arguments: str) -> Iterable[str]:
    """``passengers=2`` for a list of two people (``passengers=[{...}, {...}]``)."""
    for key, value in arguments_object(arguments).items():
        people = set(words(str(key))) & PEOPLE_ARGUMENTS
        if people and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            yield f"{key}={len(value)}"


def _value_parts(text: str) -> tuple[str, set[str]]:
    key, _, value = text.partition("=")
    values = {v.strip().casefold().replace("_", " ") for v in value.split("+")}
    return key.rsplit(".", 1)[-1].casefold(), values


def new_preferences(candidates: Iterable[str], known: Sequence[str]) -> list[str]:
    """``candidates`` that say something ``known`` does not: not one whose key (its last
    part: ``flights.date`` is ``date``) already has that value, alone or among several
    (``payment=certificate`` after ``payment=certificate+credit_card``). One that
    restates the single value of a constraint the user said in words
    (``seating_class=Premium Economy`` after ``cabin=premium_economy``; numbers
    excepted, as they count different things) comes under the constraint's key, so
    that it replaces it in the tool's spelling (see ``apply``), or not at all if
    spelled the same."""
    have = [(p.partition("=")[2], *_value_parts(p)) for p in known if "=" in p]
    out: list[str] = []
    for text in candidates:
        if "=" not in text:
            out.append(text)
            continue
        key, values = _value_parts(text)
        raw = text.partition("=")[2]
        if any(k == key and values <= vs for _, k, vs in have):
            continue
        restated = next(
            (
                (k, r)
                for r, k, vs in have
                if k in CONSTRAINT_KEYS and vs == values and not any(map(_NUMBER.match, vs))
            ),
            None,
        )
        if restated is not None:
            if restated[1] != raw:
                out.append(f"{restated[0]}={raw}")
            continue
        out.append(text)
        have.append((raw, key, values))
    return out


def _chosen(key: str, value: str, texts: Sequence[tuple[bool, str]]) -> bool:
    """The user said the value first, or picked it by name among alternatives the
    assistant asked about ("Economy or business?" - "Economy"); a value the
    assistant offered alone and the user accepted is the assistant's."""
    for is_user, text in texts:
        if not value_stated(key, value, text):
            continue
        if is_user:
            return True
        asked = [s for s in _SENTENCES.split(text) if "?" in s and value_stated(key, value, s)]
        if not any(_ALTERNATIVES.search(s) for s in asked):
            return False
    return True


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_ALTERNATIVES = re.compile(r"\bor\b|,.*,", re.IGNORECASE)
