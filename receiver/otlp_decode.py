"""OTLP requests (protobuf or OTLP/JSON bytes) to the plain :mod:`tasktrace.model` types.

Pure functions. OTLP/JSON differs from protobuf's canonical JSON mapping in
that trace and span ids are hex strings, not base64
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding); they are
rewritten before :func:`google.protobuf.json_format.ParseDict` sees them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tasktrace.model import AttrValue, LogRecord, Span, SpanEvent, SpanKind, StatusCode

#: the largest string value kept from an attribute; longer ones are cut (and counted by the caller)
MAX_VALUE_CHARS = 4 * 1024 * 1024


class DecodeFailed(ValueError):
    """The request bytes will never parse: answer INVALID_ARGUMENT / HTTP 400."""


def parse_trace_request(data: bytes, *, json_body: bool = False) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    _parse(request, data, json_body, "resourceSpans", "scopeSpans", "spans")
    return request


def parse_logs_request(data: bytes, *, json_body: bool = False) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    _parse(request, data, json_body, "resourceLogs", "scopeLogs", "logRecords")
    return request


def _parse(message: Any, data: bytes, json_body: bool, *path: str) -> None:
    if not json_body:
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise DecodeFailed(f"malformed OTLP protobuf: {exc}") from exc
        return
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeFailed(f"malformed OTLP/JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DecodeFailed("malformed OTLP/JSON: the top level must be an object")
    for item in _walk(document, path):
        _hex_ids_to_base64(item)
        for sub in item.get("links") or ():
            if isinstance(sub, dict):
                _hex_ids_to_base64(sub)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise DecodeFailed(f"malformed OTLP/JSON: {exc}") from exc


def _walk(document: dict[str, Any], path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    level: list[Any] = [document]
    for key in path:
        nxt: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                children = node.get(key) or []
                if isinstance(children, list):
                    nxt.extend(children)
        level = nxt
    yield from (node for node in level if isinstance(node, dict))


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(item: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = item.get(key)
        if isinstance(value, str) and value:
            try:
                item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError as exc:
                raise DecodeFailed(f"malformed OTLP/JSON: {key} {value!r} is not hex") from exc


# --- protobuf to model ----------------------------------------------------


def any_value(value: AnyValue) -> AttrValue:
    """Convert an OTLP AnyValue to plain Python (kvlist -> dict, array -> list)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        text: str = value.string_value
        return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS]
    if which == "int_value":
        return int(value.int_value)
    if which == "bool_value":
        return bool(value.bool_value)
    if which == "double_value":
        return float(value.double_value)
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return bytes(value.bytes_value)
    return None


def attributes(pairs: Any) -> dict[str, AttrValue]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def _hex(raw: bytes) -> str:
    return raw.hex() if raw else ""


def iter_spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of ``request`` with its resource and scope attached."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield Span(
                    trace_id=_hex(span.trace_id),
                    span_id=_hex(span.span_id),
                    parent_span_id=_hex(span.parent_span_id),
                    name=span.name,
                    kind=_span_kind(span.kind),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes=attributes(span.attributes),
                    resource=resource,
                    scope=scope,
                    status_code=_status_code(span.status.code),
                    status_message=span.status.message,
                    events=tuple(
                        SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                        for e in span.events
                    ),
                )


def iter_log_records(request: ExportLogsServiceRequest) -> Iterator[LogRecord]:
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                event_name = record.event_name or _str(attrs.get("event.name"))
                yield LogRecord(
                    time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                    event_name=event_name,
                    body=any_value(record.body),
                    trace_id=_hex(record.trace_id),
                    span_id=_hex(record.span_id),
                    attributes=attrs,
                    resource=resource,
                    scope=scope,
                )


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def _span_kind(raw: int) -> SpanKind:
    try:
        return SpanKind(raw)
    except ValueError:
        return SpanKind.UNSPECIFIED


def _status_code(raw: int) -> StatusCode:
    try:
        return StatusCode(raw)
    except ValueError:
        return StatusCode.UNSET


def _str(value: AttrValue) -> str:
    return value if isinstance(value, str) else ""


def to_key_values(attrs: Mapping[str, AttrValue]) -> list[KeyValue]:
    """The inverse of :func:`attributes`, for encoders and tests."""
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
