"""Properties of the OTLP decoders: whatever the bytes, decoding raises nothing
but :class:`DecodeFailed`; AnyValues survive a round trip over protobuf and
OTLP/JSON; nesting and timestamps are cut or refused at their documented limits."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tasktrace.evaluation.replay.otlp import to_any_value, to_key_values
from tasktrace.model import AttrValue
from tasktrace.receiver.otlp_decode import (
    MAX_TIME_NS,
    MAX_VALUE_DEPTH,
    DecodeFailed,
    DecodeProblems,
    TooManyItems,
    any_value,
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_trace_request,
)
from tasktrace.receiver.wire_count import json_items_at_least, pb_items
from tests.support.otlp_values import with_deep_value
from tests.support.properties import PROPERTY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
SEEDS = [
    FIXTURES / "openai-v2-latest-span" / "three-tools",
    FIXTURES / "openinference" / "tool-error",
    FIXTURES / "openai-v2-latest-event" / "clarification",
]


def decode(data: bytes, *, json_body: bool, logs: bool = False) -> int:
    """Decode ``data`` fully (request and items); the item count."""
    problems = DecodeProblems()
    if logs:
        return len(list(iter_log_records(parse_logs_request(data, json_body=json_body), problems)))
    return len(list(iter_spans(parse_trace_request(data, json_body=json_body), problems)))


def decodes_or_fails_cleanly(data: bytes, *, json_body: bool, logs: bool = False) -> bool:
    """True when ``data`` decodes, False when it raises DecodeFailed; anything else raises."""
    try:
        decode(data, json_body=json_body, logs=logs)
    except DecodeFailed:
        return False
    return True


@PROPERTY
@given(st.binary(max_size=4096), st.booleans(), st.booleans())
def test_arbitrary_bytes_decode_or_raise_decode_failed(
    data: bytes, as_json: bool, logs: bool
) -> None:
    assert decodes_or_fails_cleanly(data, json_body=as_json, logs=logs) in (True, False)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["resourceSpans", "scopeSpans", "spans", "attributes", "key", "value", "traceId",
             "spanId", "stringValue", "arrayValue", "kvlistValue", "values", "intValue",
             "startTimeUnixNano", "events", "links", "resource", "scope", "name", "status"]
        )
        | st.text(max_size=8),
        inner,
        max_size=4,
    ),
    max_leaves=30,
)  # fmt: skip


@PROPERTY
@given(JSON_VALUES)
def test_any_json_document_decodes_or_raises_decode_failed(document: Any) -> None:
    body = json.dumps(document).encode()
    assert decodes_or_fails_cleanly(body, json_body=True) in (True, False)


@pytest.mark.parametrize("ext", ["pb", "json"])
@PROPERTY
@given(data=st.data())
def test_truncated_and_bit_flipped_real_requests_decode_or_raise_decode_failed(
    ext: str, data: st.DataObject
) -> None:
    body = bytearray((data.draw(st.sampled_from(SEEDS)).with_suffix(f".{ext}")).read_bytes())
    flips = data.draw(st.lists(st.integers(0, len(body) * 8 - 1), max_size=8))
    for bit in flips:
        body[bit // 8] ^= 1 << (bit % 8)
    cut = data.draw(st.integers(0, len(body)))
    assert decodes_or_fails_cleanly(bytes(body[:cut]), json_body=ext == "json") in (True, False)


ATTR_VALUES: st.SearchStrategy[AttrValue] = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def request_with(
    attrs: dict[str, AttrValue], start: int = 1, end: int = 2
) -> ExportTraceServiceRequest:
    span = ProtoSpan(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s",
        start_time_unix_nano=start, end_time_unix_nano=end,
    )  # fmt: skip
    span.attributes.extend(to_key_values(attrs))
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request


def as_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping with hex ids."""
    document = json_format.MessageToDict(request)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def same(a: AttrValue, b: AttrValue) -> bool:
    """Equal, with -0.0 == 0.0 and floats compared by value."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@PROPERTY
@given(st.dictionaries(st.text(max_size=8), ATTR_VALUES, max_size=4), st.booleans())
def test_attribute_values_survive_a_round_trip(attrs: dict[str, AttrValue], as_json: bool) -> None:
    request = request_with(attrs)
    body = as_otlp_json(request) if as_json else request.SerializeToString()
    (span,) = iter_spans(parse_trace_request(body, json_body=as_json))
    assert same(dict(span.attributes), attrs)


@PROPERTY
@given(ATTR_VALUES)
def test_any_value_inverts_to_any_value(value: AttrValue) -> None:
    assert same(any_value(to_any_value(value)), value)


def nested(depth: int) -> bytes:
    """A request whose one attribute is ``depth`` arrays deep around a string (built as bytes)."""
    return with_deep_value(request_with({}).SerializeToString(), depth)


@PROPERTY
@given(st.integers(1, 3 * MAX_VALUE_DEPTH))
def test_a_deep_value_is_cut_at_the_depth_limit_and_its_span_kept(depth: int) -> None:
    problems = DecodeProblems()
    (span,) = iter_spans(parse_trace_request(nested(depth)), problems)
    value, levels = span.attributes["deep"], 0
    while isinstance(value, list) and value:
        value, levels = value[0], levels + 1
    assert problems.deep_values == (1 if depth > MAX_VALUE_DEPTH else 0)
    assert levels == min(depth, MAX_VALUE_DEPTH)


@PROPERTY
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.booleans())
def test_a_timestamp_past_2_63_is_refused_and_any_other_is_kept(
    start: int, end: int, as_json: bool
) -> None:
    request = request_with({}, start, end)
    body = as_otlp_json(request) if as_json else request.SerializeToString()
    if max(start, end) > MAX_TIME_NS:
        with pytest.raises(DecodeFailed):
            decode(body, json_body=as_json)
    else:
        (span,) = iter_spans(parse_trace_request(body, json_body=as_json))
        assert (span.start_ns, span.end_ns) == (start, end)


@PROPERTY
@given(st.text(min_size=1, max_size=8), st.sampled_from(["\ud800", "\udfff", "\udbff\udc00"[0]]))
def test_a_field_name_with_a_lone_surrogate_is_decode_failed(name: str, surrogate: str) -> None:
    body = json.dumps({"resourceSpans": [{name + surrogate: 1}]}).encode()
    with pytest.raises(DecodeFailed):
        decode(body, json_body=True)


@PROPERTY
@given(st.integers(0, 40), st.integers(1, 40), st.booleans())
def test_a_request_over_the_item_limit_is_too_many_items(
    count: int, limit: int, as_json: bool
) -> None:
    request = request_with({})
    spans = request.resource_spans[0].scope_spans[0].spans
    spans.extend([spans[0]] * (count - 1) if count else [])
    if not count:
        del spans[:]
    body = as_otlp_json(request) if as_json else request.SerializeToString()
    if count > limit:
        with pytest.raises(TooManyItems):
            parse_trace_request(body, json_body=as_json, max_items=limit)
    else:
        parsed = parse_trace_request(body, json_body=as_json, max_items=limit)
        assert len(list(iter_spans(parsed))) == count


@PROPERTY
@given(st.binary(max_size=2048))
def test_counting_items_on_the_wire_takes_any_bytes(data: bytes) -> None:
    assert pb_items(data) >= 0


@PROPERTY
@given(st.lists(st.integers(0, 5), max_size=6), st.booleans())
def test_the_wire_count_is_the_span_count_and_the_json_count_a_lower_bound(
    per_scope: list[int], as_json: bool
) -> None:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    for i, count in enumerate(per_scope):
        scope = resource.scope_spans.add()
        for n in range(count):
            span = scope.spans.add(trace_id=b"\x01" * 16, span_id=bytes([i + 1, n + 1]) * 4)
            for _ in range(n % 4):  # up to 3 links
                span.links.add(trace_id=b"\x02" * 16, span_id=b"\x03" * 8)
    assert pb_items(request.SerializeToString()) == sum(per_scope)
    body = json.dumps(json_format.MessageToDict(request)).encode()
    assert json_items_at_least(body, "spans") <= sum(per_scope)


@PROPERTY
@given(
    st.sampled_from(["startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue", "kind"]),
    st.one_of(
        st.floats(), st.integers(-(2**80), 2**80), st.text(max_size=30), st.sampled_from(["1e30"])
    ),
)
def test_a_number_or_enum_field_of_any_json_value_decodes_or_raises_decode_failed(
    key: str, value: object
) -> None:
    span = {"traceId": "01" * 16, "spanId": "02" * 8, key: value}
    span["attributes"] = [{"key": "k", "value": {key: value}}]
    span["events"] = [{"name": "e", key: value}]
    span["status"] = {"code": value}  # an enum, as ``kind``
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    assert decodes_or_fails_cleanly(body, json_body=True) in (True, False)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e300, "Infinity", 2**64])
@pytest.mark.parametrize("field", ["kind", "startTimeUnixNano", "status"])
def test_an_enum_or_number_field_that_is_no_integer_decodes_or_is_decode_failed(
    field: str, value: object
) -> None:
    # found by bench/fuzz.py: json_format's int() of an infinite enum value overflowed (a 500);
    # an enum value it cannot read is ignored (ignore_unknown_fields)
    span: dict[str, object] = {"traceId": "01" * 16, "spanId": "02" * 8}
    span[field] = {"code": value} if field == "status" else value
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    assert decodes_or_fails_cleanly(body, json_body=True) in (True, False)
