"""The baseline: a minimal Python OTLP server that decodes each request and discards it.

gRPC ``TraceService/Export`` and HTTP ``POST /v1/traces`` (protobuf), one
asyncio process like ``tasktrace serve``; ``GET /stats`` returns the spans seen.
``--parse`` says how much of a request it reads: ``utf8`` (the default) parses
it with the ``opentelemetry-proto`` classes, which check every string is UTF-8;
``bytes`` parses it as tasktrace does (string values as bytes, no check);
``none`` only receives it (the transport alone).

    python bench/baseline_server.py --grpc 127.0.0.1:P --http 127.0.0.1:Q [--parse MODE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tasktrace.cli.entry import fixed_malloc_thresholds
from tasktrace.receiver.otlp_wire import TraceRequest

SPANS = [0]
REQUEST_CLASSES: dict[str, Any] = {"utf8": ExportTraceServiceRequest, "bytes": TraceRequest}


def decoder(parse: str) -> Callable[[bytes], None]:
    request_class = REQUEST_CLASSES.get(parse)

    def decode(data: bytes) -> None:
        if request_class is None:  # receive only
            return
        request = request_class()
        request.ParseFromString(data)
        SPANS[0] += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    return decode


async def serve(grpc_endpoint: str, http_endpoint: str, parse: str) -> None:
    decode = decoder(parse)
    ok = ExportTraceServiceResponse().SerializeToString()

    async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        decode(request)
        return ok

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService",
                {"Export": grpc.unary_unary_rpc_method_handler(export)},
            ),
        )
    )
    server.add_insecure_port(grpc_endpoint)
    await server.start()

    async def traces(request: web.Request) -> web.Response:
        decode(await request.read())
        return web.Response(body=ok, content_type="application/x-protobuf")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"spans": SPANS[0]})

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = http_endpoint.rsplit(":", 1)
    await web.TCPSite(runner, host, int(port)).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument("--parse", choices=("utf8", "bytes", "none"), default="utf8")
    args = parser.parse_args()
    fixed_malloc_thresholds(os.environ)  # the allocator as ``tasktrace serve`` has it
    asyncio.run(serve(args.grpc, args.http, args.parse))


if __name__ == "__main__":
    main()
