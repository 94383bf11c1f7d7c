"""Pass-through: received OTLP requests forwarded unchanged to one OTLP endpoint.

The task-span sink (:mod:`.otlp_sink`) hands SDK spans to the SDK exporters,
which own its retries; those exporters only take SDK objects, not the
protobuf bytes a sender already encoded. A forwarded request therefore goes
out as it came in, over its own connection, with the collector's
``retry_on_failure`` schedule (every key applied): exponential backoff from
``initial_interval`` by ``multiplier`` up to ``max_interval``, ±50% jitter, a
server's ``RetryInfo`` / ``Retry-After`` honoured, given up after
``max_elapsed_time``. Retryable, as the OTLP specification lists them: gRPC
CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS,
and RESOURCE_EXHAUSTED with a RetryInfo; HTTP 429, 502, 503, 504; connection
failures. (https://opentelemetry.io/docs/specs/otlp/#failures)

Forwarding never holds up ingest: :meth:`OTLPForwarder.offer` queues a request
or, when ``sending_queue`` is full, drops it and counts it.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import grpc
from google.rpc.error_details_pb2 import RetryInfo

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.exporter.otlp_sink import LOG_INTERVAL, Every
from tasktrace.exporter.send_queue import SendQueue
from tasktrace.model import Signal

_log = logging.getLogger(__name__)

_GRPC_METHODS: dict[Signal, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
#: the collector's backoff randomization factor
JITTER = 0.5
#: requests waiting (or in flight) per endpoint hold at most this many bytes
MAX_QUEUED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one send. ``retry_after``: the delay the server asked for."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    error: str = ""


class Transport(Protocol):
    async def prepare(self, body: bytes) -> bytes:
        """``body`` as sent (compressed, if so configured): once per request, not per attempt."""
        ...

    async def send(self, signal: Signal, body: bytes, timeout: float) -> Attempt: ...

    async def close(self) -> None: ...


class GRPCTransport:
    """Raw bytes over OTLP/gRPC (the generic stub: no re-encoding)."""

    def __init__(self, config: OTLPExporterConfig) -> None:
        if config.insecure:
            self._channel = grpc.aio.insecure_channel(config.url)
        else:
            self._channel = grpc.aio.secure_channel(config.url, config.tls.grpc_credentials())
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        gzipped = config.compression == "gzip"
        self._compression = grpc.Compression.Gzip if gzipped else grpc.Compression.NoCompression
        self._calls = {s: self._channel.unary_unary(m) for s, m in _GRPC_METHODS.items()}

    async def prepare(self, body: bytes) -> bytes:
        return body  # gRPC compresses in its own core

    async def send(self, signal: Signal, body: bytes, timeout: float) -> Attempt:
        try:
            await self._calls[signal](
                body, timeout=timeout, metadata=self._metadata, compression=self._compression
            )
        except grpc.aio.AioRpcError as exc:
            delay = _retry_info(exc.trailing_metadata())
            code = exc.code()
            retryable = code in _RETRYABLE_GRPC or (
                code is grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None
            )
            return Attempt(False, retryable, delay, f"{code.name}: {exc.details()}")
        return Attempt(True)

    async def close(self) -> None:
        await self._channel.close()


class HTTPTransport:
    """Raw bytes over OTLP/HTTP protobuf to ``/v1/traces`` and ``/v1/logs``."""

    def __init__(self, config: OTLPExporterConfig) -> None:
        self._urls = http_urls(config.url)
        self._headers = {**config.headers, "Content-Type": "application/x-protobuf"}
        self._gzip = config.compression == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._session: aiohttp.ClientSession | None = None
        self._ssl = None if config.insecure else config.tls.ssl_context()

    async def prepare(self, body: bytes) -> bytes:
        if not self._gzip:
            return body
        return await asyncio.to_thread(gzip.compress, body, 6)  # a 16 MiB body: off the loop

    async def send(self, signal: Signal, body: bytes, timeout: float) -> Attempt:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl) if self._ssl else None
            )
        try:
            async with self._session.post(
                self._urls[signal],
                data=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if 200 <= response.status < 300:
                    await response.read()
                    return Attempt(True)
                retryable = response.status in _RETRYABLE_HTTP
                delay = _retry_after(response.headers.get("Retry-After"))
                return Attempt(False, retryable, delay, f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Attempt(False, True, None, f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def http_urls(traces_url: str) -> dict[Signal, str]:
    """The traces URL as configured, and the logs URL beside it."""
    parts = urlsplit(traces_url)
    base = parts.path.removesuffix("/v1/traces").rstrip("/")
    root = f"{parts.scheme}://{parts.netloc}{base}"
    return {"traces": traces_url, "logs": f"{root}/v1/logs"}


def build_transport(config: OTLPExporterConfig) -> Transport:
    return GRPCTransport(config) if config.protocol == "grpc" else HTTPTransport(config)


def _retry_info(metadata: object) -> float | None:
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == _RETRY_INFO_KEY and isinstance(value, bytes):
            info = RetryInfo.FromString(value)
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the HTTP-date form is not used by OTLP servers)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ForwardStats:
    """Counts in requests. ``failed``: given up on (retries included or not
    retryable); ``dropped``: never sent (queue full, or queued at the shutdown deadline)."""

    queued: int = 0
    forwarded: int = 0
    failed: int = 0
    dropped: int = 0


class OTLPForwarder:
    """Requests in (``offer``), the same requests out to one OTLP endpoint.

    Lifecycle: ``start`` / ``shutdown``; ``shutdown`` is idempotent and safe
    without ``start``. Call ``offer`` from the event loop's thread.
    """

    def __init__(
        self,
        config: OTLPExporterConfig,
        *,
        transport_factory: Callable[[OTLPExporterConfig], Transport] = build_transport,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._factory = transport_factory
        self._clock = clock
        self._rng = rng or random.Random()
        queue = config.sending_queue
        self._queue: SendQueue[tuple[Signal, bytes]] = SendQueue(
            queue.queue_size if queue.enabled else 1,
            batch_size=1,
            weight=_body_size,
            max_weight=MAX_QUEUED_BYTES,
        )
        self._drop_log = Every(LOG_INTERVAL)
        self._failure_log = Every(LOG_INTERVAL)
        self._transport: Transport | None = None
        #: backoff waits (shutdown cancels one at its deadline); tests replace it
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def name(self) -> str:
        return self._config.endpoint

    async def start(self) -> None:
        if self._transport is not None:
            return
        transport = self._transport = self._factory(self._config)

        async def send(batch: list[tuple[Signal, bytes]]) -> bool:
            ((signal, body),) = batch
            return await self._send(transport, signal, body)

        self._queue.start(send, name="tasktrace-forward", on_failure=self._log_failure)

    def offer(self, signal: Signal, body: bytes) -> bool:
        """Queue one request; never blocks. False (and counted) when the queue is full
        (``sending_queue.queue_size`` requests, or ``MAX_QUEUED_BYTES``)."""
        if self._queue.offer([(signal, body)]):
            return True
        if self._drop_log.due(self._clock()):
            _log.warning(
                "pass-through queue for %s full: %d requests dropped so far",
                self.name,
                self._queue.dropped,
            )
        return False

    def stats(self) -> ForwardStats:
        queue = self._queue
        return ForwardStats(queue.queued, queue.sent, queue.failed, queue.dropped)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Forward what is queued within ``timeout`` seconds, retries included,
        then stop: at the deadline a backoff wait ends (that request fails) and
        what is still queued counts as dropped."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        await self._queue.stop(timeout)
        await transport.close()

    def _log_failure(self) -> None:
        if self._failure_log.due(self._clock()):
            _log.warning(
                "pass-through to %s: %d requests failed so far", self.name, self._queue.failed
            )

    async def _send(self, transport: Transport, signal: Signal, body: bytes) -> bool:
        retry = self._config.retry_on_failure
        deadline = self._clock() + retry.max_elapsed_time
        interval = retry.initial_interval
        body = await transport.prepare(body)
        while True:
            attempt = await transport.send(signal, body, self._config.timeout)
            if attempt.ok:
                return True
            if not (retry.enabled and attempt.retryable):
                _log.debug("pass-through to %s: %s", self.name, attempt.error)
                return False
            delay = attempt.retry_after
            if delay is None:
                delay = interval * self._rng.uniform(1 - JITTER, 1 + JITTER)
            if self._clock() + delay > deadline:
                return False
            await self.sleep(delay)
            interval = min(interval * retry.multiplier, retry.max_interval)


def _body_size(item: tuple[Signal, bytes]) -> int:
    return len(item[1])
