"""The SQL a task search is asked in: one walk without text; with text, a
bounded walk and then, if the page is not full, the matches first."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg import sql

from tasktrace.exporter.task_search import (
    WALK_ROWS_PER_RESULT,
    like_escape,
    next_walk_rows,
    search_plan,
)
from tasktrace.model import StatusReason, TaskStatus
from tasktrace.queries import TaskFilter

AFTER = (datetime(2026, 1, 2, tzinfo=UTC), "t-9")


def as_sql(statement: sql.Composable) -> str:
    return statement.as_string()


def test_without_text_the_search_is_one_unbounded_walk_newest_first() -> None:
    plan = search_plan(TaskFilter(status=TaskStatus.FAILED, service="shop"), limit=20)
    assert plan.match_first is None
    assert plan.wanted == 21
    assert as_sql(plan.walk.source) == "tasks"
    assert as_sql(plan.walk.where) == (
        "true AND status = %s AND service = %s ORDER BY updated_at DESC, id DESC LIMIT %s"
    )
    assert plan.walk.params == ("failed", "shop", 21)


def test_with_text_the_walk_stops_after_so_many_rows_per_result_wanted() -> None:
    plan = search_plan(TaskFilter(text="refund"), limit=9, walk_rows_per_result=7)
    assert "LIMIT %s) AS tasks" in as_sql(plan.walk.source)
    assert (
        as_sql(plan.walk.where) == "description ILIKE %s ORDER BY updated_at DESC, id DESC LIMIT %s"
    )
    assert plan.walk.params == (70, "%refund%", 10)
    assert search_plan(TaskFilter(text="x"), limit=1).walk.params[0] == 2 * WALK_ROWS_PER_RESULT


def test_the_text_filter_is_left_out_of_the_walked_rows_and_kept_in_the_match_first() -> None:
    plan = search_plan(
        TaskFilter(status_reason=StatusReason.REFUSED, text="refund"), limit=4, after=AFTER
    )
    assert "ILIKE" not in as_sql(plan.walk.source)
    assert plan.walk.params == (*AFTER, "refused", 5 * WALK_ROWS_PER_RESULT, "%refund%", 5)
    assert plan.match_first is not None
    assert as_sql(plan.match_first.source) == "tasks"
    assert as_sql(plan.match_first.where).startswith(
        "true AND (updated_at, id) < (%s, %s) AND status_reason = %s AND description ILIKE %s"
    )
    assert plan.match_first.params == (*AFTER, "refused", "%refund%", 5)


def test_both_plans_keep_the_cursor_and_every_other_filter() -> None:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    flt = TaskFilter(
        status=TaskStatus.SUCCESS, service="desk", since=since, until=until,
        status_reason=StatusReason.COMPLETED, text="a", session_prefix="s_1",
    )  # fmt: skip
    plan = search_plan(flt, limit=1, after=AFTER)
    assert plan.match_first is not None
    filters = (*AFTER, "success", "desk", since, until, "completed", "s\\_1%")
    assert plan.walk.params[: len(filters)] == filters
    assert plan.match_first.params[: len(filters)] == filters
    for clause in ("status = %s", "service = %s", "updated_at >= %s", "updated_at < %s",
                   "status_reason = %s", "session_id LIKE %s"):  # fmt: skip
        assert clause in as_sql(plan.walk.source)
        assert clause in as_sql(plan.match_first.where)


def test_like_wildcards_and_the_escape_character_in_text_are_matched_literally() -> None:
    assert like_escape("50% off_x\\y") == "50\\% off\\_x\\\\y"
    plan = search_plan(TaskFilter(text="5%"), limit=1)
    assert plan.match_first is not None
    assert plan.match_first.params[-2] == "%5\\%%"


def test_a_second_walk_goes_as_far_as_the_first_ones_rate_projects_with_a_margin() -> None:
    plan = search_plan(TaskFilter(text="refund"), limit=99, walk_rows_per_result=10)
    assert plan.walked == 1000
    # 50 of 100 found in 1,000 rows: 2,000 rows fill the page, 3,000 with the margin
    assert next_walk_rows(plan, 50, max_rows_per_result=200) == 3000
    further = plan.walk_further(3000)
    assert further.params == (3000, "%refund%", 100)
    assert (as_sql(further.source), as_sql(further.where)) == (
        as_sql(plan.walk.source),
        as_sql(plan.walk.where),
    )


def test_the_matches_come_first_when_the_walk_found_none_or_the_page_is_too_far() -> None:
    plan = search_plan(TaskFilter(text="zephyr"), limit=99, walk_rows_per_result=10)
    assert next_walk_rows(plan, 0, max_rows_per_result=200) is None
    # 5 of 100 in 1,000 rows: 30,000 rows to walk, past 200 per result (20,000)
    assert next_walk_rows(plan, 5, max_rows_per_result=200) is None
    assert next_walk_rows(plan, 5, max_rows_per_result=300) == 30000
    no_text = search_plan(TaskFilter(), limit=99)
    assert next_walk_rows(no_text, 5, max_rows_per_result=200) is None
