"""One sender process of real-library conversations, as new data every request.

The templates are the OTLP trace requests in ``tests/fixtures/otlp/<library>/``
(what the real instrumentation libraries' exporters sent; libraries that put
content in log records are left out, their spans alone hold no transcript).
Each request packs ``--batch`` conversations; every copy gets new trace and
span ids (parents mapped alike) and a new session id wherever the template had
one, so no two requests carry the same bytes and every conversation is a new
session. Building a request costs a few µs per span, so the senders are cheap
and the server, not the load, is what is measured. Same command line and JSON
report as ``bench/sender.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from tasktrace.receiver.sessions import SESSION_KEYS

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "otlp"
_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def templates(root: Path = FIXTURES) -> list[list[ResourceSpans]]:
    """Each fixture conversation's resource spans (before any cut), of the
    libraries that keep the whole transcript on spans."""
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(folder.glob("*.logs.pb")):
            continue
        for path in sorted(folder.glob("*.pb")):
            if path.name.endswith(".after-cut.pb"):
                continue
            request = ExportTraceServiceRequest.FromString(path.read_bytes())
            if sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans):
                out.append(list(request.resource_spans))
    return out


def _new_session(attributes: Iterator[KeyValue], session: str) -> None:
    for attr in attributes:
        if attr.key in SESSION_KEYS and attr.value.HasField("string_value"):
            attr.value.string_value = session


def fresh_copy(template: list[ResourceSpans], session: str) -> tuple[list[ResourceSpans], int]:
    """``template`` with new trace and span ids and ``session`` as its session id."""
    traces: dict[bytes, bytes] = {}
    spans: dict[bytes, bytes] = {b"": b""}
    out, count = [], 0
    for source in template:
        copy = ResourceSpans()
        copy.CopyFrom(source)
        _new_session(iter(copy.resource.attributes), session)
        for scope in copy.scope_spans:
            for span in scope.spans:
                span.trace_id = traces.setdefault(span.trace_id, os.urandom(16))
                span.span_id = spans.setdefault(span.span_id, os.urandom(8))
                _new_session(iter(span.attributes), session)
                count += 1
            for span in scope.spans:
                span.parent_span_id = spans.setdefault(span.parent_span_id, os.urandom(8))
        out.append(copy)
    return out, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="spans/s cap (0: none)")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--batch", type=int, default=25, help="conversations per request")
    parser.add_argument("--inflight", type=int, default=4, help="requests awaiting an answer")
    parser.add_argument("--tag", default="")
    args, _ = parser.parse_known_args()

    convs = templates()
    rng = random.Random(args.index)
    tag = args.tag or f"{int(time.time())}"
    send = _grpc_sender if args.protocol == "grpc" else _http_sender
    tally = _Tally()
    sessions = generated = 0
    begin = time.time()
    deadline = time.monotonic() + args.duration
    with ThreadPoolExecutor(args.inflight) as pool:
        post = send(args.endpoint)
        waiting: set[Future[None]] = set()
        while time.monotonic() < deadline:
            if args.rate and generated > args.rate * (time.time() - begin):
                time.sleep(0.001)
                continue
            request, count = ExportTraceServiceRequest(), 0
            for _ in range(args.batch):
                sessions += 1
                copy, n = fresh_copy(rng.choice(convs), f"replay-{tag}-{args.index}-{sessions}")
                request.resource_spans.extend(copy)
                count += n
            generated += count
            if len(waiting) >= args.inflight:
                _, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            body = request.SerializeToString()
            waiting.add(pool.submit(_answer, post, tally, body, count))
        wait(waiting)
    report: dict[str, float] = {"generated": generated, "ok": tally.ok, "failed": tally.failed}
    report |= {"first": tally.first, "last": tally.last, "sessions": sessions}
    print(json.dumps(report), flush=True)


def _answer(post: Callable[[bytes], bool], tally: _Tally, body: bytes, spans: int) -> None:
    tally.add(post(body), spans)


class _Tally:
    """Spans acknowledged and refused, and when the first and last answer came."""

    def __init__(self) -> None:
        self.ok = self.failed = 0
        self.first = self.last = 0.0
        self._lock = threading.Lock()

    def add(self, accepted: bool, spans: int) -> None:
        with self._lock:
            if not accepted:
                self.failed += spans
                return
            self.ok += spans
            self.last = time.time()
            self.first = self.first or self.last


def _grpc_sender(endpoint: str) -> Callable[[bytes], bool]:
    export = grpc.insecure_channel(endpoint).unary_unary(_EXPORT)

    def send(body: bytes) -> bool:
        try:
            export(body, timeout=30)
        except grpc.RpcError:
            return False
        return True

    return send


def _http_sender(endpoint: str) -> Callable[[bytes], bool]:
    client = httpx.Client(base_url=f"http://{endpoint}", timeout=30)
    headers = {"content-type": "application/x-protobuf"}

    def send(body: bytes) -> bool:
        try:
            return client.post("/v1/traces", content=body, headers=headers).status_code == 200
        except httpx.HTTPError:
            return False

    return send


if __name__ == "__main__":
    main()
