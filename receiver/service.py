"""The receiver component: decode, read, and hand batches to ingest one
transaction at a time (batches that queued up meanwhile share one).

Protocol front ends (gRPC, HTTP) call :meth:`Receiver.export_traces` /
:meth:`Receiver.export_logs` and map the exceptions to their status codes:

- :class:`~tasktrace.receiver.otlp_decode.DecodeFailed`: the data will never
  parse (INVALID_ARGUMENT / 400; past ``max_items``, RESOURCE_EXHAUSTED / 413);
- :class:`Overloaded`: the ingest queue is full, by count or by bytes
  (RESOURCE_EXHAUSTED / 429, retry);
- :class:`~tasktrace.errors.StoreUnavailable`: the store is down (UNAVAILABLE / 503, retry);
- :class:`~tasktrace.errors.StoreRejected`: it refuses the data (INVALID_ARGUMENT / 400).

Queued batches share one transaction; if it fails for anything but an
unavailable store, each batch is written again alone, so that one request's bad
data fails only that request.

A call returns (what was :class:`Accepted`) only once its batch is committed:
what was acknowledged is durable. Only then is the request handed to pass-through
(``forward``, unredacted), so a request to be resent is never forwarded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tasktrace.errors import StoreUnavailable
from tasktrace.model import Signal, Span
from tasktrace.receiver import otlp_decode
from tasktrace.receiver.batch import BatchContent, merge_batches, read_batch
from tasktrace.receiver.content_watch import CAPTURE_HINT, ContentWatch
from tasktrace.receiver.ingest import Ingestor
from tasktrace.receiver.traffic import Traffic
from tasktrace.records import WritePlan
from tasktrace.redaction import Redaction

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: seconds a sender is asked to wait before retrying when we are overloaded or the store is down
RETRY_AFTER = 2.0
#: at most this many queued batches, or spans and log records, are written in one transaction
MERGE_BATCHES = 16
MERGE_ITEMS = 8192


#: pass-through: takes each accepted request ("traces" or "logs", protobuf bytes); never blocks
Forward = Callable[[Signal, bytes], None]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an export call took in: all of it but ``rejected`` items (``reason``
    says why), which the answer's ``partial_success`` reports."""

    rejected: int = 0
    reason: str = ""


def export_response(signal: Signal, accepted: Accepted) -> Message:
    """The OTLP answer to an accepted request: ``partial_success`` set only when
    items were rejected (https://opentelemetry.io/docs/specs/otlp/#partial-success)."""
    if signal == "traces":
        response: Message = ExportTraceServiceResponse()
        if accepted.rejected:
            response.partial_success.rejected_spans = accepted.rejected
    else:
        response = ExportLogsServiceResponse()
        if accepted.rejected:
            response.partial_success.rejected_log_records = accepted.rejected
    if accepted.rejected:
        response.partial_success.error_message = accepted.reason
    return response


@dataclass(frozen=True, slots=True)
class _Read:
    """One request as the reader thread leaves it: the batch, how many spans or
    log records the request held, what decoding kept in part, and its protobuf
    bytes for pass-through."""

    batch: BatchContent
    items: int
    problems: otlp_decode.DecodeProblems
    raw: bytes


@dataclass(slots=True)
class _Tally:
    """What one request turned out to hold, for :meth:`Receiver._tally`."""

    read: _Read | None = None
    dropped: int = 0


class Overloaded(Exception):
    """Too many batches, or bytes, are waiting for the store; the sender should retry later."""


@dataclass(slots=True)
class Counters:
    batches: int = 0
    spans: int = 0
    log_records: int = 0
    messages: int = 0
    unclaimed: int = 0
    unreadable: int = 0
    rejected_batches: int = 0
    rejected_bytes: int = 0  # refused before decoding: the bytes in process were at the limit
    store_failures: int = 0
    split_writes: int = 0  # shared writes failed for bad data, written again batch by batch
    #: attribute values kept in part: not UTF-8 (decoded with U+FFFD), or cut at 4 Mi characters
    invalid_utf8: int = 0
    cut_values: int = 0
    #: arrays or kvlists nested past the depth limit, replaced by None; the span is kept
    deep_values: int = 0
    unparsed_json: int = 0  # message JSON that did not parse; the span is kept


class Receiver:
    def __init__(
        self,
        ingestor: Ingestor,
        *,
        session_keys: Sequence[str] = (),
        queue_size: int = 64,
        max_queued_bytes: int = 64 * 1024 * 1024,
        on_commit: Callable[[WritePlan], None] | None = None,
        forward: Forward | None = None,
        content_grace: float = 10.0,
        redaction: Redaction | None = None,
        max_items: int = otlp_decode.MAX_ITEMS,
    ) -> None:
        self._ingestor, self._max_items = ingestor, max_items
        self._read_with = (tuple(session_keys), redaction)  # redacted as read, before the merge
        self._queue: asyncio.Queue[tuple[BatchContent, asyncio.Future[WritePlan]]] = asyncio.Queue(
            queue_size
        )
        self._on_commit = on_commit
        self._forward = forward
        self._worker: asyncio.Task[None] | None = None
        self._reader: ThreadPoolExecutor | None = ThreadPoolExecutor(1, "otlp-read")
        self.counters = Counters()
        self.traffic = Traffic()
        self._pending = 0
        self._max_bytes = max_queued_bytes
        self._bytes = 0
        self._last_overload_log = 0.0
        self.content_watch = ContentWatch(grace=content_grace)

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Finish the batches already accepted (within ``timeout``), then stop. Idempotent."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            _log.warning("shutdown: %d batches not written in time", self._queue.qsize())
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown(wait=False)

    def waiting(self) -> int:
        """Export requests being decoded, queued or written: senders waiting on us."""
        return self._pending

    def has_room(self, size: int) -> bool:
        """Whether a request of ``size`` bytes would be taken now. One request is
        always taken when none is in process, so any request within the size
        limit gets through eventually."""
        return self._bytes == 0 or self._bytes + size <= self._max_bytes

    async def export_traces(
        self, data: bytes, *, json_body: bool = False, protocol: str = "grpc"
    ) -> Accepted:
        """``protocol`` (``grpc``, ``http``) labels the request in :attr:`traffic`."""
        with self._tally(protocol, "traces") as tally, self._in_process(len(data)):
            read = await self._off_loop(self._read_traces, data, json_body)
            rejected = read.items - read.batch.items  # spans without valid ids
            tally.read, tally.dropped = read, rejected
            self.counters.spans += read.items
            self.counters.unreadable += rejected
            await self._submit(read)
        if self._forward is not None:
            self._forward("traces", read.raw)
        if not rejected:
            return Accepted()
        return Accepted(rejected, f"{rejected} spans without a valid trace id and span id")

    async def export_logs(
        self, data: bytes, *, json_body: bool = False, protocol: str = "grpc"
    ) -> Accepted:
        with self._tally(protocol, "logs") as tally, self._in_process(len(data)):
            read = await self._off_loop(self._read_logs, data, json_body)
            tally.read = read
            self.counters.log_records += read.items
            await self._submit(read)
        if self._forward is not None:
            self._forward("logs", read.raw)
        return Accepted()

    @contextlib.contextmanager
    def _tally(self, protocol: str, signal: Signal) -> Iterator[_Tally]:
        """Records the request in :attr:`traffic` once answered, by how it ended."""
        tally = _Tally()
        result = "accepted"
        try:
            yield tally
        except otlp_decode.DecodeFailed:
            result = "invalid"
            raise
        except Overloaded:
            result = "overloaded"
            raise
        except StoreUnavailable:
            result = "unavailable"
            raise
        finally:
            by_dialect = tally.read.batch.by_dialect if tally.read is not None else {}
            self.traffic.record(protocol, signal, result, by_dialect, tally.dropped)

    @contextlib.contextmanager
    def _in_process(self, size: int) -> Iterator[None]:
        """Counts an export request and its bytes until it is answered; refuses
        it (:class:`Overloaded`) before any decoding if the bytes would pass the limit."""
        if not self.has_room(size):
            self.counters.rejected_bytes += 1
            self._log_overload()
            raise Overloaded(f"over {self._max_bytes} bytes of requests in process")
        self._pending += 1
        self._bytes += size
        try:
            yield
        finally:
            self._pending -= 1
            self._bytes -= size

    async def _off_loop(
        self, read: Callable[[bytes, bool], _T], data: bytes, json_body: bool
    ) -> _T:
        """Decoding and reading run on one worker thread, so that a large request
        does not hold up the event loop (and the store round trips waiting on it);
        after shutdown, here (the batch is then refused)."""
        if self._reader is None:
            return read(data, json_body)
        return await asyncio.get_running_loop().run_in_executor(self._reader, read, data, json_body)

    def _read_traces(self, data: bytes, json_body: bool) -> _Read:
        parse = otlp_decode.parse_trace_request
        request = parse(data, json_body=json_body, max_items=self._max_items)
        problems = otlp_decode.DecodeProblems()
        spans = list(otlp_decode.iter_spans(request, problems))
        valid = [span for span in spans if has_valid_ids(span)]
        batch = read_batch(valid, [], *self._read_with)
        return _Read(batch, len(spans), problems, self._raw(request, data, json_body))

    def _read_logs(self, data: bytes, json_body: bool) -> _Read:
        parse = otlp_decode.parse_logs_request
        request = parse(data, json_body=json_body, max_items=self._max_items)
        problems = otlp_decode.DecodeProblems()
        records = list(otlp_decode.iter_log_records(request, problems))
        batch = read_batch([], records, *self._read_with)
        return _Read(batch, len(records), problems, self._raw(request, data, json_body))

    def _raw(self, request: Message, data: bytes, json_body: bool) -> bytes:
        """The request as protobuf for pass-through: the bytes as they came, or
        the OTLP/JSON request encoded (OTLP exporters send protobuf)."""
        if self._forward is None or not json_body:
            return data
        return request.SerializeToString()

    async def _submit(self, read: _Read) -> WritePlan:
        batch = read.batch
        self.counters.invalid_utf8 += read.problems.invalid_utf8
        self.counters.cut_values += read.problems.cut_values
        self.counters.deep_values += read.problems.deep_values
        self.counters.unclaimed += batch.unclaimed
        self.counters.unreadable += batch.unreadable
        self.counters.unparsed_json += batch.unparsed
        if not batch.traces:
            return WritePlan()
        if self._worker is None:
            raise Overloaded("the receiver is not running")
        future: asyncio.Future[WritePlan] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((batch, future))
        except asyncio.QueueFull:
            self.counters.rejected_batches += 1
            self._log_overload()
            raise Overloaded("ingest queue full") from None
        return await future

    async def _drain(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), self.content_watch.grace)
            except TimeoutError:  # idle: content-less sessions still come due
                self._report_contentless()
                continue
            group = [first]
            # batches that queued up meanwhile share one transaction: the round
            # trips to the store, not the CPU, bound how many batches/s go through
            items = group[0][0].items
            while items < MERGE_ITEMS and len(group) < MERGE_BATCHES and not self._queue.empty():
                group.append(self._queue.get_nowait())
                items += group[-1][0].items
            try:
                await self._write_group(group)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _write_group(
        self, group: Sequence[tuple[BatchContent, asyncio.Future[WritePlan]]]
    ) -> None:
        """Write the batches in one transaction; if it fails for anything but an
        unavailable store, write each again alone, so only the bad one fails."""
        batch = group[0][0] if len(group) == 1 else merge_batches([b for b, _ in group])
        try:
            plan = await self._ingestor.ingest(batch)
        except StoreUnavailable as exc:
            self._failed(group, exc)
        except Exception as exc:
            if len(group) == 1:
                self._failed(group, exc)
                return
            self.counters.split_writes += 1
            _log.warning(
                "a shared write of %d batches failed (%s): writing each alone", len(group), exc
            )
            for one in group:
                await self._write_group([one])
        else:
            self.counters.batches += len(group)
            self.counters.messages += len(plan.messages)
            for _, future in group:
                if not future.done():
                    future.set_result(plan)
            if self._on_commit is not None:
                try:
                    self._on_commit(plan)
                except Exception:
                    _log.exception("commit listener failed")
            with_text = {m.session_id for m, _ in plan.messages if m.content}
            self.content_watch.observe(plan.contentless, with_text, time.monotonic())
            self._report_contentless()

    def _failed(
        self, group: Sequence[tuple[BatchContent, asyncio.Future[WritePlan]]], exc: Exception
    ) -> None:
        self.counters.store_failures += len(group)
        for _, future in group:
            if not future.done():
                future.set_exception(exc)

    def _report_contentless(self) -> None:
        for sid in self.content_watch.due(time.monotonic()):
            _log.warning(
                "session %s received LLM spans without message content, so no tasks: %s",
                sid,
                CAPTURE_HINT,
            )

    def _log_overload(self) -> None:
        now = time.monotonic()
        if now - self._last_overload_log > 10:
            self._last_overload_log = now
            _log.warning(
                "ingest queue full: refusing requests (%d by count, %d by bytes so far)",
                self.counters.rejected_batches,
                self.counters.rejected_bytes,
            )


def has_valid_ids(span: Span) -> bool:
    """A valid trace id is 16 bytes and a span id 8, neither all zeros (spec: trace/api
    #spancontext); without them a span is dropped and counted unreadable."""
    return _valid_id(span.trace_id, 32) and _valid_id(span.span_id, 16)


def _valid_id(hex_id: str, length: int) -> bool:
    return len(hex_id) == length and hex_id.strip("0") != ""
