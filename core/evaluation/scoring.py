"""Scoring extracted tasks against labeled ones. Pure.

Rules (per conversation, then summed over conversations):

* **Segmentation.** An extracted task is placed at the ordinal (0-based, among
  the transcript's user messages) of its earliest linked user message; an
  expected task at the ordinal of its ``first_user_turn`` among the
  conversation's user turns. They match when the ordinals are equal: no
  tolerance. Matching is one-to-one, in task order. Expected tasks without
  ``first_user_turn`` (the fixture samples) are matched by rank instead: the
  i-th extracted task (by ``order``) to the i-th expected one. The transcript
  may hold a system message and ids of its own: only user messages count.
* **Status** accuracy and the confusion matrix cover matched pairs; an
  expected task without a match is counted under ``confusion[expected]["missing"]``
  but not in the accuracies. Balanced accuracy is the mean, over the expected
  statuses that occur among matched pairs, of the share predicted right.
* **Progress attribution**: the share of expected tool calls (with
  multiplicity, over all expected tasks) whose tool name is the leading name of
  a progress step of the matched extracted task (``name(...)`` or ``name ...``,
  case-folded). Unmatched expected tasks score zero.
* **Preferences**, matched loosely and case-folded: an expected ``slot=value``
  is found in an extracted preference text when the text contains
  ``slot=value`` or just ``value`` (surface or canonical form) as a whole
  phrase (not inside a longer word or number). Recall is over all expected
  preferences; precision over all extracted preferences, an extracted one
  being right when it contains some expected preference of the task it was
  matched to (preferences of unmatched extracted tasks count as wrong).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasktrace.evaluation.dataset import ExpectedTask, LabeledConversation
from tasktrace.model import Message, Role, Task

_STEP_NAME = re.compile(r"^\s*([^\s(]+)")


@dataclass(frozen=True, slots=True)
class ConversationScore:
    """Counts for one conversation; summed by :func:`aggregate`."""

    id: str
    source: str
    expected: int
    extracted: int
    matched: int
    #: (expected status, extracted status) per matched pair; "missing" when unmatched
    statuses: tuple[tuple[str, str], ...] = ()
    progress_expected: int = 0
    progress_found: int = 0
    preferences_expected: int = 0
    preferences_found: int = 0
    preferences_extracted: int = 0
    preferences_correct: int = 0


def _ratio(num: int | float, den: int | float) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Score:
    conversations: int
    segmentation_precision: float
    segmentation_recall: float
    segmentation_f1: float
    status_accuracy: float
    status_balanced_accuracy: float
    progress_attribution: float
    preference_recall: float
    preference_precision: float
    confusion: Mapping[str, Mapping[str, int]]
    per_status: Mapping[str, Mapping[str, float | int]]
    per_source: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "segmentation_f1": self.segmentation_f1,
            "segmentation_precision": self.segmentation_precision,
            "segmentation_recall": self.segmentation_recall,
            "status_accuracy": self.status_accuracy,
            "status_balanced_accuracy": self.status_balanced_accuracy,
            "progress_attribution": self.progress_attribution,
            "preference_recall": self.preference_recall,
            "preference_precision": self.preference_precision,
            "confusion": {k: dict(v) for k, v in self.confusion.items()},
            "per_status": {k: dict(v) for k, v in self.per_status.items()},
            "per_source": {k: dict(v) for k, v in self.per_source.items()},
            "counts": dict(self.counts),
        }


# --- matching ----------------------------------------------------------------


def _user_ordinals(messages: Sequence[Message]) -> dict[str, int]:
    users = sorted((m for m in messages if m.role is Role.USER), key=lambda m: m.seq)
    return {m.id: i for i, m in enumerate(users)}


def _task_ordinal(task: Task, ordinals: Mapping[str, int]) -> int | None:
    found = [ordinals[mid] for mid in task.message_ids if mid in ordinals]
    return min(found) if found else None


def _expected_ordinal(conv: LabeledConversation, exp: ExpectedTask) -> int | None:
    if exp.first_user_turn is None:
        return None
    return sum(1 for t in conv.turns[: exp.first_user_turn] if t.role is Role.USER)


def match_tasks(
    conv: LabeledConversation, messages: Sequence[Message], tasks: Sequence[Task]
) -> dict[int, Task]:
    """Expected-task index -> matched extracted task (one-to-one)."""
    ordered = sorted(tasks, key=lambda t: t.order)
    if any(e.first_user_turn is None for e in conv.expected_tasks):
        return dict(enumerate(ordered[: len(conv.expected_tasks)]))
    ordinals = _user_ordinals(messages)
    free = [(t, _task_ordinal(t, ordinals)) for t in ordered]
    out: dict[int, Task] = {}
    for i, exp in enumerate(conv.expected_tasks):
        want = _expected_ordinal(conv, exp)
        for j, (task, got) in enumerate(free):
            if got is not None and got == want:
                out[i] = task
                del free[j]
                break
    return out


# --- per-aspect scores ---------------------------------------------------------


def step_tool_name(step: str) -> str:
    """The leading name of a progress step, case-folded:
    ``"get_weather(city=Paris)"`` -> ``"get_weather"``."""
    match = _STEP_NAME.match(step)
    return match.group(1).casefold() if match else ""


def _progress_found(expected: ExpectedTask, task: Task | None) -> int:
    if task is None:
        return 0
    have = Counter(step_tool_name(s) for s in task.progress)
    want = Counter(p.casefold() for p in expected.progress)
    return sum(min(n, have[name]) for name, n in want.items())


def _split_pref(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    return (
        (key.strip().casefold(), value.strip().casefold()) if sep else ("", text.strip().casefold())
    )


def _contains_phrase(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    return re.search(rf"(?<![\w.]){re.escape(phrase)}(?![\w]|\.\d)", text) is not None


def _pref_matches(extracted: str, expected: ExpectedTask, index: int) -> bool:
    text = extracted.casefold()
    forms = [expected.preferences[index]]
    if index < len(expected.preferences_canonical):
        forms.append(expected.preferences_canonical[index])
    for form in forms:
        key, value = _split_pref(form)
        if key and _contains_phrase(text, f"{key}={value}"):
            return True
        if _contains_phrase(text, value):
            return True
    return False


def _preference_counts(expected: ExpectedTask, task: Task | None) -> tuple[int, int]:
    """(expected preferences found, extracted preferences that are right)."""
    prefs = task.preferences if task is not None else ()
    idx = range(len(expected.preferences))
    found = sum(1 for i in idx if any(_pref_matches(p, expected, i) for p in prefs))
    correct = sum(1 for p in prefs if any(_pref_matches(p, expected, i) for i in idx))
    return found, correct


def score_conversation(
    conv: LabeledConversation, messages: Sequence[Message], tasks: Sequence[Task]
) -> ConversationScore:
    """Score ``tasks`` extracted from the transcript ``messages`` against ``conv``."""
    matched = match_tasks(conv, messages, tasks)
    statuses: list[tuple[str, str]] = []
    progress_found = pref_found = pref_correct = 0
    for i, exp in enumerate(conv.expected_tasks):
        task = matched.get(i)
        statuses.append((exp.status.value, task.status.value if task else "missing"))
        progress_found += _progress_found(exp, task)
        found, correct = _preference_counts(exp, task)
        pref_found += found
        pref_correct += correct
    return ConversationScore(
        id=conv.id,
        source=conv.source,
        expected=len(conv.expected_tasks),
        extracted=len(tasks),
        matched=len(matched),
        statuses=tuple(statuses),
        progress_expected=sum(len(e.progress) for e in conv.expected_tasks),
        progress_found=progress_found,
        preferences_expected=sum(len(e.preferences) for e in conv.expected_tasks),
        preferences_found=pref_found,
        preferences_extracted=sum(len(t.preferences) for t in tasks),
        preferences_correct=pref_correct,
    )


# --- aggregation ---------------------------------------------------------------


def _confusion(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for want, got in pairs:
        row = out.setdefault(want, {})
        row[got] = row.get(got, 0) + 1
    return out


def _per_status(confusion: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for status, row in sorted(confusion.items()):
        matched = sum(n for got, n in row.items() if got != "missing")
        right = row.get(status, 0)
        out[status] = {
            "expected": sum(row.values()),
            "matched": matched,
            "correct": right,
            "recall": _ratio(right, matched),
        }
    return out


def aggregate(scores: Sequence[ConversationScore], *, by_source: bool = True) -> Score:
    """Sum conversation scores into one :class:`Score` (micro-averaged)."""
    expected = sum(s.expected for s in scores)
    extracted = sum(s.extracted for s in scores)
    matched = sum(s.matched for s in scores)
    precision, recall = _ratio(matched, extracted), _ratio(matched, expected)
    pairs = [p for s in scores for p in s.statuses]
    matched_pairs = [(w, g) for w, g in pairs if g != "missing"]
    confusion = _confusion(pairs)
    per_status = _per_status(confusion)
    recalls = [float(v["recall"]) for v in per_status.values() if v["matched"]]
    pref_expected = sum(s.preferences_expected for s in scores)
    pref_extracted = sum(s.preferences_extracted for s in scores)
    per_source: dict[str, dict[str, Any]] = {}
    if by_source:
        for source in sorted({s.source for s in scores}):
            subset = [s for s in scores if s.source == source]
            sub = aggregate(subset, by_source=False).to_dict()
            del sub["per_source"], sub["confusion"], sub["per_status"]
            per_source[source or "(none)"] = sub
    return Score(
        conversations=len(scores),
        segmentation_precision=precision,
        segmentation_recall=recall,
        segmentation_f1=_f1(precision, recall),
        status_accuracy=_ratio(sum(1 for w, g in matched_pairs if w == g), len(matched_pairs)),
        status_balanced_accuracy=_ratio(sum(recalls), len(recalls)),
        progress_attribution=_ratio(
            sum(s.progress_found for s in scores), sum(s.progress_expected for s in scores)
        ),
        preference_recall=_ratio(sum(s.preferences_found for s in scores), pref_expected),
        preference_precision=_ratio(sum(s.preferences_correct for s in scores), pref_extracted),
        confusion=confusion,
        per_status=per_status,
        per_source=per_source,
        counts={
            "expected_tasks": expected,
            "extracted_tasks": extracted,
            "matched_tasks": matched,
            "expected_tool_calls": sum(s.progress_expected for s in scores),
            "expected_preferences": pref_expected,
            "extracted_preferences": pref_extracted,
        },
    )
