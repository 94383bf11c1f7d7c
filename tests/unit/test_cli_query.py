from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from tasktrace.cli.query import (
    JSON_TYPE,
    PROTOBUF,
    format_sessions,
    format_tasks,
    otlp_target,
    register,
    since_time,
    tasks_usage_error,
)
from tasktrace.model import TaskStatus
from tests.support.query_builders import make_session, make_task


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("three-tools.pb", b"\x0a\x00", ("traces", PROTOBUF)),
        ("three-tools.logs.pb", b"\x0a\x00", ("logs", PROTOBUF)),
        ("three-tools.json", b'{"resourceSpans": []}', ("traces", JSON_TYPE)),
        ("three-tools.logs.json", b"{}", ("logs", JSON_TYPE)),
        ("captured.json", b'{"resourceLogs": []}', ("logs", JSON_TYPE)),
    ],
)
def test_a_captured_request_goes_to_its_signal_with_its_content_type(
    name: str, body: bytes, expected: tuple[str, str]
) -> None:
    assert otlp_target(name, body) == expected


@pytest.mark.parametrize(("name", "body"), [("request.txt", b""), ("broken.json", b"{")])
def test_a_file_that_is_not_an_otlp_request_is_refused(name: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        otlp_target(name, body)


def test_tasks_print_as_an_aligned_table_with_one_line_descriptions() -> None:
    tasks = [
        make_task(
            1,
            status=TaskStatus.SUCCESS,
            description="book\na flight",
            progress=("a",),
            status_reason="completed",
        ),
        make_task(12, status=TaskStatus.RUNNING, description="x" * 150),
    ]
    lines = format_tasks(tasks).splitlines()
    assert lines[0] == "#   STATUS   REASON     STEPS  DESCRIPTION"
    assert lines[1] == "1   success  completed  1      book a flight"
    assert lines[2].startswith("12  running  -          0      xxx")
    assert lines[2].endswith("…") and len(lines[2]) == len(lines[1]) - len("book a flight") + 100


def test_tasks_across_sessions_name_their_session_first() -> None:
    tasks = [make_task(2, session_id="shop-7", status=TaskStatus.FAILED, status_reason="refused")]
    lines = format_tasks(tasks, sessions=True).splitlines()
    assert lines[0].split() == ["SESSION", "#", "STATUS", "REASON", "STEPS", "DESCRIPTION"]
    assert lines[1].split()[:4] == ["shop-7", "2", "failed", "refused"]


def tasks_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["tasks", *argv])


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["s1", "--trace", "a" * 32], "at most one of SESSION, --trace and --span"),
        (["--trace", "a" * 32, "--span", "b" * 16], "not --trace and --span"),
        (["s1", "--service", "shop"], "--service filter tasks across sessions; drop SESSION"),
        (["--span", "b" * 16, "--status", "failed"], "--status filter tasks across sessions"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_tasks_arguments_that_do_not_go_together_are_refused(argv: list[str], error: str) -> None:
    assert error in tasks_usage_error(tasks_args(*argv))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["s1", "--status", "failed"],
        ["--status", "failed", "--service", "shop", "--since", "2h", "--reason", "refused"],
        ["--trace", "a" * 32],
    ],
)
def test_tasks_arguments_that_go_together_are_accepted(argv: list[str]) -> None:
    assert tasks_usage_error(tasks_args(*argv)) == ""


def test_since_is_an_iso_time_or_an_age_before_now() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert since_time("2026-12-01T08:00", now) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert since_time("90m", now) == now - timedelta(minutes=90)
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601 time or an age"):
        since_time("last week", now)


def test_empty_lists_say_so() -> None:
    assert format_tasks([]) == "no tasks"
    assert format_sessions([]) == "no sessions"


def test_sessions_print_id_service_message_count_and_update_time() -> None:
    lines = format_sessions([make_session("s1", service="shop", message_count=4)]).splitlines()
    assert lines[1].split() == ["s1", "shop", "4", "2026-11-23T19:05:55Z"]
