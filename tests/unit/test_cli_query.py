from __future__ import annotations

import pytest

from tasktrace.cli_query import JSON_TYPE, PROTOBUF, format_sessions, format_tasks, otlp_target
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
        make_task(1, status=TaskStatus.SUCCESS, description="book\na flight", progress=("a",)),
        make_task(12, status=TaskStatus.RUNNING, description="x" * 150),
    ]
    lines = format_tasks(tasks).splitlines()
    assert lines[0] == "#   STATUS   STEPS  DESCRIPTION"
    assert lines[1] == "1   success  1      book a flight"
    assert lines[2].startswith("12  running  0      xxx")
    assert lines[2].endswith("…") and len(lines[2]) == len(lines[1]) - len("book a flight") + 100


def test_empty_lists_say_so() -> None:
    assert format_tasks([]) == "no tasks"
    assert format_sessions([]) == "no sessions"


def test_sessions_print_id_service_message_count_and_update_time() -> None:
    lines = format_sessions([make_session("s1", service="shop", message_count=4)]).splitlines()
    assert lines[1].split() == ["s1", "shop", "4", "2026-11-23T19:05:55Z"]
