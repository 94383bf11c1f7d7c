"""OTLP request messages for decoding, with attribute string values read as bytes.

protobuf refuses, at parse time, a whole request in which one ``string`` field
is not UTF-8. OTLP senders do put such bytes in attribute values (a cut
multi-byte character, binary data in a string attribute), and the receiver
must then keep the rest of the span. These classes are the installed
``opentelemetry-proto`` messages with one change, ``AnyValue.string_value``
declared ``bytes`` (the same wire format), so the request always parses and
:mod:`.otlp_decode` decodes each value itself. (It also spares a validation
pass over every value: the history a model call re-sends is most of the bytes.)

``AnyValue.array_value`` and ``kvlist_value`` are declared ``bytes`` too (the
same wire format as an embedded message): protobuf's parser refuses a whole
request nested deeper than 100 messages, so nested values are parsed one level
at a time by :mod:`.otlp_decode`, which cuts only a value past its depth limit.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

_AS_BYTES = ("string_value", "array_value", "kvlist_value")
_FILES = (common_pb2, resource_pb2, trace_pb2, logs_pb2, trace_service_pb2, logs_service_pb2)


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in _FILES:
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        file.ClearField("service")  # decoding only
        for message in file.message_type:
            if message.name == "AnyValue":
                for field in message.field:
                    if field.name in _AS_BYTES:
                        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                        field.ClearField("type_name")
        pool.Add(file)
    return pool


_POOL = _build_pool()


def _message_class(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(name))


#: ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` with byte string values
TraceRequest = _message_class("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
LogsRequest = _message_class("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
#: the nested values of an ``AnyValue``, parsed from its bytes one level at a time
ArrayValue = _message_class("opentelemetry.proto.common.v1.ArrayValue")
KeyValueList = _message_class("opentelemetry.proto.common.v1.KeyValueList")
