"""Applying task operations, and expiring idle sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasktrace.extractor.apply import apply_ops, expire, task_id
from tasktrace.model import (
    AddPreference,
    AppendProgress,
    CreateTask,
    DropPreference,
    LinkMessages,
    Message,
    Role,
    SetStatus,
    Task,
    TaskOp,
    TaskStatus,
    UpdateDescription,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
MESSAGES = {
    f"m{i}": Message(id=f"m{i}", session_id="s", seq=i, role=Role.USER, trace_id=f"t{i // 2}")
    for i in range(6)
}


def apply(tasks: tuple[Task, ...], *ops: TaskOp, now: datetime = T1) -> tuple[Task, ...]:
    return apply_ops(tasks, ops, session_id="s", now=now, extractor="heuristic", messages=MESSAGES)


def created() -> Task:
    (task,) = apply((), CreateTask(1, "book a table", message_ids=("m0",), reason="asked"), now=T0)
    return task


def test_create_task_gives_a_deterministic_id_and_a_first_history_entry() -> None:
    task = created()
    assert task.id == task_id("s", 1) == apply((), CreateTask(1, "x"))[0].id
    assert task.id != task_id("s", 2) != task_id("other", 1)
    assert task.status is TaskStatus.PENDING
    assert [(h.status, h.at, h.reason) for h in task.history] == [(TaskStatus.PENDING, T0, "asked")]
    assert task.revision == 1 and task.message_ids == ("m0",) and task.trace_ids == ("t0",)


def test_progress_is_appended_without_dedup_and_links_its_messages() -> None:
    (task,) = apply(
        (created(),),
        AppendProgress(1, "book(x=1)", ("m2",)),
        AppendProgress(1, "book(x=1)", ("m3",)),
    )
    assert task.progress == ("book(x=1)", "book(x=1)")
    assert task.message_ids == ("m0", "m2", "m3")
    assert task.trace_ids == ("t0", "t1")
    assert task.revision == 3 and task.updated_at == T1


def test_status_history_grows_only_when_the_status_changes() -> None:
    (task,) = apply(
        (created(),),
        SetStatus(1, TaskStatus.RUNNING, "calling"),
        SetStatus(1, TaskStatus.RUNNING, "still calling"),
        SetStatus(1, TaskStatus.SUCCESS, "booked"),
    )
    assert [h.status for h in task.history] == [
        TaskStatus.PENDING,
        TaskStatus.RUNNING,
        TaskStatus.SUCCESS,
    ]
    assert task.revision == 3


def test_preferences_skip_duplicates_and_a_keyed_value_replaces_the_earlier_one() -> None:
    (task,) = apply(
        (created(),),
        AddPreference(1, "party_size=4"),
        AddPreference(1, "window seat"),
        AddPreference(1, "window seat"),
        AddPreference(1, "party_size=3"),
    )
    assert task.preferences == ("party_size=3", "window seat")


def test_a_dropped_preference_goes_and_dropping_a_missing_one_changes_nothing() -> None:
    (task,) = apply((created(),), AddPreference(1, "date=2024-05-27"), AddPreference(1, "aisle"))
    (dropped,) = apply((task,), DropPreference(1, "date=2024-05-27"))
    assert dropped.preferences == ("aisle",)
    assert dropped.revision == task.revision + 1
    assert apply((dropped,), DropPreference(1, "date=2024-05-27")) == (dropped,)


def test_links_are_ordered_and_unique() -> None:
    (task,) = apply((created(),), LinkMessages(1, ("m1", "m0", "m4", "m1")))
    assert task.message_ids == ("m0", "m1", "m4")
    assert task.trace_ids == ("t0", "t2")


def test_ops_without_change_leave_the_task_untouched() -> None:
    task = created()
    assert apply((task,), LinkMessages(1, ("m0",)), UpdateDescription(1, "book a table")) == (task,)


def test_ops_naming_unknown_orders_and_repeated_creates_are_ignored() -> None:
    task = created()
    out = apply(
        (task,), SetStatus(7, TaskStatus.FAILED), CreateTask(1, "other"), AddPreference(9, "x")
    )
    assert out == (task,)


def test_description_updates_and_tasks_stay_ordered() -> None:
    out = apply(
        (created(),),
        CreateTask(3, "third"),
        CreateTask(2, "second"),
        UpdateDescription(1, "dinner"),
    )
    assert [t.order for t in out] == [1, 2, 3]
    assert out[0].description == "dinner" and out[0].revision == 2


def test_expire_sets_open_tasks_expired_once_the_session_is_idle_past_the_ttl() -> None:
    (pending,) = apply((), CreateTask(1, "a"))
    done = apply((pending,), CreateTask(2, "b"), SetStatus(2, TaskStatus.SUCCESS))[1]
    tasks = (pending, done)
    assert expire(tasks, last_activity=T0, now=T0 + timedelta(seconds=60), ttl=60) == ()
    ops = expire(tasks, last_activity=T0, now=T0 + timedelta(seconds=61), ttl=60)
    assert [(op.order, op.status) for op in ops if isinstance(op, SetStatus)] == [
        (1, TaskStatus.EXPIRED)
    ]


def _at(seconds: int) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp()) * 1_000_000_000


TIMED = {
    f"u{i}": Message(id=f"u{i}", session_id="s", seq=i, role=Role.USER, time_ns=_at(10 * i))
    for i in range(1, 4)
}


def apply_timed(tasks: tuple[Task, ...], *ops: TaskOp) -> tuple[Task, ...]:
    return apply_ops(tasks, ops, session_id="s", now=T1, extractor="heuristic", messages=TIMED)


def test_created_at_and_status_times_are_the_causing_message_times_not_the_extraction_time() -> (
    None
):
    (task,) = apply_timed((), CreateTask(1, "book a flight", message_ids=("u1",)))
    (task,) = apply_timed(
        (task,), LinkMessages(1, ("u2",)), SetStatus(1, TaskStatus.SUCCESS, "booked")
    )
    assert task.created_at == T0 + timedelta(seconds=10)
    assert task.extracted_at == T1 and task.updated_at == T1
    assert [(h.status, h.at) for h in task.history] == [
        (TaskStatus.PENDING, T0 + timedelta(seconds=10)),
        (TaskStatus.SUCCESS, T0 + timedelta(seconds=20)),
    ]


def test_a_task_created_running_still_starts_with_a_pending_entry() -> None:
    (task,) = apply_timed(
        (), CreateTask(1, "find a hotel", TaskStatus.RUNNING, ("u3",), "new tool")
    )
    assert [(h.status, h.reason) for h in task.history] == [
        (TaskStatus.PENDING, "new request"),
        (TaskStatus.RUNNING, "new tool"),
    ]
    assert {h.at for h in task.history} == {T0 + timedelta(seconds=30)}


def test_status_changes_without_any_message_time_fall_back_to_now() -> None:
    (task,) = apply((created(),), SetStatus(1, TaskStatus.EXPIRED, "idle"))
    assert task.history[-1].at == T1
