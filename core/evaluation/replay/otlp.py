"""Our span and log-record vocabulary to serialized OTLP export requests. Pure.

Encoders describe what a library emits as :class:`~tasktrace.model.Span` and
:class:`~tasktrace.model.LogRecord` values; this module groups them by scope
under one resource, as an SDK's exporter does, and serializes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tasktrace.model import Attributes, AttrValue, LogRecord, Span

#: what every replayed request says about its sender
RESOURCE: Attributes = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.2",
    "service.name": "replay-agent",
}
_SAMPLED = 1

#: one export call: ("traces" | "logs", a serialized export request)
Export = tuple[str, bytes]


def compact_json(value: Any) -> str:
    """JSON as the GenAI utilities write it: no spaces, keys in the given order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _scopes(items: Iterable[Span | LogRecord]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(item.scope, []).append(item)
    return groups


def _span(span: Span) -> trace_pb2.Span:
    out = trace_pb2.Span(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_span_id),
        name=span.name,
        kind=int(span.kind),  # type: ignore[arg-type]
        start_time_unix_nano=span.start_ns,
        end_time_unix_nano=span.end_ns,
        attributes=to_key_values(span.attributes),
        flags=0x100,  # what the Python SDK sends: "is the parent remote" is known (no)
    )
    out.status.code = int(span.status_code)  # type: ignore[assignment]
    out.status.message = span.status_message
    for event in span.events:
        out.events.add(
            name=event.name,
            time_unix_nano=event.time_ns,
            attributes=to_key_values(event.attributes),
        )
    return out


def traces_request(spans: Sequence[Span]) -> bytes:
    """One ``ExportTraceServiceRequest`` holding ``spans``, grouped by scope."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(to_key_values(RESOURCE))
    for scope, items in _scopes(spans).items():
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = scope
        scope_spans.spans.extend(_span(s) for s in items)
    return request.SerializeToString()


def _record(record: LogRecord) -> logs_pb2.LogRecord:
    out = logs_pb2.LogRecord(
        observed_time_unix_nano=record.time_ns,
        event_name=record.event_name,
        attributes=to_key_values(record.attributes),
        trace_id=bytes.fromhex(record.trace_id),
        span_id=bytes.fromhex(record.span_id),
        flags=_SAMPLED,
    )
    if record.body is not None:
        out.body.CopyFrom(to_any_value(record.body))
    return out


def logs_request(records: Sequence[LogRecord]) -> bytes:
    """One ``ExportLogsServiceRequest`` holding ``records``, grouped by scope."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(to_key_values(RESOURCE))
    for scope, items in _scopes(records).items():
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = scope
        scope_logs.log_records.extend(_record(r) for r in items)
    return request.SerializeToString()


def exports(spans: Sequence[Span], records: Sequence[LogRecord] = ()) -> list[Export]:
    """The export calls of one request: its spans, then its log records (if any)."""
    out: list[Export] = []
    if spans:
        out.append(("traces", traces_request(spans)))
    if records:
        out.append(("logs", logs_request(records)))
    return out


def to_key_values(attrs: Mapping[str, AttrValue]) -> list[KeyValue]:
    """Attributes as OTLP key-values: the inverse of the receiver's decoding."""
    return [KeyValue(key=k, value=to_any_value(v)) for k, v in attrs.items()]


def to_any_value(value: AttrValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    out = AnyValue()
    if isinstance(value, list):
        out.array_value.values.extend(to_any_value(v) for v in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(to_key_values(value))
    return out
