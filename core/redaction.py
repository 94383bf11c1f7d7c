"""Redaction of conversation text: ``processors.tasktrace.redaction``. Pure, no I/O.

Built-in patterns (``email``, ``card``, ``phone``) and the user's named
``regexes`` replace what they match with ``[REDACTED:<name>]``. The receiver
(``store: redacted``), the extractor stage (before an ``llm`` extractor, always)
and the task-span exporter (``spans: redacted``) each apply it with the
functions here, so none of them imports another.

Guarantees: redacting twice gives what redacting once gave (markers already in
the text are left alone and no pattern matches across one); JSON text (tool
arguments and results) stays valid JSON, since only its string values (and
card-like integers) are redacted; the built-in patterns run in linear time.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from tasktrace.model import ChatMessage, Message, SpanContent, Task, ToolCall, ToolRun

Mode = Literal["redacted", "raw"]

#: a marker already in the text; never matched again
_MARKER = re.compile(r"\[REDACTED:[A-Za-z0-9_.-]{1,64}\]")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: the lookbehind makes a match start only where a run of address characters starts
#: (linear time on long words without an ``@``)
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}(?![\w-])"
)
#: digits with single spaces or dashes between them, where card numbers are looked for
#: (only groups of 3 or more digits, so "1 2 3 ..." costs the regex engine alone)
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{3,}(?:[ -][0-9]{3,})*(?![0-9])")
#: groups of digits with separators, an optional ``+CC`` and ``(area)``; see :func:`_is_phone`
_PHONE = re.compile(
    r"(?<![\w+])(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?"
    r"[0-9]{1,4}(?:[ .-][0-9]{1,4}){0,5}(?![\w:])"
)
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_GROUP = re.compile(r"[0-9]+")
_DIGITS_ONLY = re.compile(r"[0-9]{13,19}")
#: a digit's byte -> the digit doubled, with its digits summed (Luhn)
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def luhn_valid(digits: str) -> bool:
    """Whether the string of ASCII digits passes the Luhn check (ISO/IEC 7812)."""
    raw = digits.encode("ascii")
    kept = raw[-1::-2]
    total = sum(kept) - 48 * len(kept) + sum(raw[-2::-2].translate(_DOUBLED))
    return total % 10 == 0


def _find_cards(text: str) -> Iterator[tuple[int, int]]:
    """Card numbers: 13-19 digits in whole groups of 3 or more digits of a run
    (``4111 1111 ...``, ``3782 822463 10005``) that pass Luhn; the longest such
    window from each group, so digits written just before a card number
    ("qty 2 4111 ...", "BK-123 4111 ...") do not hide it."""
    for run in _DIGIT_RUN.finditer(text):
        groups = [(run.start() + m.start(), run.start() + m.end()) for m in _GROUP.finditer(run[0])]
        i = 0
        while i < len(groups):
            end = _card_from(text, groups, i)
            if end is None:
                i += 1
                continue
            yield groups[i][0], groups[end][1]
            i = end + 1


def _card_from(text: str, groups: list[tuple[int, int]], first: int) -> int | None:
    """The last group of the longest Luhn-valid 13-19 digit window from ``first``."""
    digits, best = "", None
    for j in range(first, len(groups)):
        start, end = groups[j]
        digits += text[start:end]
        if len(digits) > 19:
            break
        if len(digits) >= 13 and luhn_valid(digits):
            best = j
    return best


def _matches(
    pattern: re.Pattern[str], accept: Callable[[str], bool] | None, text: str
) -> Iterator[tuple[int, int]]:
    for m in pattern.finditer(text):
        if m.end() > m.start() and (accept is None or accept(m[0])):
            yield m.span()


def _is_phone(match: str) -> bool:
    """9-15 digits in three or more groups; or 8-15 with a ``+CC`` or ``(area)``.
    A run of digits without separators is left alone (order numbers, ids)."""
    digits = sum(c.isdigit() for c in match)
    marked = match.startswith("+") or "(" in match
    groups = len(_GROUP.findall(match))
    if _IPV4.fullmatch(match):
        return False
    if marked:
        return 8 <= digits <= 15
    return 9 <= digits <= 15 and groups >= 3


#: where a rule matches in a text: (start, end) spans, in order, not overlapping
Finder = Callable[[str], Iterable[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One named pattern: what it matches is replaced by :attr:`replacement`."""

    name: str
    find: Finder

    @property
    def replacement(self) -> str:
        return f"[REDACTED:{self.name}]"


BUILTIN: dict[str, Rule] = {
    "email": Rule("email", functools.partial(_matches, _EMAIL, None)),
    "card": Rule("card", _find_cards),
    "phone": Rule("phone", functools.partial(_matches, _PHONE, _is_phone)),
}


@dataclass(frozen=True, slots=True)
class Redaction:
    """What to redact and where. The ``llm`` extractor's input is always redacted;
    ``store`` says what the messages table keeps, ``spans`` what task spans carry."""

    rules: tuple[Rule, ...]
    store: Mode = "raw"
    spans: Mode = "redacted"


def applied(redaction: Redaction | None, where: Literal["store", "spans"]) -> Redaction | None:
    """``redaction`` if it is set and ``where`` (``store``, ``spans``) says ``redacted``."""
    if redaction is None or getattr(redaction, where) != "redacted":
        return None
    return redaction


# --- config -------------------------------------------------------------------

_KEYS = {"patterns", "regexes", "store", "spans"}


def parse_redaction(raw: object) -> Redaction | None:
    """``processors.tasktrace.redaction`` as written in YAML (None / absent: off).

    Raises ``ValueError`` naming the offending key: unknown keys or patterns,
    a regex that does not compile or matches the empty string, duplicate names.
    """
    if raw is None or isinstance(raw, Redaction):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError("must be a mapping (patterns, regexes, store, spans)")
    if unknown := sorted(set(map(str, raw)) - _KEYS):
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    names = raw.get("patterns", list(BUILTIN))
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValueError("patterns: a list of built-in pattern names (email, card, phone)")
    rules: list[Rule] = []
    for name in names:
        if name not in BUILTIN:
            raise ValueError(f"patterns: unknown pattern {name!r} (known: {', '.join(BUILTIN)})")
        rules.append(BUILTIN[name])
    regexes = raw.get("regexes") or []
    if not isinstance(regexes, list | tuple):
        raise ValueError("regexes: a list of {name, pattern}")
    rules.extend(_user_rule(i, item) for i, item in enumerate(regexes))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"pattern name {rule.name!r} is used twice")
        seen.add(rule.name)
    if not rules:
        raise ValueError("no patterns and no regexes (leave redaction out to turn it off)")
    return Redaction(tuple(rules), _mode(raw, "store", "raw"), _mode(raw, "spans", "redacted"))


def _user_rule(index: int, item: object) -> Rule:
    where = f"regexes[{index}]"
    if not isinstance(item, Mapping) or set(item) != {"name", "pattern"}:
        raise ValueError(f"{where}: must be a mapping with exactly 'name' and 'pattern'")
    name, pattern = item["name"], item["pattern"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{where}.name: {name!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{where}.pattern: must be a non-empty string")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}.pattern: bad regex {pattern!r}: {exc}") from None
    if compiled.search("") is not None:
        raise ValueError(f"{where}.pattern: {pattern!r} matches the empty string")
    return Rule(name, functools.partial(_matches, compiled, None))


def _mode(raw: Mapping[str, Any], key: str, default: Mode) -> Mode:
    value = raw.get(key, default)
    if value not in ("redacted", "raw"):
        raise ValueError(f"{key}: {value!r} must be 'redacted' or 'raw'")
    return "redacted" if value == "redacted" else "raw"


# --- text -----------------------------------------------------------------------


def redact_text(text: str, rules: Iterable[Rule]) -> str:
    """``text`` with every accepted match replaced by its rule's marker.

    Matches of all rules are gathered on the original text; where they overlap,
    the one starting first wins (then the longer, then the earlier rule).
    Markers already present are kept: a match overlapping one is dropped.
    """
    if not text:
        return text
    markers = [m.span() for m in _MARKER.finditer(text)]
    starts = [start for start, _ in markers]
    spans: list[tuple[int, int, int, str]] = []
    for order, rule in enumerate(rules):
        for start, end in rule.find(text):
            if not _on_marker(markers, starts, start, end):
                spans.append((start, -end, order, rule.replacement))
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    cursor = 0
    for start, neg_end, _, replacement in spans:
        if start < cursor:
            continue
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = -neg_end
    out.append(text[cursor:])
    return "".join(out)


def _on_marker(markers: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    """Whether ``[start, end)`` overlaps one of ``markers`` (sorted, apart; ``starts``
    their starts): a binary search, so many markers and many matches stay cheap."""
    i = bisect.bisect_right(starts, start) - 1
    if i >= 0 and markers[i][1] > start:
        return True
    return i + 1 < len(markers) and markers[i + 1][0] < end


def redact_json_text(text: str, rules: tuple[Rule, ...]) -> str:
    """Like :func:`redact_text`, but JSON objects and arrays stay valid JSON: their
    keys and string values are redacted, and an integer that is a card number
    becomes the marker string. Unchanged JSON keeps its original formatting."""
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return redact_text(text, rules)
    try:
        value = json.loads(text)
    except ValueError:
        return redact_text(text, rules)
    redacted = _redact_value(value, rules)
    if redacted == value:
        return text
    return json.dumps(redacted, ensure_ascii=False)


def _redact_value(value: Any, rules: tuple[Rule, ...]) -> Any:
    if isinstance(value, str):
        return redact_text(value, rules)
    if isinstance(value, dict):
        return {redact_text(k, rules): _redact_value(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, rules) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(value)
        if _DIGITS_ONLY.fullmatch(digits):
            marked = redact_text(digits, rules)
            return value if marked == digits else marked
    return value


# --- the vocabulary ------------------------------------------------------------


_Said = TypeVar("_Said", Message, ChatMessage)


def redact_message(message: _Said, redaction: Redaction) -> _Said:
    """The message (stored, or as a library reported it) with its text (a tool's
    result, for a tool message) and tool-call arguments redacted; the message
    itself when nothing matched."""
    rules = redaction.rules
    content = redact_json_text(message.content, rules)
    calls = _redact_calls(message.tool_calls, rules)
    if content == message.content and calls == message.tool_calls:
        return message
    return dataclasses.replace(message, content=content, tool_calls=calls)


def redact_messages(messages: Iterable[Message], redaction: Redaction) -> tuple[Message, ...]:
    return tuple(redact_message(m, redaction) for m in messages)


def redact_content(
    content: SpanContent,
    redaction: Redaction,
    chat: Callable[[ChatMessage], ChatMessage] | None = None,
) -> SpanContent:
    """What a dialect read from a span, with message text and the tool run redacted.
    ``chat`` redacts one message (default :func:`redact_message`; the receiver passes
    a cached one, since every call repeats the history before it)."""
    rules = redaction.rules
    one = chat or (lambda m: redact_message(m, redaction))
    messages = tuple(one(m) for m in content.messages)
    run = content.tool_run
    if run is not None:
        run = ToolRun(
            name=run.name,
            call_id=run.call_id,
            arguments=redact_json_text(run.arguments, rules),
            result=redact_json_text(run.result, rules),
            error=run.error,
            error_message=redact_text(run.error_message, rules),
        )
    return dataclasses.replace(content, messages=messages, tool_run=run)


def redact_task(task: Task, redaction: Redaction) -> Task:
    """The task with its description, progress, preferences and status reasons redacted."""
    rules = redaction.rules
    return dataclasses.replace(
        task,
        description=redact_text(task.description, rules),
        progress=tuple(redact_text(p, rules) for p in task.progress),
        preferences=tuple(redact_text(p, rules) for p in task.preferences),
        history=tuple(
            dataclasses.replace(c, reason=redact_text(c.reason, rules)) for c in task.history
        ),
    )


def _redact_calls(calls: tuple[ToolCall, ...], rules: tuple[Rule, ...]) -> tuple[ToolCall, ...]:
    out = tuple(
        dataclasses.replace(c, arguments=redact_json_text(c.arguments, rules)) for c in calls
    )
    return calls if out == calls else out
