"""The SQL of a search for tasks across sessions, newest first: pure, no I/O.

Text in the description (``description ILIKE '%word%'``, served by the trigram
index) gets no row estimate PostgreSQL can plan by: it guesses from how many of
its ~100 sampled descriptions hold the word, so a word in 1 task of 1,000 is
guessed at 0.01% or at 1% depending on the sample. One plan is then wrong for
either rare or common words. Walking the ``updated_at`` order and filtering
is fast for a common word (a page after a few hundred rows) and slow for a
rare one (54k rows walked at 1M tasks); finding every match through the
trigram index first and sorting them is the other way round (83k matches of a
common word to sort). So a text search asks for both, in turn:

1. the *walk*: the tasks passing every other filter, newest first, at most
   ``walk_rows_per_result`` times (page size + 1) of them, keeping those whose
   description matches. It is complete when it fills the page.
2. *match first*, only when the walk did not fill the page: then the text is in
   fewer than 1 of ``walk_rows_per_result`` tasks walked, so its matches are
   few; they are all found first (the planner picks the trigram index, or
   whichever is most selective) and sorted.

Both give the same rows in the same order, ``(updated_at, id)`` descending,
which is what the cursor holds. Without text, the one statement is the walk
without a bound, which every filter's ``(column, updated_at, id)`` index serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasktrace.queries import TaskFilter

#: the walk gives up once it has seen this many tasks per result wanted without
#: filling the page: words rarer than that are found through the trigram index.
#: 50 balances the two at 1M tasks (BENCHMARKS.md, Query).
WALK_ROWS_PER_RESULT = 50

_NEWEST_FIRST = "ORDER BY updated_at DESC, id DESC"


@dataclass(frozen=True, slots=True)
class Statement:
    """``SELECT ... FROM {source} WHERE {where}``; ``source`` is a relation named ``tasks``."""

    source: str
    where: str
    params: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """``walk`` first; ``match_first`` when the walk returned fewer than
    ``wanted`` rows (None: the walk is the whole answer)."""

    walk: Statement
    match_first: Statement | None
    wanted: int


def like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (``\\`` is the escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_plan(
    flt: TaskFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    walk_rows_per_result: int = WALK_ROWS_PER_RESULT,
) -> SearchPlan:
    """The statements for one page of ``limit`` tasks (plus one, to tell whether
    a next page exists) after the ``(updated_at, id)`` key ``after``."""
    where, params = _conditions(flt, after)
    wanted = limit + 1
    if not flt.text:
        page = f"{' AND '.join(where)} {_NEWEST_FIRST} LIMIT %s"
        return SearchPlan(Statement("tasks", page, (*params, wanted)), None, wanted)
    pattern = f"%{like_escape(flt.text)}%"
    walked = f"(SELECT * FROM tasks WHERE {' AND '.join(where)} {_NEWEST_FIRST} LIMIT %s) AS tasks"
    walk = Statement(
        walked,
        f"description ILIKE %s {_NEWEST_FIRST} LIMIT %s",
        (*params, walk_rows_per_result * wanted, pattern, wanted),
    )
    # the added zero interval keeps the planner from walking the updated_at
    # index again: every match is found first and then sorted, in the same order
    match_first = Statement(
        "tasks",
        f"{' AND '.join([*where, 'description ILIKE %s'])}"
        f" ORDER BY updated_at + interval '0' DESC, id DESC LIMIT %s",
        (*params, pattern, wanted),
    )
    return SearchPlan(walk, match_first, wanted)


def _conditions(flt: TaskFilter, after: tuple[datetime, str] | None) -> tuple[list[str], list[Any]]:
    """Every filter but the text, as SQL conditions and their parameters."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if after:
        where.append("(updated_at, id) < (%s, %s)")
        params += [after[0], after[1]]
    if flt.status is not None:
        where.append("status = %s")
        params.append(flt.status.value)
    if flt.service:
        where.append("service = %s")
        params.append(flt.service)
    if flt.since:
        where.append("updated_at >= %s")
        params.append(flt.since)
    if flt.until:
        where.append("updated_at < %s")
        params.append(flt.until)
    if flt.status_reason is not None:
        where.append("status_reason = %s")
        params.append(flt.status_reason.value)
    if flt.session_prefix:
        where.append("session_id LIKE %s")
        params.append(f"{like_escape(flt.session_prefix)}%")
    return where, params
