"""The same conversation replayed through different instrumentation libraries
(``tests/fixtures/otlp/crosslib``) gives the same transcript and task list as
through the reference library, and conversations a library records without a
session id stay apart when they only share an opening."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.evaluation.client import EvalClient
from tasktrace.model import Message, Role, Task
from tasktrace.receiver.otlp_decode import iter_spans, parse_trace_request
from tests.support.service import running_service

CROSSLIB = Path(__file__).parent.parent / "fixtures" / "otlp" / "crosslib"
REFERENCE = "openai-v2-latest-span"
#: (library, conversation, whether the replay shows the failed tool results): the
#: defect each replay showed before its fix
CASES = [
    # the history past the span attribute limit read as new: users and calls repeated
    ("openinference", "taubench-airline-gpt-4o-task8-trial1", True),
    # no tool spans: the failed calls only say so in their result text
    ("openllmetry", "taubench-airline-gpt-4o-task13-trial2", True),
    # no tool spans, and results that read as data: only the assistant's reply
    # ("Would you like me to book an appointment at 3:30 pm?") tells the booking failed
    ("openllmetry", "sgd-train-112_00059", False),
]

#: per conversation: users, assistant tool calls, tool results, failed results
Counts = tuple[int, int, int, int]


def counts(messages: Sequence[Message]) -> Counts:
    results = [m for m in messages if m.role is Role.TOOL]
    return (
        sum(m.role is Role.USER for m in messages),
        sum(len(m.tool_calls) for m in messages if m.role is Role.ASSISTANT),
        len(results),
        sum(m.error for m in results),
    )


def tasks_view(tasks: Sequence[Task]) -> list[tuple[str, str, int]]:
    ordered = sorted(tasks, key=lambda t: t.order)
    return [(t.description, t.status.value, len(t.progress)) for t in ordered]


def trace_ids(body: bytes) -> list[str]:
    return list(dict.fromkeys(s.trace_id for s in iter_spans(parse_trace_request(body))))


async def replayed(
    pg_dsn: str, body: bytes, conversation: str
) -> tuple[Counts, list[tuple[str, str, int]]]:
    async with running_service(pg_dsn) as service, EvalClient(service.endpoints.http) as client:
        await client.send([("traces", body)])
        session_id, flushed = await client.flush_first([conversation, *trace_ids(body)])
        assert flushed and session_id
        messages, tasks = await client.read(session_id)
    return counts(messages), tasks_view(tasks)


@pytest.mark.parametrize(("library", "conversation", "shows_errors"), CASES)
async def test_a_library_gives_the_reference_transcript_and_tasks(
    pg_dsn: str, library: str, conversation: str, shows_errors: bool
) -> None:
    expected = await replayed(
        pg_dsn, (CROSSLIB / REFERENCE / f"{conversation}.pb").read_bytes(), conversation
    )
    got = await replayed(
        pg_dsn, (CROSSLIB / library / f"{conversation}.pb").read_bytes(), conversation
    )
    assert expected[0][2] > 0  # the conversation has tool results to compare
    assert got[1] == expected[1]
    if shows_errors:
        assert got[0] == expected[0]
    else:
        assert got[0][:3] == expected[0][:3]
        assert got[0][3] == 0 < expected[0][3]


def first_call(body: bytes, trace_id: bytes) -> bytes:
    """The earliest model-call span of a replay, alone in a request, in trace ``trace_id``."""
    request = ExportTraceServiceRequest.FromString(body)
    resource = request.resource_spans[0]
    spans = [
        (s, scope) for rs in request.resource_spans for scope in rs.scope_spans for s in scope.spans
    ]
    span, scope = min(spans, key=lambda pair: pair[0].start_time_unix_nano)
    out = ExportTraceServiceRequest()
    target = out.resource_spans.add()
    target.resource.CopyFrom(resource.resource)
    kept = target.scope_spans.add()
    kept.scope.CopyFrom(scope.scope)
    copy = kept.spans.add()
    copy.CopyFrom(span)
    copy.trace_id = trace_id
    copy.ClearField("parent_span_id")
    return out.SerializeToString()


async def test_two_conversations_without_a_session_id_sharing_an_opening_stay_apart(
    pg_dsn: str,
) -> None:
    # two users open with the same message and get the same first answer
    body = (CROSSLIB / "openllmetry" / "taubench-airline-gpt-4o-task13-trial2.pb").read_bytes()
    first, second = (first_call(body, bytes([n]) * 16) for n in (1, 2))
    async with running_service(pg_dsn) as service, EvalClient(service.endpoints.http) as client:
        await client.send([("traces", first)])
        await client.send([("traces", second)])
        one, _ = await client.flush_first([trace_ids(first)[0]])
        two, _ = await client.flush_first([trace_ids(second)[0]])
        first_messages, _ = await client.read(one)
        second_messages, _ = await client.read(two)
    assert one and two and one != two
    assert [m.content for m in second_messages] == [m.content for m in first_messages]
    assert [m.role for m in first_messages][-2:] == [Role.USER, Role.ASSISTANT]
