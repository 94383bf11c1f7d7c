"""Small fake OTLP backends on 127.0.0.1 that fail on demand.

They stand for failures a real backend will not produce when a test wants them:
OTLP/gRPC ``UNAVAILABLE`` with ``RetryInfo`` and OTLP/HTTP 503 with
``Retry-After``, for the first ``failures`` calls; after that they accept and
record what arrived. Bind to port 0 unless a test needs a port chosen in advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator

import grpc
from aiohttp import web
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


def spans_of(request: ExportTraceServiceRequest) -> list[OTLPSpan]:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


class _Recorder:
    """Counts calls, refuses the first ``failures``, records accepted spans and
    sets ``all_arrived`` once ``expected`` spans are in."""

    def __init__(self, failures: int, expected: int) -> None:
        self.failures = failures
        self.expected = expected
        self.calls = 0
        self.spans: list[OTLPSpan] = []
        self.called = asyncio.Event()
        self.all_arrived = asyncio.Event()

    def refuse(self) -> bool:
        """Count a call; True when it is to be refused."""
        self.calls += 1
        self.called.set()
        return self.calls <= self.failures

    def accept(self, request: ExportTraceServiceRequest) -> None:
        self.spans.extend(spans_of(request))
        if len(self.spans) >= self.expected:
            self.all_arrived.set()


class FlakyTraceService(TraceServiceServicer, _Recorder):
    """OTLP/gRPC: refusals are UNAVAILABLE with a ``RetryInfo`` of ``retry_delay`` s."""

    def __init__(self, *, failures: int = 0, retry_delay: float = 0.05, expected: int = 0) -> None:
        _Recorder.__init__(self, failures, expected)
        info = RetryInfo()
        info.retry_delay.FromNanoseconds(int(retry_delay * 1e9))
        self._retry_info = info.SerializeToString()

    async def Export(  # the gRPC method name
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        if self.refuse():
            metadata = ((_RETRY_INFO_KEY, self._retry_info),)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up", metadata)
        self.accept(request)
        return ExportTraceServiceResponse()


class FlakyHTTPTraces(_Recorder):
    """OTLP/HTTP (protobuf) at ``/v1/traces``: refusals are 503 with ``Retry-After``."""

    def __init__(self, *, failures: int = 0, retry_after: int = 0, expected: int = 0) -> None:
        super().__init__(failures, expected)
        self._retry_after = str(retry_after)

    async def handle(self, request: web.Request) -> web.Response:
        if self.refuse():
            return web.Response(status=503, headers={"Retry-After": self._retry_after})
        self.accept(ExportTraceServiceRequest.FromString(await request.read()))
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")


@contextlib.asynccontextmanager
async def serving_grpc(service: FlakyTraceService, port: int = 0) -> AsyncIterator[int]:
    """Serve ``service`` over gRPC on 127.0.0.1; yields the port."""
    server = grpc.aio.server()
    add_TraceServiceServicer_to_server(service, server)
    async with _started(server, port) as bound:
        yield bound


@contextlib.asynccontextmanager
async def _started(server: grpc.aio.Server, port: int = 0) -> AsyncIterator[int]:
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(None)


@contextlib.asynccontextmanager
async def serving_http(traces: FlakyHTTPTraces, port: int = 0) -> AsyncIterator[int]:
    """Serve ``traces`` over HTTP on 127.0.0.1; yields the port."""
    app = web.Application()
    app.router.add_post("/v1/traces", traces.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


class RawBackend:
    """OTLP/gRPC (traces and logs services) and OTLP/HTTP (``/v1/traces``,
    ``/v1/logs``) that record each request body exactly as it arrived, keyed by
    signal; the first ``failures`` calls are refused (UNAVAILABLE with a
    RetryInfo of ``retry_delay`` s, or 503 with ``Retry-After: 0``)."""

    def __init__(self, *, failures: int = 0, retry_delay: float = 0.01) -> None:
        self.failures = failures
        self.calls = 0
        self.bodies: dict[str, list[bytes]] = {"traces": [], "logs": []}
        self._changed = asyncio.Condition()
        info = RetryInfo()
        info.retry_delay.FromNanoseconds(int(retry_delay * 1e9))
        self._retry_info = info.SerializeToString()

    async def wait_for(self, signal: str, count: int, timeout: float = 20.0) -> list[bytes]:
        """The first ``count`` bodies of ``signal``, once they are in."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.bodies[signal]) >= count), timeout
            )
        return self.bodies[signal][:count]

    async def _record(self, signal: str, body: bytes) -> bool:
        """Count a call; False when it is to be refused."""
        self.calls += 1
        if self.calls <= self.failures:
            return False
        async with self._changed:
            self.bodies[signal].append(body)
            self._changed.notify_all()
        return True

    def _grpc_method(self, signal: str) -> grpc.RpcMethodHandler:
        async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
            if not await self._record(signal, body):
                metadata = ((_RETRY_INFO_KEY, self._retry_info),)
                await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up", metadata)
            return b""  # an empty Export*ServiceResponse

        return grpc.unary_unary_rpc_method_handler(export)

    @contextlib.asynccontextmanager
    async def serving_grpc(self) -> AsyncIterator[int]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService",
                    {"Export": self._grpc_method("traces")},
                ),
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.logs.v1.LogsService",
                    {"Export": self._grpc_method("logs")},
                ),
            ]
        )
        async with _started(server) as bound:
            yield bound

    @contextlib.asynccontextmanager
    async def serving_http(self) -> AsyncIterator[int]:
        async def handle(request: web.Request) -> web.Response:
            signal = request.path.rsplit("/", 1)[-1]
            body = await request.read()
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if not await self._record(signal, body):
                return web.Response(status=503, headers={"Retry-After": "0"})
            return web.Response(body=b"", content_type="application/x-protobuf")

        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/traces", handle)
        app.router.add_post("/v1/logs", handle)
        runner = web.AppRunner(app, auto_decompress=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield runner.addresses[0][1]
        finally:
            await runner.cleanup()
