"""Decoding limits that refuse or cut only what is past them: an AnyValue
nested too deep is cut (the span and its other values are kept), and a
timestamp past 2^63-1 ns (valid in OTLP, not in the store) refuses the request."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.receiver.otlp_decode import (
    MAX_VALUE_DEPTH,
    DecodeFailed,
    DecodeProblems,
    iter_spans,
    parse_trace_request,
)
from tests.support.otlp_traffic import chat_request, deep_array_value, with_attribute_bytes


def nested_list(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def depth_of(value: object) -> int:
    depth = 0
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    return depth


def two_spans() -> ExportTraceServiceRequest:
    request = chat_request("deep", "hi")
    second = request.resource_spans[0].scope_spans[0].spans.add()
    second.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    second.span_id = b"\x33" * 8
    return request


@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 10_000])
def test_a_value_nested_past_the_limit_is_cut_and_the_span_kept(depth: int) -> None:
    data = with_attribute_bytes(two_spans(), "deep", deep_array_value(depth))
    problems = DecodeProblems()

    first, second = iter_spans(parse_trace_request(data), problems)

    assert depth_of(first.attributes["deep"]) == MAX_VALUE_DEPTH
    assert first.attributes["gen_ai.conversation.id"] == "deep"
    assert "deep" not in second.attributes
    assert problems.deep_values == 1


def test_a_value_at_the_limit_is_kept_whole() -> None:
    data = with_attribute_bytes(two_spans(), "deep", deep_array_value(MAX_VALUE_DEPTH))
    problems = DecodeProblems()

    first, _ = iter_spans(parse_trace_request(data), problems)

    assert first.attributes["deep"] == nested_list(MAX_VALUE_DEPTH)
    assert problems.deep_values == 0


def json_with_deep_value(depth: int) -> bytes:
    """Written as text: ``json.dumps`` itself refuses such depths."""
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"leaf"}' + "]}}" * depth
    span = (
        f'{{"traceId":"{"01" * 16}","spanId":"{"02" * 8}","name":"chat","attributes":['
        f'{{"key":"deep","value":{value}}},{{"key":"ok","value":{{"intValue":1}}}}]}}'
    )
    return f'{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}'.encode()


def test_otlp_json_nested_past_the_limit_is_cut_like_protobuf() -> None:
    problems = DecodeProblems()
    data = json_with_deep_value(MAX_VALUE_DEPTH + 20)

    (span,) = iter_spans(parse_trace_request(data, json_body=True), problems)

    assert depth_of(span.attributes["deep"]) == MAX_VALUE_DEPTH
    assert span.attributes["ok"] == 1
    assert problems.deep_values == 1


def test_otlp_json_nested_past_what_json_can_parse_is_refused_not_crashed() -> None:
    with pytest.raises(DecodeFailed, match="too deep"):
        parse_trace_request(json_with_deep_value(10_000), json_body=True)


@pytest.mark.parametrize("field", ["start_time_unix_nano", "end_time_unix_nano"])
def test_a_span_time_past_2_63_refuses_the_request(field: str) -> None:
    request = chat_request("late", "hi")
    setattr(request.resource_spans[0].scope_spans[0].spans[0], field, 2**63)

    with pytest.raises(DecodeFailed, match=field):
        list(iter_spans(parse_trace_request(request.SerializeToString())))


def test_a_span_time_at_2_63_minus_1_is_taken() -> None:
    request = chat_request("late", "hi")
    request.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 2**63 - 1

    (span,) = iter_spans(parse_trace_request(request.SerializeToString()))

    assert span.end_ns == 2**63 - 1
