"""Reliability under load: what senders are answered, and what lands, when
input is bad, requests are large, or the store goes away.

Each scenario runs a real ``tasktrace serve`` (a subprocess, embedded
PostgreSQL unless said otherwise) and raw OTLP/gRPC senders in this process
that behave as exporters do: they resend after the ``RetryInfo`` delay when
told to retry, and give up on INVALID_ARGUMENT. Figures per scenario: requests
sent / acknowledged / present in Postgres, answers by status code, RSS of the
serve process (sampled every 50 ms), and times where they matter.

    nice -n 10 python bench/reliability.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from common import postgres_count, print_table, rss_sampler, tasktrace_server, write_result
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tasktrace.evaluation.replay.otlp import to_key_values
from tasktrace.exporter.task_search import like_escape
from tasktrace.server.embedded import EmbeddedPostgres

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/
from tests.support.otlp_values import with_deep_value

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


def chat(session: str, text: str, *, end_ns: int = 1_700_000_001_000_000_000) -> bytes:
    """One GenAI ``chat`` span: the user says ``text``, the model answers "ok"."""
    span = ProtoSpan(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="chat bench",
        kind=ProtoSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=end_ns,
    )
    user = '[{"role": "user", "parts": [{"type": "text", "content": %s}]}]'
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.conversation.id": session,
        "gen_ai.input.messages": user % _json_str(text),
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", '
        '"content": "ok"}]}]',
    }
    span.attributes.extend(to_key_values(attrs))
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend(to_key_values({"service.name": "reliability"}))
    resource.scope_spans.add().spans.append(span)
    return request.SerializeToString()


def _json_str(text: str) -> str:
    return json.dumps(text)


@dataclass
class Tally:
    """What one scenario's senders saw."""

    sent: int = 0  # distinct requests
    acked: list[str] = field(default_factory=list)  # sessions of acknowledged requests
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)

    def codes(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items()))


async def send(
    channel: grpc.aio.Channel,
    data: bytes,
    session: str,
    tally: Tally,
    *,
    deadline: float,
    timeout: float = 10.0,
) -> grpc.StatusCode:
    """Send ``data`` as an exporter would: resend after the RetryInfo delay while
    told to retry, until ``deadline`` (monotonic)."""
    call = channel.unary_unary(EXPORT)
    tally.sent += 1
    while True:
        started = time.monotonic()
        try:
            await call(data, timeout=timeout)
            code, delay = grpc.StatusCode.OK, 0.0
        except grpc.aio.AioRpcError as error:
            code, delay = error.code(), _retry_delay(error)
        tally.latencies.append(time.monotonic() - started)
        tally.answers[code.name] += 1
        if code is grpc.StatusCode.OK:
            tally.acked.append(session)
        if code not in RETRY or time.monotonic() + delay > deadline:
            return code
        await asyncio.sleep(delay)


def _retry_delay(error: grpc.aio.AioRpcError) -> float:
    for key, value in error.trailing_metadata() or ():
        if key == "google.rpc.retryinfo-bin":
            info = error_details_pb2.RetryInfo.FromString(value)
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return 1.0


def present(dsn: str, prefix: str) -> int:
    pattern = like_escape(prefix) + "%"
    return postgres_count(dsn, "SELECT count(*) FROM sessions WHERE id LIKE %s", (pattern,))


def row(name: str, tally: Tally, stored: int, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": name,
        "sent": tally.sent,
        "acked": len(tally.acked),
        "present": stored,
        "answers": tally.codes(),
        **extra,
    }


async def honest_beside(
    endpoint: str, bad: Callable[[int], bytes], honest_senders: int, each: int, bad_count: int
) -> tuple[Tally, Tally]:
    honest, bad_tally = Tally(), Tally()
    deadline = time.monotonic() + 300
    async with grpc.aio.insecure_channel(endpoint) as channel:

        async def sender(i: int) -> None:
            for n in range(each):
                session = f"honest-{i}-{n}"
                await send(channel, chat(session, f"turn {n}"), session, honest, deadline=deadline)

        async def bad_sender() -> None:
            for n in range(bad_count):
                await send(channel, bad(n), f"bad-{n}", bad_tally, deadline=deadline)

        await asyncio.gather(*(sender(i) for i in range(honest_senders)), bad_sender())
    return honest, bad_tally


def bad_input(quick: bool) -> list[dict[str, Any]]:
    """8 honest senders beside one sender of bad requests: a time past 2^63, a
    session key no index can hold (refused by the store in a shared write), a
    value nested 10,000 deep (cut; its span is kept)."""
    each = 10 if quick else 40
    cases: dict[str, Callable[[int], bytes]] = {
        "time >= 2^63": lambda n: chat(f"bad-{n}", "late", end_ns=2**63 + n),
        "key too large to index": lambda n: chat(os.urandom(8000).hex(), "hi"),
        "AnyValue 10,000 deep": lambda n: with_deep_value(chat(f"bad-{n}", "deep"), 10_000),
    }
    rows = []
    for name, bad in cases.items():
        with tasktrace_server() as server:
            with rss_sampler(server.proc.pid) as rss:
                honest, bad_tally = asyncio.run(honest_beside(server.grpc, bad, 8, each, each))
            rows.append(row(f"{name}: honest", honest, present(server.dsn(), "honest-")))
            rows.append(
                row(
                    f"{name}: bad",
                    bad_tally,
                    present(server.dsn(), "bad-"),
                    rss_peak=rss["peak_mb"],
                )
            )
    return rows


def large_requests(quick: bool) -> list[dict[str, Any]]:
    """64 concurrent senders of 4 MB requests against the byte bound (64 MiB)."""
    senders, each = (16, 2) if quick else (64, 3)
    text = os.urandom(2 * 1024 * 1024).hex()  # 4 MB of text per request
    tally = Tally()
    with tasktrace_server() as server:
        with rss_sampler(server.proc.pid) as rss:

            async def run() -> None:
                deadline = time.monotonic() + 300
                async with grpc.aio.insecure_channel(
                    server.grpc, options=[("grpc.max_send_message_length", 64 * 2**20)]
                ) as channel:

                    async def sender(i: int) -> None:
                        for n in range(each):
                            session = f"large-{i}-{n}"
                            await send(
                                channel, chat(session, text), session, tally, deadline=deadline
                            )

                    await asyncio.gather(*(sender(i) for i in range(senders)))

            started = time.monotonic()
            asyncio.run(run())
            took = time.monotonic() - started
        stored = present(server.dsn(), "large-")
    return [
        row(
            f"{senders} senders x {each} x 4 MB",
            tally,
            stored,
            rss_start=rss["start_mb"],
            rss_peak=rss["peak_mb"],
            rss_end=rss.get("end_mb", 0.0),
            seconds=took,
        )
    ]


async def steady_load(
    endpoint: str, prefix: str, senders: int, until: Callable[[], bool], tally: Tally
) -> None:
    deadline = time.monotonic() + 120
    async with grpc.aio.insecure_channel(endpoint) as channel:

        async def sender(i: int) -> None:
            n = 0
            while not until() and time.monotonic() < deadline:
                session = f"{prefix}{i}-{n}"
                await send(channel, chat(session, f"turn {n}"), session, tally, deadline=deadline)
                n += 1

        await asyncio.gather(*(sender(i) for i in range(senders)))


def embedded_killed(quick: bool) -> list[dict[str, Any]]:
    """SIGKILL of the embedded postmaster under load from 4 senders."""
    tally = Tally()
    with tasktrace_server() as server:
        assert server.data_dir is not None
        pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])

        async def run() -> float:
            recovery = 0.0

            async def killer() -> None:
                nonlocal recovery
                while len(tally.acked) < 50:
                    await asyncio.sleep(0.01)
                os.kill(pid, signal.SIGKILL)
                killed_at, acked = time.monotonic(), len(tally.acked)
                while len(tally.acked) == acked:
                    await asyncio.sleep(0.01)
                recovery = time.monotonic() - killed_at
                await asyncio.sleep(3 if quick else 10)

            task = asyncio.create_task(killer())
            await steady_load(server.grpc, "kill-", 4, task.done, tally)
            await task
            return recovery

        recovery = asyncio.run(run())
        if server.proc.poll() is not None:
            assert server.log_path is not None
            raise RuntimeError(f"serve exited:\n{server.log_path.read_text()[-3000:]}")
        stored = present(server.dsn(), "kill-")
    return [row("postmaster SIGKILL, 4 senders", tally, stored, recovery_s=recovery)]


def store_outage(quick: bool) -> list[dict[str, Any]]:
    """An external store (a DSN) stopped for a while under load from 8 senders;
    the query API is polled meanwhile."""
    outage = 4.0 if quick else 10.0
    tally = Tally()
    api: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="tasktrace-bench-") as tmp:
        store = EmbeddedPostgres(Path(tmp) / "store")
        dsn = store.start()
        try:
            with tasktrace_server(f"exporters.postgres.dsn={dsn}") as server:

                async def run() -> None:
                    stop = asyncio.Event()

                    async def poll_api() -> None:
                        async with httpx.AsyncClient(base_url=f"http://{server.http}") as http:
                            while not stop.is_set():
                                with contextlib.suppress(httpx.HTTPError):
                                    status = (await http.get("/api/v1/sessions")).status_code
                                    api[str(status)] += 1
                                await asyncio.sleep(0.25)

                    async def outage_then_back() -> None:
                        while len(tally.acked) < 50:
                            await asyncio.sleep(0.01)
                        await asyncio.to_thread(store.stop)
                        await asyncio.sleep(outage)
                        await asyncio.to_thread(store.start)
                        await asyncio.sleep(5)
                        stop.set()

                    poller = asyncio.create_task(poll_api())
                    await asyncio.gather(
                        steady_load(server.grpc, "outage-", 8, stop.is_set, tally),
                        outage_then_back(),
                    )
                    await poller

                asyncio.run(run())
                stored = postgres_count(
                    dsn, "SELECT count(*) FROM sessions WHERE id LIKE 'outage-%'"
                )
        finally:
            store.stop()
    refused = [t for t in tally.latencies if t > 0]
    return [
        row(
            f"store down {outage:.0f} s, 8 senders",
            tally,
            stored,
            max_answer_s=max(refused, default=0.0),
            api=", ".join(f"{k} {v}" for k, v in sorted(api.items())),
        )
    ]


def host_header(quick: bool) -> list[dict[str, Any]]:
    """Query API calls with a foreign Host (a DNS-rebinding page) and with localhost."""
    n = 20 if quick else 100
    rows = []
    with tasktrace_server() as server:
        port = server.http.rsplit(":", 1)[1]
        with httpx.Client(base_url=f"http://{server.http}") as http:
            for host in ("rebind.attacker.example", "localhost", "127.0.0.1"):
                statuses = collections.Counter(
                    str(
                        http.get("/api/v1/sessions", headers={"Host": f"{host}:{port}"}).status_code
                    )
                    for _ in range(n)
                )
                rows.append(
                    {"host": host, "answers": ", ".join(f"{k} {v}" for k, v in statuses.items())}
                )
    return rows


SCENARIOS: dict[str, Callable[[bool], list[dict[str, Any]]]] = {
    "bad_input": bad_input,
    "large_requests": large_requests,
    "embedded_killed": embedded_killed,
    "store_outage": store_outage,
    "host_header": host_header,
}


def run(quick: bool = False, only: str = "") -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, scenario in SCENARIOS.items():
        if only and name not in only.split(","):
            continue
        rows = scenario(quick)
        header = list(dict.fromkeys(k for r in rows for k in r))
        print_table(name, header, [[r.get(h, "") for h in header] for r in rows])
        results[name] = rows
    write_result("reliability", {"quick": quick, **results})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller loads")
    parser.add_argument("--only", default="", help="comma-separated scenarios")
    args = parser.parse_args()
    run(args.quick, args.only)


if __name__ == "__main__":
    main()
