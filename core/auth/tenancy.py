"""The tenancy guard's pure part: which ``service.name`` values an OTLP export
request writes for, to hold them against a token's allow-list."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Error as ProtobufError
from google.protobuf.message import Message as ProtoMessage
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.auth.tokens import Principal
from tasktrace.model import Signal


def request_services(signal: Signal, body: bytes, *, as_json: bool = False) -> set[str] | None:
    """The ``service.name`` of every resource in the request (``""`` for a resource
    without one); None when the body does not decode (the receiver refuses it then)."""
    traces, logs = ExportTraceServiceRequest(), ExportLogsServiceRequest()
    message: ProtoMessage = traces if signal == "traces" else logs
    try:
        if as_json:
            json_format.Parse(body, message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except (ProtobufError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    resources = [g.resource for g in traces.resource_spans] + [
        g.resource for g in logs.resource_logs
    ]
    out = set()
    for resource in resources:
        names = [a.value.string_value for a in resource.attributes if a.key == "service.name"]
        out.add(names[0] if names else "")
    return out


def foreign_services(principal: Principal, services: set[str] | None) -> list[str]:
    """The services in ``services`` the principal may not write for, sorted."""
    if not principal.services or services is None:
        return []
    return sorted(s for s in services if s not in principal.services)
