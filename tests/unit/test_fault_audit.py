"""The fault tests' audit: acknowledged spans against stored rows."""

from __future__ import annotations

from tests.support.fault_audit import Stored, audit
from tests.support.sdk_load import turn


def rows(session: str, *indexes: int) -> list[tuple[str, str, str]]:
    out = []
    for index in indexes:
        out += [(session, "user", turn(session, index).user)]
        out += [(session, "assistant", turn(session, index).assistant)]
    return out


def test_an_acknowledged_turn_counts_present_only_with_both_its_messages() -> None:
    stored = Stored(
        messages=[*rows("s", 0), (("s", "user", turn("s", 1).user))],
        sessions=[("s", 3, 3)],
    )
    figures = audit(made=[("s", 0), ("s", 1)], acked=[("s", 0), ("s", 1), ("s", 0)], stored=stored)
    assert (figures.sent, figures.acked, figures.present) == (2, 2, 1)
    assert (figures.duplicates, figures.unextracted, figures.user_messages) == (0, 0, 2)


def test_a_message_stored_twice_and_a_session_behind_its_cursor_are_counted() -> None:
    stored = Stored(
        messages=[*rows("a", 0), *rows("a", 0)[:1], *rows("b", 0, 1)],
        sessions=[("a", 3, 3), ("b", 4, 2)],
        tasks=[("a", "x"), ("a", "x"), ("b", "y")],
    )
    figures = audit(made=[("a", 0), ("b", 1)], acked=[("b", 1)], stored=stored)
    assert (figures.present, figures.duplicates) == (1, 1)
    assert (figures.sessions, figures.unextracted) == (2, 1)
    assert (figures.tasks, figures.duplicate_tasks) == (3, 1)


def test_a_session_of_an_acknowledged_span_that_is_missing_counts_nothing_present() -> None:
    figures = audit(made=[("gone", 0)], acked=[("gone", 0)], stored=Stored([], []))
    assert (figures.acked, figures.present, figures.sessions) == (1, 0, 0)
