from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tasktrace.api import proto_codec, wire
from tasktrace.model import Role, Session, StatusReason, TaskStatus, ToolCall
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadRequest,
    FlushResult,
    Page,
    SessionStatus,
    SourceRef,
    TaskFilter,
)
from tests.support.query_builders import T0, T0_NS, make_message, make_session, make_task

TOOL_CALL = ToolCall("call_1", "search_flights", '{"to": "LIS"}')


def through_json(data: object) -> Any:
    return json.loads(json.dumps(data))


def test_times_are_iso_8601_utc_with_microseconds_and_a_z() -> None:
    assert wire.format_time(T0) == "2026-11-23T19:05:55.123456Z"
    lisbon_summer = timezone(timedelta(hours=1))
    assert wire.format_time(datetime(2026, 7, 1, 13, 0, tzinfo=lisbon_summer)) == (
        "2026-07-01T12:00:00.000000Z"
    )
    assert wire.parse_time("2026-11-23T19:05:55.123456Z") == T0


def test_a_task_becomes_the_promised_json_object() -> None:
    data = wire.task_to_json(make_task(1, status=TaskStatus.FAILED, progress=("searched",)))
    assert set(data) == {
        "id", "session_id", "order", "description", "status", "status_reason", "progress",
        "preferences", "message_ids", "trace_ids", "created_at", "updated_at", "extracted_at",
        "history", "revision", "extractor",
    }  # fmt: skip
    assert data["status"] == "failed"
    assert data["progress"] == ["searched"]
    created = wire.format_time(T0 + timedelta(minutes=1))
    assert data["history"][0] == {"status": "pending", "at": created, "reason": "asked"}


def test_a_task_survives_the_json_round_trip() -> None:
    task = make_task(3, status=TaskStatus.SUCCESS, progress=("a", "b"))
    assert wire.task_from_json(through_json(wire.task_to_json(task))) == task


def test_status_reason_revision_and_extractor_travel_in_json_and_protobuf() -> None:
    task = make_task(
        1, status=TaskStatus.FAILED, status_reason="tool_error", revision=7, extractor="heuristic"
    )
    data = wire.task_to_json(task)
    assert (data["status_reason"], data["revision"], data["extractor"]) == (
        "tool_error", 7, "heuristic"
    )  # fmt: skip
    assert wire.task_from_json(through_json(data)) == task
    encoded = pb.Task.FromString(proto_codec.task_to_pb(task).SerializeToString())
    assert (encoded.status_reason, encoded.revision, encoded.extractor) == (
        "tool_error", 7, "heuristic"
    )  # fmt: skip
    assert proto_codec.task_from_pb(encoded) == task


def test_a_message_survives_the_json_round_trip_with_its_tool_calls() -> None:
    message = make_message(2, role=Role.ASSISTANT, content="", tool_calls=(TOOL_CALL,))
    data = wire.message_to_json(message)
    assert data["time"] == "2026-11-23T19:05:57.123456Z"
    assert data["tool_calls"] == [
        {"id": "call_1", "name": "search_flights", "arguments": '{"to": "LIS"}'}
    ]
    assert wire.message_from_json(through_json(data)) == message


def test_a_message_without_a_time_has_time_null() -> None:
    message = make_message(0)
    message = replace(message, time_ns=0)
    data = wire.message_to_json(message)
    assert data["time"] is None
    assert wire.message_from_json(data).time_ns == 0


def test_message_time_keeps_microseconds_only() -> None:
    message = make_message(0)
    message = replace(message, time_ns=T0_NS + 999)
    assert wire.message_from_json(wire.message_to_json(message)).time_ns == T0_NS


def test_a_session_status_and_flush_result_survive_the_json_round_trip() -> None:
    session = make_session("s1", message_count=4)
    status = SessionStatus(messages=4, processed=3, pending=1, in_process=True, last_error="x")
    result = FlushResult(processed=2, tasks=(make_task(1), make_task(2)))
    assert wire.session_from_json(through_json(wire.session_to_json(session))) == session
    assert wire.session_status_from_json(wire.session_status_to_json(status)) == status
    assert wire.flush_result_from_json(through_json(wire.flush_result_to_json(result))) == result


def test_a_session_without_times_has_nulls() -> None:
    session = Session(id="s9")
    data = wire.session_to_json(session)
    assert data["created_at"] is None
    assert wire.session_from_json(data) == session


def test_a_page_carries_its_items_and_next_cursor() -> None:
    page = Page(items=(make_session("a"), make_session("b")), next_cursor="2")
    data = wire.page_to_json(page, wire.session_to_json)
    assert [s["id"] for s in data["items"]] == ["a", "b"]
    assert data["next_cursor"] == "2"
    assert wire.page_from_json(data, wire.session_from_json) == page
    last = wire.page_to_json(Page(items=()), wire.session_to_json)
    assert last == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("text", "expected"), [(None, DEFAULT_LIMIT), ("", DEFAULT_LIMIT), ("1", 1), ("1000", 1000)]
)
def test_limit_defaults_and_accepts_one_to_max(text: str | None, expected: int) -> None:
    assert wire.parse_limit(text) == expected


@pytest.mark.parametrize("text", ["0", "-3", str(MAX_LIMIT + 1), "ten", "1.5"])
def test_a_bad_limit_is_a_bad_request_naming_limit(text: str) -> None:
    with pytest.raises(BadRequest, match="limit"):
        wire.parse_limit(text)


def test_status_must_be_a_task_status() -> None:
    assert wire.parse_status("failed") is TaskStatus.FAILED
    assert wire.parse_status("") is None
    with pytest.raises(BadRequest, match="status must be one of pending, running"):
        wire.parse_status("done")


def test_task_filter_reads_status_service_and_times() -> None:
    flt = wire.parse_task_filter(
        {"status": "running", "service": "shop", "since": "2026-11-23T19:00:00Z"}
    )
    assert flt == TaskFilter(
        status=TaskStatus.RUNNING,
        service="shop",
        since=datetime(2026, 11, 23, 19, tzinfo=UTC),
    )


def test_task_filter_reads_status_reason_text_and_session_prefix() -> None:
    flt = wire.parse_task_filter(
        {"status_reason": "Escalated", "text": "window seat", "session_prefix": "shop-"}
    )
    assert flt == TaskFilter(
        status_reason=StatusReason.ESCALATED, text="window seat", session_prefix="shop-"
    )
    assert wire.parse_task_filter({"status_reason": "", "text": ""}) == TaskFilter()


def test_an_unknown_status_reason_or_an_overlong_text_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="status_reason must be one of completed, tool_error"):
        wire.parse_task_filter({"status_reason": "done"})
    with pytest.raises(BadRequest, match="text must be at most"):
        wire.parse_task_filter({"text": "x" * (wire.MAX_FILTER_LENGTH + 1)})


def test_unknown_query_parameters_are_named_with_the_known_ones() -> None:
    wire.check_known_params({"limit": "1"}, ("limit", "cursor"))
    with pytest.raises(BadRequest) as info:
        wire.check_known_params({"trace_id": "x", "limit": "1", "a": ""}, ("limit", "cursor"))
    assert str(info.value) == "unknown query parameter a, trace_id; known: limit, cursor"
    with pytest.raises(BadRequest, match="known: none"):
        wire.check_known_params({"x": "1"}, ())


def test_a_source_is_one_trace_or_span_id_in_lower_case_hex() -> None:
    trace = "0AF7651916CD43DD8448EB211C80319C"
    assert wire.check_source(SourceRef(trace_id=trace)) == SourceRef(trace_id=trace.lower())
    assert wire.check_source(SourceRef(span_id="B7AD6B7169203331")).span_id == "b7ad6b7169203331"
    for bad, error in [
        (SourceRef(), "either a trace id or a span id"),
        (SourceRef(trace_id=trace, span_id="b7ad6b7169203331"), "either a trace id"),
        (SourceRef(trace_id="b7ad6b7169203331"), "trace id must be 32 hex digits"),
        (SourceRef(span_id="z" * 16), "span id must be 16 hex digits"),
        (SourceRef(span_id="0" * 16), "not all zero"),
    ]:
        with pytest.raises(BadRequest, match=error):
            wire.check_source(bad)


def test_a_naive_time_parameter_is_taken_as_utc() -> None:
    assert wire.parse_time_param("since", "2026-11-23T19:00") == datetime(
        2026, 11, 23, 19, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"until": "2026-13-01"}, "until must be an ISO 8601 time"),
        ({"since": "2026-11-24", "until": "2026-11-23"}, "since must not be after until"),
    ],
)
def test_bad_time_filters_are_bad_requests(params: dict[str, str], error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        wire.parse_task_filter(params)


def test_flush_timeout_defaults_to_and_is_capped_at_the_maximum() -> None:
    assert wire.parse_timeout(None, 30.0) == 30.0
    assert wire.parse_timeout("2.5", 30.0) == 2.5
    assert wire.parse_timeout("600", 30.0) == 30.0


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_flush_timeout_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match="timeout"):
        wire.parse_timeout(text, 30.0)


# --- protobuf ----------------------------------------------------------------


def test_a_task_survives_the_protobuf_round_trip() -> None:
    task = make_task(2, status=TaskStatus.EXPIRED, progress=("one",))
    encoded = proto_codec.task_to_pb(task)
    assert encoded.status == pb.TASK_STATUS_EXPIRED
    decoded = pb.Task.FromString(encoded.SerializeToString())
    assert proto_codec.task_from_pb(decoded) == task


def test_a_message_survives_the_protobuf_round_trip_to_the_nanosecond() -> None:
    message = make_message(1, role=Role.TOOL, tool_call_id="call_1", tool_name="search")
    message = replace(message, time_ns=T0_NS + 7)
    encoded = proto_codec.message_to_pb(message)
    assert encoded.role == pb.ROLE_TOOL
    assert proto_codec.message_from_pb(encoded) == message


def test_sessions_statuses_flushes_and_pages_survive_the_protobuf_round_trip() -> None:
    session = make_session("s1", message_count=3)
    bare = Session(id="s2")
    status = SessionStatus(messages=4, processed=4, pending=0, in_process=False)
    result = FlushResult(processed=1, tasks=(make_task(1),))
    page = Page(items=(session, bare), next_cursor="abc")
    encoded = proto_codec.page_to_pb(page, pb.ListSessionsResponse, proto_codec.session_to_pb)
    assert proto_codec.page_from_pb(encoded, proto_codec.session_from_pb) == page
    assert not encoded.items[1].HasField("created_at")
    assert proto_codec.session_status_from_pb(proto_codec.session_status_to_pb(status)) == status
    assert proto_codec.flush_result_from_pb(proto_codec.flush_result_to_pb(result)) == result


def test_protobuf_requests_read_unspecified_as_no_filter_and_zero_as_default_limit() -> None:
    request = pb.ListTasksRequest(status=pb.TASK_STATUS_FAILED, service="shop")
    request.since.CopyFrom(proto_codec.timestamp(T0))
    assert proto_codec.task_filter_from_pb(request) == TaskFilter(
        status=TaskStatus.FAILED, service="shop", since=T0
    )
    assert proto_codec.task_filter_from_pb(pb.ListTasksRequest()) == TaskFilter()
    search = pb.ListTasksRequest(status_reason="refused", text="refund", session_prefix="s-")
    assert proto_codec.task_filter_from_pb(search) == TaskFilter(
        status_reason=StatusReason.REFUSED, text="refund", session_prefix="s-"
    )
    with pytest.raises(BadRequest, match="status_reason must be one of"):
        proto_codec.task_filter_from_pb(pb.ListTasksRequest(status_reason="nope"))
    span = pb.ListTraceTasksRequest(span_id="B7AD6B7169203331")
    assert proto_codec.source_from_pb(span) == SourceRef(span_id="b7ad6b7169203331")
    with pytest.raises(BadRequest, match="either a trace id or a span id"):
        proto_codec.source_from_pb(pb.ListTraceTasksRequest())
    assert proto_codec.limit_from_pb(0) == DEFAULT_LIMIT
    with pytest.raises(BadRequest, match="limit"):
        proto_codec.limit_from_pb(MAX_LIMIT + 1)
    with pytest.raises(BadRequest, match="unknown task status 42"):
        proto_codec.status_from_pb(42)
