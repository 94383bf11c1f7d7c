"""Faults under sustained load from the real OTLP SDK exporters (gRPC and
HTTP), against a real ``tasktrace serve`` process: each scenario injects one
fault mid-load, lets the load run on after recovery, stops it (the SDK
processors flush), waits until every session is extracted and returns the
:class:`~tests.support.fault_audit.Figures`. The integration tests assert on
them; ``bench/faults.py`` prints them. ``before``/``after``: spans acknowledged
before the fault and after recovery; ``*_seconds``: how long a fault lasts.
Every scenario's extras include ``tracebacks``: errors nobody handled, in the
serve log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Literal

from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

from tests.support.external_pg import Cluster
from tests.support.fake_otlp import FlakyTraceService, serving_grpc
from tests.support.fault_audit import Figures, audit
from tests.support.fault_runs import (
    Samples,
    acked_more,
    all_extracted,
    behind,
    metrics,
    runs,
    total,
)
from tests.support.llm_faults import FaultyLLM, faulty_llm
from tests.support.llm_stub import llm_overrides
from tests.support.ports import free_port
from tests.support.sdk_load import PROTOCOLS, Load, sdk_load
from tests.support.serve_process import ServeProcess


def _with(figures: Figures, **extra: object) -> Figures:
    return dataclasses.replace(figures, extra={**figures.extra, **extra})


def _resent(load: Load, start: int, end: int) -> str:
    """``acked/made`` of the spans made while the fault lasted (``made[start:end]``):
    all acked means the exporters held and resent them."""
    during = set(load.ledger.made[start:end])
    return f"{len(during & set(load.ledger.acked))}/{len(during)}"


def _recovery(load: Load, since: float) -> float:
    first = load.ledger.first_ack_after(since)
    return round(first - since, 2) if first is not None else float("nan")


async def serve_killed(
    cluster: Cluster | None = None, *, before: int = 100, after: int = 100
) -> Figures:
    """SIGKILL of ``tasktrace serve`` under load, then a restart on the same
    endpoints and store: the same data dir (embedded) or ``cluster`` (a DSN).
    ``resent``: acked/made of the spans made until the restart was ready;
    ``recovery_s``: from the kill to the first acknowledgement after it."""
    store = [f"exporters.postgres.dsn={cluster.dsn}"] if cluster else []
    async with runs("kill-") as run:
        first = await run.serve(store)
        with sdk_load(first.grpc, first.http, "kill-") as load:
            await acked_more(load.ledger, before)
            killed_at, made_before = time.monotonic(), len(load.ledger.made)
            exit_status = await first.kill()
            second = await run.serve(store, endpoints=(first.http, first.grpc))
            restarted_s, made_down = time.monotonic() - killed_at, len(load.ledger.made)
            await acked_more(load.ledger, after)
            await asyncio.to_thread(load.stop)
        stored = await all_extracted(run.dsn(cluster.dsn if cluster else ""), "kill-")
        tracebacks = run.tracebacks()
        assert second.process.returncode is None, second.log_tail()
    figures = audit(load.ledger.made, load.ledger.acked, stored)
    return _with(
        figures,
        tracebacks=tracebacks,
        exit=exit_status,
        restart_s=round(restarted_s, 2),
        resent=_resent(load, made_before, made_down),
        recovery_s=_recovery(load, killed_at),
    )


REQUESTS = "tasktrace_receiver_requests_total"


async def store_restarted(
    cluster: Cluster, *, down_seconds: float = 5.0, before: int = 100, after: int = 100
) -> Figures:
    """The external PostgreSQL stopped (fast shutdown) under load for
    ``down_seconds`` and started again; the same serve process throughout.
    ``unavailable``: export requests it answered UNAVAILABLE (gRPC) / 503 (HTTP);
    ``resent``: acked/made of the spans made while it was down;
    ``recovery_s``: from the store's return to the first acknowledgement."""
    async with runs("pgrestart-") as run:
        served = await run.serve([f"exporters.postgres.dsn={cluster.dsn}"])
        with sdk_load(served.grpc, served.http, "pg-") as load:
            await acked_more(load.ledger, before)
            made_before = len(load.ledger.made)
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(down_seconds)  # the outage lasts this long
            await asyncio.to_thread(cluster.start)
            back_at, made_down = time.monotonic(), len(load.ledger.made)
            await acked_more(load.ledger, after)
            await asyncio.to_thread(load.stop)
        stored = await all_extracted(cluster.dsn, "pg-")
        tracebacks = run.tracebacks()
        samples = await metrics(served)
        assert served.process.returncode is None, served.log_tail()
        assert len(run.started) == 1
    figures = audit(load.ledger.made, load.ledger.acked, stored)
    return _with(
        figures,
        tracebacks=tracebacks,
        unavailable="/".join(
            str(int(total(samples, REQUESTS, protocol=p, result="unavailable"))) for p in PROTOCOLS
        ),
        resent=_resent(load, made_before, made_down),
        recovery_s=_recovery(load, back_at),
    )


LLMPhase = Literal["down", "garbage", "slow"]
LLM_TIMEOUT = 1.0


async def llm_faults(*, phase_seconds: float = 4.0, after: int = 100) -> Figures:
    """The ``llm`` extractor's endpoint down, then answering garbage, then too
    slow (past ``timeout``), ``phase_seconds`` each, under load; then well.
    ``errors``: failed extractor runs in each phase (down/garbage/slow);
    ``backlog``: sessions with messages waiting when it returns; ``recovery_s``:
    from its return until they are all extracted."""
    async with faulty_llm(slow_seconds=3 * LLM_TIMEOUT) as llm, runs("llm-") as run:
        overrides = [
            *llm_overrides(llm.base_url),
            f"processors.tasktrace.extractor.llm.timeout={LLM_TIMEOUT}s",
        ]
        served = await run.serve(overrides)
        errors: dict[str, int] = {}
        with sdk_load(served.grpc, served.http, "llm-") as load:
            await acked_more(load.ledger, 20)
            for phase in ("down", "garbage", "slow"):
                errors[phase] = await _phase(served, llm, phase, phase_seconds)
            backlog = await behind(run.dsn(), "llm-")
            await llm.set_mode("ok")
            back_at = time.monotonic()
            await all_extracted(run.dsn(), "llm-", only=backlog)
            recovered = time.monotonic() - back_at
            await acked_more(load.ledger, after)
            await asyncio.to_thread(load.stop)
        stored = await all_extracted(run.dsn(), "llm-")
        tracebacks = run.tracebacks()
    figures = audit(load.ledger.made, load.ledger.acked, stored)
    return _with(
        figures,
        tracebacks=tracebacks,
        errors="/".join(str(errors[p]) for p in ("down", "garbage", "slow")),
        calls=dict(llm.by_mode),
        backlog=len(backlog),
        recovery_s=round(recovered, 2),
    )


async def _phase(served: ServeProcess, llm: FaultyLLM, phase: LLMPhase, seconds: float) -> int:
    """Run ``phase`` for ``seconds``; the extractor errors counted meanwhile."""
    name = "tasktrace_extraction_errors_total"
    start = total(await metrics(served), name)
    await llm.set_mode(phase)
    await asyncio.sleep(seconds)  # the fault lasts this long
    return int(total(await metrics(served), name) - start)


SPAN_DEPTH = "tasktrace_export_queue_depth"
SPAN_ITEMS = "tasktrace_export_items_total"


async def backend_down(
    *, down_seconds: float = 20.0, queue_size: int = 100, before: int = 100, after: int = 100
) -> Figures:
    """The OTLP backend of task spans (a recording gRPC backend) gone for
    ``down_seconds`` under load, then back on its port. Tasks come from the
    ``llm`` extractor against a well endpoint: one task per user message.
    ``queue_max``: the most task spans queued (sampled every 0.25 s);
    ``exported``/``failed``/``dropped``: the sink's counts; ``arrived``: task
    spans the backend got (``after_return``: once back); ``recovery_s``: from
    its return until the queue is empty."""
    port, backend = free_port(), FlakyTraceService()
    async with faulty_llm() as llm, runs("backend-") as run, contextlib.AsyncExitStack() as up:
        await up.enter_async_context(serving_grpc(backend, port))
        served = await run.serve([
            *llm_overrides(llm.base_url),
            f"exporters.otlp.endpoint=127.0.0.1:{port}",
            f"exporters.otlp.sending_queue.queue_size={queue_size}",
            "exporters.otlp.retry_on_failure.max_elapsed_time=300s",
        ])  # fmt: skip
        with sdk_load(served.grpc, served.http, "bk-") as load:
            await acked_more(load.ledger, before)
            await up.aclose()  # the backend goes away
            depths = await _sample_depth(served, down_seconds)
            arrived_before = len(backend.spans)
            await up.enter_async_context(serving_grpc(backend, port))
            back_at = time.monotonic()
            await acked_more(load.ledger, after)
            await asyncio.to_thread(load.stop)
            stored = await all_extracted(run.dsn(), "bk-")
            samples = await _drained(served)
            tracebacks = run.tracebacks()
            drained_s = time.monotonic() - back_at
    figures = audit(load.ledger.made, load.ledger.acked, stored)
    sent = {_task_of(span) for span in backend.spans}
    return _with(
        figures,
        tracebacks=tracebacks,
        queue_size=queue_size,
        queue_max=int(max(depths, default=0)),
        exported=int(total(samples, SPAN_ITEMS, kind="task_spans", result="exported")),
        failed=int(total(samples, SPAN_ITEMS, kind="task_spans", result="failed")),
        dropped=int(total(samples, SPAN_ITEMS, kind="task_spans", result="dropped")),
        arrived=len(backend.spans),
        after_return=len(backend.spans) - arrived_before,
        unknown_tasks=len(sent - set(stored.tasks)),
        recovery_s=round(drained_s, 2),
    )


def _task_of(span: OTLPSpan) -> tuple[str, str]:
    attrs = {a.key: a.value.string_value for a in span.attributes}
    return attrs["gen_ai.conversation.id"], attrs["tasktrace.task.description"]


async def _sample_depth(served: ServeProcess, seconds: float) -> list[float]:
    """The task span queue's depth every 0.25 s for ``seconds`` (the outage)."""
    depths, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        depths.append(total(await metrics(served), SPAN_DEPTH, kind="task_spans"))
        await asyncio.sleep(0.25)
    return depths


async def _drained(served: ServeProcess, timeout: float = 90.0) -> Samples:
    """``/metrics`` once the task span queue is empty (polled)."""
    deadline = time.monotonic() + timeout
    while (samples := await metrics(served)) and total(samples, SPAN_DEPTH, kind="task_spans"):
        assert time.monotonic() < deadline, "task span queue not drained"
        await asyncio.sleep(0.25)
    return samples
