"""OTLP/gRPC front end: ``TraceService/Export`` and ``LogsService/Export``.

Handlers take the raw request bytes (no double parsing). Retryable failures
carry a ``google.rpc.RetryInfo`` so OTLP exporters back off and resend
(https://opentelemetry.io/docs/specs/otlp/#failures).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from tasktrace.errors import StoreRejected, StoreUnavailable
from tasktrace.model import Signal
from tasktrace.receiver.otlp_decode import DecodeFailed, TooManyItems
from tasktrace.receiver.service import (
    RETRY_AFTER,
    Accepted,
    Overloaded,
    Receiver,
    export_response,
)

_log = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


def add_otlp_services(server: grpc.aio.Server, receiver: Receiver) -> None:
    ok = {
        "traces": export_response("traces", Accepted()).SerializeToString(),
        "logs": export_response("logs", Accepted()).SerializeToString(),
    }

    def handler(
        export: Callable[[bytes], Awaitable[Accepted]], signal: Signal
    ) -> grpc.RpcMethodHandler:
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            accepted = await _export(export, request, context)
            if not accepted.rejected:
                return ok[signal]
            return export_response(signal, accepted).SerializeToString()

        return grpc.unary_unary_rpc_method_handler(call)

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                TRACE_SERVICE, {"Export": handler(receiver.export_traces, "traces")}
            ),
            grpc.method_handlers_generic_handler(
                LOGS_SERVICE, {"Export": handler(receiver.export_logs, "logs")}
            ),
        )
    )


async def _export(
    export: Callable[[bytes], Awaitable[Accepted]],
    request: bytes,
    context: grpc.aio.ServicerContext,
) -> Accepted:
    try:
        return await export(request)
    except TooManyItems as exc:  # like a message over the size limit: not to be resent
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except (DecodeFailed, StoreRejected) as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except Overloaded as exc:
        context.set_trailing_metadata(retry_trailers(str(exc), code_pb2.RESOURCE_EXHAUSTED))
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"try again later: {exc}")
    except StoreUnavailable as exc:
        context.set_trailing_metadata(retry_trailers(str(exc)))
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"try again later: {exc}")
    except Exception:
        _log.exception("export failed")
        await context.abort(grpc.StatusCode.INTERNAL, "internal error (logged by the server)")
    raise AssertionError("context.abort raises")


def retry_trailers(message: str, code: int = code_pb2.UNAVAILABLE) -> tuple[tuple[str, bytes], ...]:
    """The ``RetryInfo`` where each SDK looks for it: in the status details
    (the collector, Go and Java exporters) and on its own in
    ``google.rpc.retryinfo-bin`` (the Python exporter reads only that one)."""
    info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=int(RETRY_AFTER)))
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(info)
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )
