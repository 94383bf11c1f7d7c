"""OTLP values no SDK will build, made as bytes: the deep-nesting inputs of the
decoder's limit tests, the fuzzer and the reliability bench."""

from __future__ import annotations

from tasktrace.receiver.otlp_wire import ArrayValue, TraceRequest


def with_deep_value(data: bytes, depth: int) -> bytes:
    """``data`` with an attribute nested ``depth`` arrays deep on its span (built
    level by level as bytes: protobuf itself refuses to nest past 100)."""
    inner = ArrayValue()
    inner.values.add().string_value = b"leaf"
    raw = inner.SerializeToString()
    for _ in range(depth - 1):
        outer = ArrayValue()
        outer.values.add().array_value = raw
        raw = outer.SerializeToString()
    request = TraceRequest.FromString(data)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.add(
        key="deep"
    ).value.array_value = raw
    return bytes(request.SerializeToString())
