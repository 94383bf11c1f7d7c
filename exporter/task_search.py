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
   description matches. It is complete when it fills the page. When it does
   not, what it found says how far the page is (:func:`next_walk_rows`): near
   enough, and the walk is asked again, that far (once);
2. *match first*, otherwise: the text is rare among the tasks walked, so its
   matches are few; they are all found first (the planner picks the trigram
   index, or whichever is most selective) and sorted.

Both give the same rows in the same order, ``(updated_at, id)`` descending,
which is what the cursor holds. Without text, the one statement is the walk
without a bound, which every filter's ``(column, updated_at, id)`` index serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from tasktrace.queries import TaskFilter

#: the first walk sees this many tasks per result wanted (1,010 for a page of 100)
WALK_ROWS_PER_RESULT = 10
#: a second walk goes no further than this many per result wanted: a word that
#: would need more is found through the trigram index (BENCHMARKS.md, Query)
MAX_WALK_ROWS_PER_RESULT = 200
#: the second walk goes this much past the rows the first one's rate projects
_MARGIN = 1.5

_NEWEST_FIRST = sql.SQL("ORDER BY updated_at DESC, id DESC")
_AND = sql.SQL(" AND ")


@dataclass(frozen=True, slots=True)
class Statement:
    """``SELECT ... FROM {source} WHERE {where}``; ``source`` is a relation named ``tasks``."""

    source: sql.Composable
    where: sql.Composable
    params: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """``walk`` first; ``match_first`` when the walk returned fewer than
    ``wanted`` rows (None: the walk is the whole answer). ``walked`` is the
    walk's bound, and ``walk_further(rows)`` the same walk bounded to ``rows``."""

    walk: Statement
    match_first: Statement | None
    wanted: int
    walked: int = 0

    def walk_further(self, rows: int) -> Statement:
        assert self.walked, "a walk without text has no bound"
        params = list(self.walk.params)
        params[-3] = rows  # the bound, before the pattern and the page's LIMIT
        return Statement(self.walk.source, self.walk.where, tuple(params))


def next_walk_rows(plan: SearchPlan, found: int, *, max_rows_per_result: int) -> int | None:
    """How far to walk again after the first walk found ``found`` (< wanted)
    matches, or None for the matches first: the rate seen so far projects the
    rows that fill the page, plus a margin; past ``max_rows_per_result`` per
    result wanted the matches are few enough to sort."""
    if found == 0 or not plan.walked:
        return None
    projected = int(plan.walked * plan.wanted / found * _MARGIN)
    return projected if projected <= max_rows_per_result * plan.wanted else None


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
        page = sql.SQL("{} {} LIMIT %s").format(_AND.join(where), _NEWEST_FIRST)
        return SearchPlan(Statement(sql.SQL("tasks"), page, (*params, wanted)), None, wanted)
    pattern = f"%{like_escape(flt.text)}%"
    walked = sql.SQL("(SELECT * FROM tasks WHERE {} {} LIMIT %s) AS tasks").format(
        _AND.join(where), _NEWEST_FIRST
    )
    walk = Statement(
        walked,
        sql.SQL("description ILIKE %s {} LIMIT %s").format(_NEWEST_FIRST),
        (*params, walk_rows_per_result * wanted, pattern, wanted),
    )
    # the added zero interval keeps the planner from walking the updated_at
    # index again: every match is found first and then sorted, in the same order
    match_first = Statement(
        sql.SQL("tasks"),
        sql.SQL("{} ORDER BY updated_at + interval '0' DESC, id DESC LIMIT %s").format(
            _AND.join([*where, sql.SQL("description ILIKE %s")])
        ),
        (*params, pattern, wanted),
    )
    return SearchPlan(walk, match_first, wanted, walk_rows_per_result * wanted)


def _conditions(
    flt: TaskFilter, after: tuple[datetime, str] | None
) -> tuple[list[sql.Composable], list[Any]]:
    """Every filter but the text, as SQL conditions and their parameters."""
    where: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if after:
        where.append(sql.SQL("(updated_at, id) < (%s, %s)"))
        params += [after[0], after[1]]
    if flt.status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(flt.status.value)
    if flt.service:
        where.append(sql.SQL("service = %s"))
        params.append(flt.service)
    if flt.since:
        where.append(sql.SQL("updated_at >= %s"))
        params.append(flt.since)
    if flt.until:
        where.append(sql.SQL("updated_at < %s"))
        params.append(flt.until)
    if flt.status_reason is not None:
        where.append(sql.SQL("status_reason = %s"))
        params.append(flt.status_reason.value)
    if flt.session_prefix:
        where.append(sql.SQL("session_id LIKE %s"))
        params.append(f"{like_escape(flt.session_prefix)}%")
    return where, params
