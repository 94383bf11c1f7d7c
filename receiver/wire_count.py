"""Counting the spans or log records of an OTLP export request without decoding
it, so that one far over the item limit is refused before it costs memory. Pure."""

from __future__ import annotations

from collections.abc import Iterator

#: per item kind, the keys every item holds once (a span's links hold ``spanId`` too;
#: JSON escapes the quotes of a string's text), and how many an item may hold: a span
#: with up to 3 links on average is counted at most once
_JSON_MARKERS = {"spans": ((b'"spanId"', b'"span_id"'), 4), "logRecords": ((), 1)}


def json_items_at_least(data: bytes, kind: str) -> int:
    """A cheap lower bound of the items in an OTLP/JSON body, counted before
    ``json.loads`` (whose objects cost ten times the body): a request far over
    the item limit is refused without parsing it."""
    markers, most_per_item = _JSON_MARKERS[kind]
    return sum(data.count(marker) for marker in markers) // most_per_item


def pb_items(data: bytes) -> int:
    """The spans (or log records) of a protobuf export request, counted on the wire
    without parsing it: both requests nest their items as field 1 (resource), then
    2 (scope), then 2. Bytes that are not such a request count what was found."""
    count = 0
    for resource in _fields(data, 1):
        for scope in _fields(resource, 2):
            count += sum(1 for _ in _fields(scope, 2))
    return count


def _fields(data: bytes | memoryview, number: int) -> Iterator[memoryview]:
    """The length-delimited fields ``number`` of one message; stops at bad bytes."""
    view, at = memoryview(data), 0
    while at < len(view):
        key, at = _varint(view, at)
        wire = key & 7
        if wire == 2:
            size, at = _varint(view, at)
            if key >> 3 == number:
                yield view[at : at + size]
            at += size
        elif wire == 0:
            at = _varint(view, at)[1]
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            return


def _varint(view: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(view) and shift < 64:
        byte = view[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
    return 0, len(view)  # truncated: the parser will say so
