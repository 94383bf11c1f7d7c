"""OTLP requests (protobuf or OTLP/JSON bytes) to the plain :mod:`tasktrace.model` types.

Pure functions. OTLP/JSON differs from protobuf's canonical JSON mapping in
that trace and span ids are hex strings, not base64
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding); they are
rewritten before :func:`google.protobuf.json_format.ParseDict` sees them.

Protobuf requests are parsed into :mod:`.otlp_wire`'s messages, whose string
attribute values are bytes: a value that is not UTF-8 is decoded with
replacement characters (U+FFFD) and counted in :class:`DecodeProblems`, and the
span is kept. Other string fields (names, keys) must be UTF-8.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tasktrace.model import AttrValue, LogRecord, Span, SpanEvent, SpanKind, StatusCode
from tasktrace.receiver.otlp_wire import ArrayValue, KeyValueList, LogsRequest, TraceRequest
from tasktrace.receiver.wire_count import json_items_at_least, pb_items

#: the largest string value kept from an attribute; longer ones are cut (and counted by the caller)
MAX_VALUE_CHARS = 4 * 1024 * 1024
#: the latest timestamp taken (nanoseconds, fits a signed 64-bit column); OTLP's
#: fixed64 allows later ones, which are refused with the request
MAX_TIME_NS = 2**63 - 1
#: arrays and kvlists nested deeper than this in one value are cut (None, counted)
MAX_VALUE_DEPTH = 64


#: the most spans (or log records) taken in one request, by default; OTLP SDKs send
#: 512 at a time and the collector's batch processor 8192
MAX_ITEMS = 16_384


class DecodeFailed(ValueError):
    """The request bytes will never parse: answer INVALID_ARGUMENT / HTTP 400."""


class TooManyItems(DecodeFailed):
    """More spans or log records in one request than the receiver takes: a limit
    like the size limit, answered RESOURCE_EXHAUSTED (no retry info) / HTTP 413.
    Decoding and storing cost memory per item, far beyond the request's bytes."""


@dataclass(slots=True)
class DecodeProblems:
    """Values kept in part: not UTF-8 (decoded with U+FFFD), cut at
    ``MAX_VALUE_CHARS``, or nested past ``MAX_VALUE_DEPTH``."""

    invalid_utf8: int = 0
    cut_values: int = 0
    #: arrays or kvlists nested past MAX_VALUE_DEPTH, replaced by None
    deep_values: int = 0


def parse_trace_request(data: bytes, *, json_body: bool = False, max_items: int = 0) -> Any:
    """An ``ExportTraceServiceRequest`` (protobuf: with byte string values, see the
    module). Raises :class:`TooManyItems` past ``max_items`` spans (0: no limit)."""
    request = ExportTraceServiceRequest() if json_body else TraceRequest()
    _parse(request, data, json_body, max_items, "resourceSpans", "scopeSpans", "spans")
    return request


def parse_logs_request(data: bytes, *, json_body: bool = False, max_items: int = 0) -> Any:
    """An ``ExportLogsServiceRequest``, as :func:`parse_trace_request`."""
    request = ExportLogsServiceRequest() if json_body else LogsRequest()
    _parse(request, data, json_body, max_items, "resourceLogs", "scopeLogs", "logRecords")
    return request


def _parse(message: Any, data: bytes, json_body: bool, max_items: int, *path: str) -> None:
    if not json_body:
        if max_items:  # counted on the wire: a refused request is never parsed
            _check_items(pb_items(data), max_items)
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise DecodeFailed(f"malformed OTLP protobuf: {exc}") from exc
        return
    _check_items(json_items_at_least(data, path[-1]), max_items)
    try:
        # strict UTF-8 (json.loads on bytes would let encoded surrogates through)
        document = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeFailed(f"malformed OTLP/JSON: {exc}") from exc
    except RecursionError as exc:
        raise DecodeFailed("malformed OTLP/JSON: nested too deep to parse") from exc
    if not isinstance(document, dict):
        raise DecodeFailed("malformed OTLP/JSON: the top level must be an object")
    items = list(_walk(document, path))
    _check_items(len(items), max_items)
    for item in items:
        _hex_ids_to_base64(item)
        for sub in item.get("links") or ():
            if isinstance(sub, dict):
                _hex_ids_to_base64(sub)
    _clip_deep_values(document)
    try:
        json_format.ParseDict(
            document, message, ignore_unknown_fields=True, max_recursion_depth=_JSON_DEPTH
        )
    except (json_format.ParseError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise DecodeFailed(f"malformed OTLP/JSON: {exc}") from exc
    except SystemError as exc:  # upb, on a field name holding a lone surrogate (an escape)
        raise DecodeFailed("malformed OTLP/JSON: a field name is not valid Unicode") from exc


def _check_items(count: int, max_items: int) -> None:
    if max_items and count > max_items:
        raise TooManyItems(f"{count} items in one request, over the limit of {max_items}")


_NESTED_KEYS = ("kvlistValue", "kvlist_value", "arrayValue", "array_value")
#: messages around the deepest value kept: request, resource, scope, span, key-value,
#: then three per AnyValue level (AnyValue, KeyValueList, KeyValue), with room to spare
_JSON_DEPTH = 8 + 3 * (MAX_VALUE_DEPTH + 2)


def _clip_deep_values(document: dict[str, Any]) -> None:
    """Empty every AnyValue nested more than one level past ``MAX_VALUE_DEPTH``
    (in place), so that protobuf's JSON parser takes the request and
    :func:`any_value` cuts (and counts) just the deep values. Iterative: the
    document may be nested far deeper than Python's stack."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            stack.extend((item, depth) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if any(key in node for key in _NESTED_KEYS):
            depth += 1
            if depth > MAX_VALUE_DEPTH + 1:
                node.clear()
                continue
        stack.extend((child, depth) for child in node.values())


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


def any_value(value: AnyValue, problems: DecodeProblems | None = None, depth: int = 0) -> AttrValue:
    """Convert an OTLP AnyValue to plain Python (kvlist -> dict, array -> list).

    An array or kvlist nested deeper than :data:`MAX_VALUE_DEPTH` becomes None
    (counted in ``problems``); the rest of the span is kept."""
    which = value.WhichOneof("value")
    if which == "string_value":
        raw: str | bytes = value.string_value  # bytes from protobuf, str from OTLP/JSON
        if isinstance(raw, bytes):
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                text = _replaced(raw, problems)
        else:
            text = raw
        return text if len(text) <= MAX_VALUE_CHARS else _cut(text, problems)
    if which == "int_value":
        return int(value.int_value)
    if which == "bool_value":
        return bool(value.bool_value)
    if which == "double_value":
        return float(value.double_value)
    if which in ("array_value", "kvlist_value"):
        if depth >= MAX_VALUE_DEPTH:
            if problems is not None:
                problems.deep_values += 1
            return None
        if which == "array_value":
            items = _nested(value.array_value, ArrayValue).values
            return [any_value(v, problems, depth + 1) for v in items]
        pairs = _nested(value.kvlist_value, KeyValueList).values
        return {kv.key: any_value(kv.value, problems, depth + 1) for kv in pairs}
    if which == "bytes_value":
        return bytes(value.bytes_value)
    return None


def _nested(raw: Any, message_class: Any) -> Any:
    """A nested array or kvlist: parsed here from its bytes (protobuf, see
    :mod:`.otlp_wire`), or the message itself (OTLP/JSON)."""
    if not isinstance(raw, bytes):
        return raw
    try:
        return message_class.FromString(raw)
    except DecodeError as exc:
        raise DecodeFailed(f"malformed OTLP protobuf: {exc}") from exc


def _replaced(raw: bytes, problems: DecodeProblems | None) -> str:
    if problems is not None:
        problems.invalid_utf8 += 1
    return raw.decode("utf-8", "replace")


def _cut(text: str, problems: DecodeProblems | None) -> str:
    if problems is not None:
        problems.cut_values += 1
    return text[:MAX_VALUE_CHARS]


def attributes(pairs: Any, problems: DecodeProblems | None = None) -> dict[str, AttrValue]:
    out: dict[str, AttrValue] = {}
    for kv in pairs:
        value = kv.value
        # most values are short valid UTF-8 strings: those here, without a call
        # (no more bytes than the limit: no more characters either)
        if value.WhichOneof("value") == "string_value":
            raw = value.string_value
            if type(raw) is bytes and len(raw) <= MAX_VALUE_CHARS:
                try:
                    out[kv.key] = raw.decode()
                    continue
                except UnicodeDecodeError:
                    pass
        out[kv.key] = any_value(value, problems)
    return out


def _hex(raw: bytes) -> str:
    return raw.hex() if raw else ""


def iter_spans(request: Any, problems: DecodeProblems | None = None) -> Iterator[Span]:
    """Every span of ``request`` (from :func:`parse_trace_request`) with its
    resource and scope attached; values kept in part are counted in ``problems``."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes, problems)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield Span(
                    trace_id=_hex(span.trace_id),
                    span_id=_hex(span.span_id),
                    parent_span_id=_hex(span.parent_span_id),
                    name=span.name,
                    kind=_span_kind(span.kind),
                    start_ns=_time(span.start_time_unix_nano, "start_time_unix_nano"),
                    end_ns=_time(span.end_time_unix_nano, "end_time_unix_nano"),
                    attributes=attributes(span.attributes, problems),
                    resource=resource,
                    scope=scope,
                    status_code=_status_code(span.status.code),
                    status_message=span.status.message,
                    events=tuple(
                        SpanEvent(
                            e.name,
                            _time(e.time_unix_nano, "event time_unix_nano"),
                            attributes(e.attributes, problems),
                        )
                        for e in span.events
                    ),
                )


def iter_log_records(request: Any, problems: DecodeProblems | None = None) -> Iterator[LogRecord]:
    """Every log record of ``request`` (from :func:`parse_logs_request`), as :func:`iter_spans`."""
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes, problems)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes, problems)
                event_name = record.event_name or _str(attrs.get("event.name"))
                yield LogRecord(
                    time_ns=_time(
                        record.time_unix_nano or record.observed_time_unix_nano, "time_unix_nano"
                    ),
                    event_name=event_name,
                    body=any_value(record.body, problems),
                    trace_id=_hex(record.trace_id),
                    span_id=_hex(record.span_id),
                    attributes=attrs,
                    resource=resource,
                    scope=scope,
                )


def _time(value: int, field: str) -> int:
    """A timestamp the store can hold; a later one will never be taken (INVALID_ARGUMENT)."""
    if value > MAX_TIME_NS:
        raise DecodeFailed(f"{field} {value} is past the latest supported time (2^63-1 ns)")
    return value


# by value: a dict lookup per span, where calling the enum costs a microsecond
_KINDS = {kind.value: kind for kind in SpanKind}
_STATUS_CODES = {code.value: code for code in StatusCode}


def _span_kind(raw: int) -> SpanKind:
    return _KINDS.get(raw, SpanKind.UNSPECIFIED)


def _status_code(raw: int) -> StatusCode:
    return _STATUS_CODES.get(raw, StatusCode.UNSET)


def _str(value: AttrValue) -> str:
    return value if isinstance(value, str) else ""
