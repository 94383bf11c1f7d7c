"""Sessions that send model calls without message content are reported once,
after a grace period in which their content (log records) may still arrive."""

from __future__ import annotations

from tasktrace.receiver.content_watch import ContentWatch


def test_a_contentless_session_is_reported_once_after_the_grace_period() -> None:
    watch = ContentWatch(grace=10.0)
    watch.observe(["s1"], [], now=0.0)
    assert watch.due(9.9) == []
    assert watch.due(10.0) == ["s1"]
    watch.observe(["s1"], [], now=11.0)
    assert watch.due(30.0) == []
    assert watch.count == 1 and watch.reported() == ["s1"]


def test_content_arriving_within_the_grace_period_cancels_the_report() -> None:
    watch = ContentWatch(grace=10.0)
    watch.observe(["s1", "s2"], [], now=0.0)
    watch.observe([], ["s1"], now=5.0)
    watch.observe(["s1"], [], now=6.0)  # a later content-less call of a session with content
    assert watch.due(20.0) == ["s2"]


def test_memory_is_bounded() -> None:
    watch = ContentWatch(grace=0.0, max_sessions=2)
    watch.observe(["a", "b", "c"], [], now=0.0)
    assert watch.due(0.0) == ["b", "c"]
    watch.observe(["d"], [], now=1.0)
    assert watch.due(1.0) == ["d"]
    assert watch.reported() == ["c", "d"]
