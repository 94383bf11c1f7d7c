"""The buffering decision and the retry backoff, with explicit monotonic times."""

from __future__ import annotations

import pytest

from tasktrace.extractor.buffer import BufferState, DueQueue, backoff, due_at

IDLE = 8.0
TURNS = 4


def due(state: BufferState) -> float | None:
    return due_at(state, max_turns=TURNS, idle_timeout=IDLE)


def test_a_session_with_nothing_pending_is_never_due() -> None:
    assert due(BufferState()) is None
    assert due(BufferState(pending=0, last_arrival=100.0)) is None


def test_a_quiet_session_is_due_idle_timeout_after_its_last_message() -> None:
    assert due(BufferState(pending=1, last_arrival=100.0)) == 108.0
    assert due(BufferState(pending=TURNS - 1, last_arrival=250.5)) == 258.5


def test_each_new_message_pushes_the_idle_deadline_back() -> None:
    state = BufferState(pending=1, last_arrival=100.0)
    first = due(state)
    state.pending, state.last_arrival = 2, 105.0
    assert first == 108.0
    assert due(state) == 113.0


def test_max_turns_waiting_messages_make_a_session_due_at_once() -> None:
    assert due(BufferState(pending=TURNS, last_arrival=100.0)) == 0.0
    assert due(BufferState(pending=TURNS + 10, last_arrival=100.0)) == 0.0


def test_a_flush_makes_a_session_due_at_once_even_without_counted_messages() -> None:
    assert due(BufferState(pending=1, last_arrival=100.0, forced=True)) == 0.0
    assert due(BufferState(forced=True)) == 0.0


def test_after_a_failure_the_retry_time_wins_over_turns_flush_and_idle() -> None:
    state = BufferState(pending=TURNS, last_arrival=100.0, forced=True, failures=1, retry_at=130.0)
    assert due(state) == 130.0
    state.pending, state.forced = 1, False
    assert due(state) == 130.0


def test_a_failed_session_with_no_pending_messages_is_not_retried() -> None:
    assert due(BufferState(failures=2, retry_at=130.0)) is None


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (8, 256.0), (9, 300.0), (40, 300.0)],
)
def test_backoff_doubles_from_the_initial_delay_up_to_the_maximum(
    failures: int, expected: float
) -> None:
    assert backoff(failures, initial=2.0, maximum=300.0) == expected


def test_backoff_before_any_failure_is_the_initial_delay() -> None:
    assert backoff(0, initial=0.2, maximum=1.0) == 0.2
    assert backoff(3, initial=0.2, maximum=1.0) == pytest.approx(0.8)
    assert backoff(4, initial=0.2, maximum=1.0) == 1.0


def make_queue() -> DueQueue:
    return DueQueue(max_turns=TURNS, idle_timeout=IDLE)


def arrive(queue: DueQueue, sid: str, now: float, count: int = 1) -> None:
    state = queue.state(sid)
    state.pending += count
    state.last_arrival = now
    queue.schedule(sid)


def test_the_due_queue_hands_out_sessions_earliest_due_first() -> None:
    queue = make_queue()
    arrive(queue, "late", now=10.0)
    arrive(queue, "early", now=1.0)
    arrive(queue, "full", now=20.0, count=TURNS)
    assert queue.pop_due(100.0, limit=10) == ["full", "early", "late"]


def test_a_session_is_not_due_before_its_idle_deadline_and_is_kept_for_later() -> None:
    queue = make_queue()
    arrive(queue, "s", now=100.0)
    assert queue.pop_due(107.9, limit=10) == []
    assert queue.next_due() == 108.0
    assert queue.pop_due(108.0, limit=10) == ["s"]


def test_a_later_message_pushes_the_deadline_back_without_a_second_entry() -> None:
    queue = make_queue()
    arrive(queue, "s", now=100.0)
    arrive(queue, "s", now=105.0)
    assert queue.pop_due(108.0, limit=10) == []  # re-filed at 113
    assert queue.next_due() == 113.0
    assert queue.pop_due(113.0, limit=10) == ["s"]
    assert queue.pop_due(1000.0, limit=10) == []


def test_reaching_max_turns_makes_a_waiting_session_due_at_once() -> None:
    queue = make_queue()
    arrive(queue, "s", now=100.0)
    arrive(queue, "s", now=101.0, count=TURNS)
    assert queue.pop_due(101.0, limit=10) == ["s"]


def test_the_limit_leaves_the_rest_queued() -> None:
    queue = make_queue()
    for i in range(5):
        arrive(queue, f"s{i}", now=float(i), count=TURNS)
    assert queue.pop_due(50.0, limit=2) == ["s0", "s1"]
    assert queue.pop_due(50.0, limit=10) == ["s2", "s3", "s4"]


def test_a_busy_session_is_passed_over_until_it_is_scheduled_again() -> None:
    queue = make_queue()
    arrive(queue, "s", now=0.0, count=TURNS)
    assert queue.pop_due(1.0, limit=10, busy={"s"}) == []
    assert queue.pop_due(1.0, limit=10) == []  # its entry went with the busy pass
    queue.schedule("s")
    assert queue.pop_due(1.0, limit=10) == ["s"]


def test_a_session_with_nothing_pending_is_forgotten() -> None:
    queue = make_queue()
    arrive(queue, "s", now=0.0)
    queue.state("s").pending = 0
    queue.schedule("s")
    assert len(queue) == 0
    assert queue.pop_due(100.0, limit=10) == []


def test_a_flush_makes_a_session_due_now_even_with_an_idle_deadline_ahead() -> None:
    queue = make_queue()
    arrive(queue, "s", now=100.0)
    queue.state("s").forced = True
    queue.schedule("s")
    assert queue.pop_due(100.5, limit=10) == ["s"]


def test_lag_is_how_long_the_most_overdue_idle_session_has_waited() -> None:
    queue = DueQueue(max_turns=16, idle_timeout=8.0)
    for sid, arrival in (("a", 100.0), ("b", 95.0), ("c", 119.0)):
        state = queue.state(sid)
        state.pending, state.last_arrival = 1, arrival
        queue.schedule(sid)
    assert queue.lag(120.0) == pytest.approx(17.0)  # b: due at 103
    assert queue.lag(120.0, busy={"b"}) == pytest.approx(12.0)
    assert queue.lag(90.0) == 0.0


def test_lag_of_a_session_due_at_once_counts_from_its_last_message() -> None:
    queue = DueQueue(max_turns=2, idle_timeout=8.0)
    state = queue.state("a")
    state.pending, state.last_arrival = 2, 50.0
    queue.schedule("a")
    assert queue.lag(53.0) == pytest.approx(3.0)
