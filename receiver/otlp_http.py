"""OTLP/HTTP front end: ``POST /v1/traces`` and ``/v1/logs``, protobuf or JSON, gzip.

Answers per https://opentelemetry.io/docs/specs/otlp/#otlphttp-response:
the response message in the request's encoding; 400 for data that will
never be taken, 413 over the size or item limit, 429 with ``Retry-After`` when too many
bytes are in process (checked on ``Content-Length`` before the body is read),
503 with ``Retry-After`` while the store is unavailable.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2

from tasktrace.errors import StoreRejected, StoreUnavailable
from tasktrace.model import Signal
from tasktrace.receiver.otlp_decode import DecodeFailed, TooManyItems
from tasktrace.receiver.service import (
    RETRY_AFTER,
    Overloaded,
    Receiver,
    export_response,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def add_otlp_routes(app: web.Application, receiver: Receiver, *, max_body_bytes: int) -> None:
    async def traces(request: web.Request) -> web.Response:
        return await _handle(request, receiver, "traces", max_body_bytes)

    async def logs(request: web.Request) -> web.Response:
        return await _handle(request, receiver, "logs", max_body_bytes)

    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/logs", logs)


async def _handle(
    request: web.Request,
    receiver: Receiver,
    signal: Signal,
    max_body_bytes: int,
) -> web.Response:
    """Answer one export request; one refused before decoding is counted ``invalid``."""
    answer = await _read_and_export(request, receiver, signal, max_body_bytes)
    if isinstance(answer, _Refused):
        receiver.traffic.record("http", signal, "invalid", {})
        return answer.response
    return answer


@dataclass(frozen=True, slots=True)
class _Refused:
    response: web.Response


async def _read_and_export(
    request: web.Request,
    receiver: Receiver,
    signal: Signal,
    max_body_bytes: int,
) -> web.Response | _Refused:
    content_type = request.content_type
    if content_type not in (PROTOBUF, JSON):
        return _Refused(
            _error(415, f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}")
        )
    as_json = content_type == JSON
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        return _Refused(
            _error(415, f"unsupported content encoding {encoding!r}; use gzip", as_json)
        )
    if request.content_length and not receiver.has_room(request.content_length):
        receiver.traffic.record("http", signal, "overloaded", {})
        return _error(429, "try again later: too many bytes in process", as_json, retry=True)
    try:
        body = await request.read()  # the server runs with auto_decompress off
    except web.HTTPRequestEntityTooLarge:
        return _Refused(_error(413, f"body over the {max_body_bytes} byte limit", as_json))
    if encoding == "gzip":
        try:
            body = gunzip(body, max_body_bytes)
        except BodyTooLarge:
            message = f"decompressed body over the {max_body_bytes} byte limit"
            return _Refused(_error(413, message, as_json))
        except zlib.error as exc:
            return _Refused(_error(400, f"bad gzip body: {exc}", as_json))
    export = receiver.export_traces if signal == "traces" else receiver.export_logs
    try:
        accepted = await export(body, json_body=as_json, protocol="http")
    except TooManyItems as exc:
        return _error(413, str(exc), as_json)
    except (DecodeFailed, StoreRejected) as exc:
        return _error(400, str(exc), as_json)
    except Overloaded as exc:
        return _error(429, f"try again later: {exc}", as_json, retry=True)
    except StoreUnavailable as exc:
        return _error(503, f"try again later: {exc}", as_json, retry=True)
    answer = export_response(signal, accepted)
    if as_json:
        return web.Response(text=json_format.MessageToJson(answer), content_type=JSON)
    return web.Response(body=answer.SerializeToString(), content_type=PROTOBUF)


class BodyTooLarge(Exception):
    """A compressed body inflates past the size limit."""


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate one gzip member, never holding more than ``limit`` + 1 bytes of output.

    Raises :class:`BodyTooLarge` past ``limit``, ``zlib.error`` for a corrupt or
    truncated body."""
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge
    out += inflater.flush()
    if len(out) > limit:
        raise BodyTooLarge
    if not inflater.eof:
        raise zlib.error("truncated gzip body")
    return out


def _error(status: int, message: str, as_json: bool = True, *, retry: bool = False) -> web.Response:
    """An error answer carrying a ``google.rpc.Status`` as OTLP asks."""
    headers = {"Retry-After": str(int(RETRY_AFTER))} if retry else {}
    if as_json:
        return web.Response(
            status=status,
            text=json.dumps({"code": status, "message": message}),
            content_type=JSON,
            headers=headers,
        )
    return web.Response(
        status=status,
        body=status_pb2.Status(message=message).SerializeToString(),
        content_type=PROTOBUF,
        headers=headers,
    )
