"""The malformed inputs of ``bench/fuzz.py``, one maker per input class.

Each maker takes a seeded ``random.Random`` and the real fixture requests
(``tests/fixtures/otlp``) and returns one :class:`Case`: the bytes, the
transport (OTLP/gRPC, OTLP/HTTP protobuf, OTLP/HTTP JSON), gzip or not, and the
signal. Pure apart from reading the fixtures; the heavy bodies (10 MB values,
100k spans, deep nesting, gzip bombs) are built once and reused.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import random
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tasktrace.evaluation.replay.otlp import to_key_values
from tasktrace.receiver.otlp_wire import TraceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/
from tests.support.otlp_values import with_deep_value

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "otlp"
GRPC, HTTP_PB, HTTP_JSON = "grpc", "http-pb", "http-json"
TRANSPORTS = (GRPC, HTTP_PB, HTTP_JSON)
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Case:
    klass: str
    transport: str
    body: bytes
    signal: str = "traces"  # or "logs"
    gzip: bool = False


@dataclass(frozen=True, slots=True)
class Seed:
    """One captured request, as protobuf and as OTLP/JSON."""

    signal: str
    pb: bytes
    json: bytes


def load_seeds(root: Path = FIXTURES) -> list[Seed]:
    """Every fixture request that has both encodings (``after-cut`` ones too)."""
    seeds = []
    for pb in sorted(root.glob("*/*.pb")):
        twin = pb.with_suffix(".json")
        if twin.exists():
            signal = "logs" if pb.name.endswith(".logs.pb") else "traces"
            seeds.append(Seed(signal, pb.read_bytes(), twin.read_bytes()))
    return seeds


Maker = Callable[[random.Random, Sequence[Seed]], Case]


def _pick(rng: random.Random, seeds: Sequence[Seed], transports: Sequence[str]) -> tuple[Seed, str]:
    return rng.choice(seeds), rng.choice(transports)


def _body(seed: Seed, transport: str) -> bytes:
    return seed.json if transport == HTTP_JSON else seed.pb


def valid(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """A real request unchanged: must be taken (or refused for load, to resend)."""
    seed, transport = _pick(rng, seeds, TRANSPORTS)
    body = _body(seed, transport)
    if transport != GRPC and rng.random() < 0.2:
        return Case("valid", transport, gzip.compress(body, 1), seed.signal, gzip=True)
    return Case("valid", transport, body, seed.signal)


def random_bytes(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    size = min(int(rng.expovariate(1 / 512)), 65_536)
    body = rng.randbytes(size)
    if rng.random() < 0.5 and body:  # look like a request: field 1, length-delimited
        body = b"\x0a" + body
    return Case("random bytes", rng.choice(TRANSPORTS), body, rng.choice(("traces", "logs")))


def truncated(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    seed, transport = _pick(rng, seeds, TRANSPORTS)
    body = _body(seed, transport)
    return Case("truncated", transport, body[: rng.randrange(len(body))], seed.signal)


def bit_flipped(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    seed, transport = _pick(rng, seeds, TRANSPORTS)
    body = bytearray(_body(seed, transport))
    for _ in range(rng.randint(1, 16)):
        body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
    return Case("bit-flipped", transport, bytes(body), seed.signal)


def invalid_utf8(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """Bytes that are not UTF-8 in an attribute value, a span name or an attribute
    key (protobuf), or anywhere inside a string (JSON)."""
    bad = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"))
    transport = rng.choice(TRANSPORTS)
    if transport == HTTP_JSON:
        seed = rng.choice([s for s in seeds if s.signal == "traces"])
        body = bytearray(seed.json)
        quotes = [i for i in range(0, len(body), 97) if body[i : i + 1] == b'"'] or [1]
        at = rng.choice(quotes) + 1
        return Case("invalid UTF-8", transport, bytes(body[:at] + bad + body[at:]))
    where = rng.choice(("value", "name", "key", "message"))
    if where == "message":  # message JSON whose text escapes a lone surrogate
        text = '[{"role": "user", "content": "hi \\ud800 \\udfff there"}]'
        request = TraceRequest.FromString(_chat_request("surrogate"))
        span = request.resource_spans[0].scope_spans[0].spans[0]
        span.attributes.add(key="gen_ai.input.messages").value.string_value = text.encode()
        return Case("invalid UTF-8", transport, bytes(request.SerializeToString()))
    marker = b"\x01MARK\x01"
    filler = (bad * len(marker))[: len(marker)]
    request = TraceRequest.FromString(_chat_request("utf8"))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    if where == "value":
        span.attributes.add(key="bad").value.string_value = marker
    elif where == "name":
        span.name = marker.decode()
    else:
        span.attributes.add(key=marker.decode()).value.string_value = b"x"
    body = bytes(request.SerializeToString()).replace(marker, filler)
    return Case("invalid UTF-8", transport, body)


def huge_value(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """A 10 MB attribute value (cut to 4 Mi characters, the span kept)."""
    transport = rng.choice(TRANSPORTS)
    return Case("10 MB value", transport, _huge_value(transport == HTTP_JSON))


@functools.cache
def _huge_value(as_json: bool) -> bytes:
    request = TraceRequest.FromString(_chat_request("huge"))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="huge").value.string_value = b"x" * (10 * 10**6)
    return _encode(request, as_json)


def deep_value(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """An AnyValue nested 10,000 arrays or kvlists deep."""
    transport = rng.choice(TRANSPORTS)
    return Case("AnyValue 10000 deep", transport, _deep(transport == HTTP_JSON))


@functools.cache
def _deep(as_json: bool, depth: int = 10_000) -> bytes:
    if as_json:
        inner = '{"stringValue": "leaf"}'
        value = '{"arrayValue": {"values": [' * depth + inner + "]}}" * depth
        span = _json_span("deep") | {"attributes": "@"}
        text = json.dumps(_json_request(span)).replace(
            '"@"', '[{"key": "deep", "value": ' + value + "}]"
        )
        return text.encode()
    return with_deep_value(_chat_request("deep"), depth)


def many_spans(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """100,000 spans in one request."""
    transport = rng.choice(TRANSPORTS)
    return Case("100k spans", transport, _many_spans(transport == HTTP_JSON))


@functools.cache
def _many_spans(as_json: bool, count: int = 100_000) -> bytes:
    if as_json:
        spans = [
            {"traceId": "%032x" % (i + 1), "spanId": "%016x" % (i + 1), "name": "s"}
            for i in range(count)
        ]
        return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(count):
        scope.spans.add(
            trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name="s"
        )
    return request.SerializeToString()


def wrong_json_types(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """A real OTLP/JSON request with one to four values swapped for the wrong type."""
    seed = rng.choice(seeds)
    document = json.loads(seed.json)
    for _ in range(rng.randint(1, 4)):
        _swap_one(rng, document)
    return Case("wrong JSON types", HTTP_JSON, json.dumps(document).encode(), seed.signal)


_WRONG: tuple[Any, ...] = (
    None, True, 0, -1, 1.5, 2**64, -(2**70), "", "x", "NaN", [], [1, "a"], {}, {"a": 1},
    float("nan"), float("inf"), "ZZZZ", "12345678901234567890123",
)  # fmt: skip


def _swap_one(rng: random.Random, document: Any) -> None:
    node, steps = document, rng.randint(1, 12)
    for _ in range(steps):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
        if not containers or rng.random() < 0.2:
            break
        _, node = rng.choice(containers)
    if isinstance(node, dict) and node:
        node[rng.choice(list(node))] = copy.deepcopy(rng.choice(_WRONG))
    elif isinstance(node, list) and node:
        node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(_WRONG))


def absurd_times(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """Timestamps at and past the 64-bit ends, negative, fractional, end before start."""
    transport = rng.choice(TRANSPORTS)
    start = rng.choice((0, 1, 2**63 - 1, 2**63, 2**64 - 1, 10**18))
    end = rng.choice((0, start, max(start - 1, 0), 2**64 - 1))
    if transport != HTTP_JSON:
        request = TraceRequest.FromString(_chat_request("times"))
        span = request.resource_spans[0].scope_spans[0].spans[0]
        span.start_time_unix_nano, span.end_time_unix_nano = start, end
        span.events.add(name="e", time_unix_nano=rng.choice((start, 2**64 - 1)))
        return Case("absurd timestamps", transport, bytes(request.SerializeToString()))
    weird: tuple[Any, ...] = (str(start), str(end), "-1", "1e30", 1.5e30, "2" * 30, -5, "0x10")
    span = _json_span("times") | {
        "startTimeUnixNano": rng.choice(weird),
        "endTimeUnixNano": rng.choice(weird),
    }
    return Case("absurd timestamps", transport, json.dumps(_json_request(span)).encode())


def gzip_bomb(rng: random.Random, seeds: Sequence[Seed]) -> Case:
    """A small gzip body that inflates to 1 GiB (HTTP); over gRPC, a gzip-compressed
    message of 32 MiB of zeros (the client compresses it, see :func:`grpc_payload`)."""
    transport = rng.choice(TRANSPORTS)
    if transport == GRPC:
        return Case("gzip bomb", GRPC, b"", gzip=True)
    return Case("gzip bomb", transport, _bomb(), gzip=True)


@functools.cache
def _bomb(size: int = 1024 * MIB) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    return b"".join(packer.compress(zeros) for _ in range(size // MIB)) + packer.flush()


#: the payload a gRPC gzip bomb case sends (compressed by the gRPC client)
GRPC_BOMB_PAYLOAD = 32 * MIB


def _chat_request(session: str) -> bytes:
    span = ProtoSpan(
        trace_id=random.randbytes(16),
        span_id=random.randbytes(8),
        name="chat fuzz",
        kind=ProtoSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
    )
    span.attributes.extend(
        to_key_values(
            {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": f"fuzz-{session}"}
        )
    )
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request.SerializeToString()


def _json_span(session: str) -> dict[str, Any]:
    return {
        "traceId": random.randbytes(16).hex(),
        "spanId": random.randbytes(8).hex(),
        "name": "chat fuzz",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.conversation.id", "value": {"stringValue": f"fuzz-{session}"}},
        ],
    }


def _json_request(span: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def _encode(request: Any, as_json: bool) -> bytes:
    if not as_json:
        return bytes(request.SerializeToString())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    out = _json_span("json")
    out["attributes"] = [
        {"key": kv.key, "value": {"stringValue": kv.value.string_value.decode()}}
        for kv in span.attributes
    ]
    return json.dumps(_json_request(out)).encode()


#: every input class: its maker, and whether it is heavy (sent a few times only)
CLASSES: dict[str, tuple[Maker, bool]] = {
    "valid": (valid, False),
    "random bytes": (random_bytes, False),
    "truncated": (truncated, False),
    "bit-flipped": (bit_flipped, False),
    "invalid UTF-8": (invalid_utf8, False),
    "wrong JSON types": (wrong_json_types, False),
    "absurd timestamps": (absurd_times, False),
    "10 MB value": (huge_value, True),
    "AnyValue 10000 deep": (deep_value, True),
    "100k spans": (many_spans, True),
    "gzip bomb": (gzip_bomb, True),
}


def plan(n: int, rng: random.Random, only: Sequence[str] = ()) -> list[str]:
    """``n`` class names in a random order: each heavy class ``max(6, n // 2000)``
    times, the light classes share the rest evenly (``only``: just these classes)."""
    chosen = {k: v for k, v in CLASSES.items() if not only or k in only}
    heavy = [name for name, (_, is_heavy) in chosen.items() if is_heavy]
    light = [name for name, (_, is_heavy) in chosen.items() if not is_heavy]
    each_heavy = max(6, n // 2000)
    rest = max(n - each_heavy * len(heavy), len(light))
    names = [name for name in heavy for _ in range(each_heavy)]
    names += [light[i % len(light)] for i in range(rest if light else 0)]
    rng.shuffle(names)
    return names
