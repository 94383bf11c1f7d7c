"""Decoding keeps a span whose attribute values are not UTF-8 or too long, and counts them."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tasktrace.receiver import otlp_decode
from tasktrace.receiver.otlp_decode import DecodeProblems, iter_spans, parse_trace_request


def request_with(**values: AnyValue) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat"
    span.attributes.extend(KeyValue(key=k, value=v) for k, v in values.items())
    return request


def test_a_value_that_is_not_utf8_is_read_with_replacement_and_counted() -> None:
    request = request_with(
        plain=AnyValue(string_value="abc#"),
        nested=AnyValue(kvlist_value={"values": [{"key": "x", "value": {"string_value": "xyz#"}}]}),
    )
    data = request.SerializeToString().replace(b"abc#", b"ab\xff#").replace(b"xyz#", b"xy\xfe#")
    problems = DecodeProblems()

    (span,) = iter_spans(parse_trace_request(data), problems)

    assert span.attributes == {"plain": "ab\ufffd#", "nested": {"x": "xy\ufffd#"}}
    assert (problems.invalid_utf8, problems.cut_values) == (2, 0)


def test_a_value_over_the_limit_is_cut_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_decode, "MAX_VALUE_CHARS", 8)
    request = request_with(long=AnyValue(string_value="0123456789"))
    problems = DecodeProblems()

    (span,) = iter_spans(parse_trace_request(request.SerializeToString()), problems)

    assert span.attributes == {"long": "01234567"}
    assert problems.cut_values == 1


def test_protobuf_and_otlp_json_decode_to_the_same_span() -> None:
    request = request_with(text=AnyValue(string_value="h\u00e9llo"), n=AnyValue(int_value=3))
    document = json_format.MessageToJson(request)
    document = document.replace('"AQEBAQEBAQEBAQEBAQEBAQ=="', '"' + "01" * 16 + '"')
    document = document.replace('"AgICAgICAgI="', '"' + "02" * 8 + '"')

    from_pb = list(iter_spans(parse_trace_request(request.SerializeToString())))
    from_json = list(iter_spans(parse_trace_request(document.encode(), json_body=True)))

    assert from_pb == from_json
    assert from_pb[0].attributes == {"text": "h\u00e9llo", "n": 3}
