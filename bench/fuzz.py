"""Fuzzing a live ``tasktrace serve`` with malformed OTLP over gRPC and HTTP.

Input classes (``fuzz_inputs.py``): real fixture requests unchanged, random
bytes, truncated and bit-flipped real requests, invalid UTF-8, 10 MB attribute
values, AnyValue nested 10,000 deep, 100k spans in one request, wrong JSON
types, absurd timestamps and gzip bombs, each over OTLP/gRPC, OTLP/HTTP
protobuf and OTLP/HTTP JSON. The rules, each a non-zero exit when broken:

- every answer is OK/200, INVALID_ARGUMENT/400, RESOURCE_EXHAUSTED/413/429 or
  415 (a real request unchanged: OK/200, or refused for load); no 5xx, no
  other gRPC code, no connection dropped, no answer later than the time-out;
- the server is alive afterwards and still stores a valid request;
- its RSS peak stays within 2x of its RSS at start.

    nice -n 10 python bench/fuzz.py --n 100000 [--seed 1] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
from common import (
    RESULTS,
    Server,
    postgres_count,
    print_table,
    rss_sampler,
    tasktrace_server,
    write_result,
)
from fuzz_inputs import CLASSES, GRPC, GRPC_BOMB_PAYLOAD, HTTP_JSON, Case, load_seeds, plan
from reliability import chat

EXPORT = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
ALLOWED_GRPC = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
ALLOWED_HTTP = {"200", "400", "413", "415", "429"}
#: what a real request unchanged may get: taken, or refused for load (resent by exporters)
ALLOWED_VALID = {"OK", "RESOURCE_EXHAUSTED", "200", "429"}
TIMEOUT = 60.0
RSS_FACTOR = 2.0
MAX_MESSAGE = 256 * 1024 * 1024


@dataclass
class Report:
    """What a campaign saw: answers per (class, transport), RSS, the checks after."""

    answers: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)
    rss: dict[str, float] = field(default_factory=dict)
    alive: bool = False
    stored_after: bool = False
    seconds: float = 0.0
    #: the first input of each answer no rule allows, to replay it
    examples: dict[tuple[str, str, str], Case] = field(default_factory=dict)
    #: the server's log lines about errors (tracebacks), read after the run
    server_errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.answers.values())

    def classes(self) -> set[str]:
        return {klass for klass, _, _ in self.answers}

    @staticmethod
    def is_broken(key: tuple[str, str, str]) -> bool:
        klass, transport, answer = key
        allowed = ALLOWED_GRPC if transport == GRPC else ALLOWED_HTTP
        return answer not in (ALLOWED_VALID if klass == "valid" else allowed)

    def broken(self) -> list[tuple[str, str, str, int]]:
        """The answers no rule allows: (class, transport, answer, count)."""
        return [(*key, count) for key, count in sorted(self.answers.items()) if self.is_broken(key)]

    def violations(self) -> list[str]:
        out = [f"{k} over {t}: {a} x{c}" for k, t, a, c in self.broken()]
        if not self.alive:
            out.append("the server did not survive")
        if not self.stored_after:
            out.append("a valid request sent afterwards was not stored")
        peak, start = self.rss.get("peak_mb", 0.0), self.rss.get("start_mb", 0.0)
        if not start or peak > RSS_FACTOR * start:
            out.append(f"RSS peak {peak:.0f} MB over {RSS_FACTOR}x the start ({start:.0f} MB)")
        return out

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Rows per input class: inputs sent and the answers by transport."""
        by_class: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for (klass, transport, answer), count in self.answers.items():
            by_class[klass][f"{transport} {answer}"] += count
        rows = [
            [klass, sum(c.values()), ", ".join(f"{k} {v}" for k, v in sorted(c.items()))]
            for klass, c in sorted(by_class.items())
        ]
        return ["class", "inputs", "answers (transport answer count)"], rows


class Sender:
    """Sends :class:`Case` s over one gRPC channel and one HTTP connection pool."""

    def __init__(self, server: Server, concurrency: int) -> None:
        self._server = server
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ]
        self._channel = grpc.aio.insecure_channel(server.grpc, options=options)
        self._http = aiohttp.ClientSession(
            f"http://{server.http}",
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        )

    async def close(self) -> None:
        await self._http.close()
        await self._channel.close()

    async def send(self, case: Case) -> str:
        """The answer: a gRPC code name, an HTTP status, ``timeout`` or ``dropped: ...``."""
        if case.transport == GRPC:
            return await self._grpc(case)
        return await self._post(case)

    async def _grpc(self, case: Case) -> str:
        call = self._channel.unary_unary(EXPORT[case.signal])
        body, compression = case.body, None
        if case.gzip:
            body, compression = bytes(GRPC_BOMB_PAYLOAD), grpc.Compression.Gzip
        try:
            await call(body, timeout=TIMEOUT, compression=compression)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return "timeout"
            return str(error.code().name)
        return "OK"

    async def _post(self, case: Case) -> str:
        headers = {
            "Content-Type": "application/json"
            if case.transport == HTTP_JSON
            else "application/x-protobuf"
        }
        if case.gzip:
            headers["Content-Encoding"] = "gzip"
        try:
            async with self._http.post(
                f"/v1/{case.signal}", data=case.body, headers=headers
            ) as response:
                await response.read()
                return str(response.status)
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as exc:
            return f"dropped: {type(exc).__name__}"


def cases(n: int, seed: int, only: Sequence[str] = ()) -> Iterator[Case]:
    """``n`` inputs (see :func:`fuzz_inputs.plan`), reproducible from ``seed``."""
    rng = random.Random(seed)
    seeds = load_seeds()
    for name in plan(n, rng, only):
        yield CLASSES[name][0](rng, seeds)


async def campaign(
    server: Server, n: int, seed: int, concurrency: int, only: Sequence[str] = ()
) -> Report:
    """Send ``n`` inputs from ``concurrency`` senders at once; the answers, counted."""
    report = Report()
    sender = Sender(server, concurrency)
    todo = cases(n, seed, only)

    async def worker() -> None:
        for case in todo:  # one shared iterator: each case is sent once
            key = (case.klass, case.transport, await sender.send(case))
            report.answers[key] += 1
            if key not in report.examples and report.is_broken(key):
                report.examples[key] = case

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await sender.close()
    return report


async def still_stores(server: Server, session: str) -> bool:
    """A valid request sent now is acknowledged and lands in Postgres."""
    async with grpc.aio.insecure_channel(server.grpc) as channel:
        try:
            await channel.unary_unary(EXPORT["traces"])(chat(session, "still here"), timeout=30)
        except grpc.aio.AioRpcError:
            return False
    query = "SELECT count(*) FROM sessions WHERE id = %s"
    return postgres_count(server.dsn(), query, (session,)) == 1


def run(n: int, seed: int = 1, concurrency: int = 8, only: Sequence[str] = ()) -> Report:
    """A fresh ``tasktrace serve``, ``n`` inputs, then the checks after."""
    with tasktrace_server() as server:
        started = time.monotonic()
        with rss_sampler(server.proc.pid) as rss:
            report = asyncio.run(campaign(server, n, seed, concurrency, only))
        report.seconds = time.monotonic() - started
        report.rss = dict(rss)
        report.alive = server.proc.poll() is None
        report.stored_after = report.alive and asyncio.run(
            still_stores(server, f"fuzz-after-{seed}")
        )
        assert server.log_path is not None
        log = server.log_path.read_text(errors="replace").splitlines()
        report.server_errors = [line for line in log if not _ROUTINE.match(line)]
    return report


#: log lines that are no error: warnings (refusals under load are logged so)
_ROUTINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING) ")


def save_examples(report: Report) -> None:
    """Each input that broke a rule, as a file to replay, and the server's error lines."""
    folder = RESULTS / "fuzz-broken"
    if not report.examples and not report.server_errors:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for (klass, transport, answer), case in report.examples.items():
        name = "-".join(re.sub(r"\W+", "_", part) for part in (klass, transport, answer))
        (folder / f"{name}.{case.signal}.bin").write_bytes(case.body)
    (folder / "server-errors.log").write_text("\n".join(report.server_errors) + "\n")
    print(f"inputs that broke a rule, and the server's errors: {folder}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="inputs to send")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--only", default="", help="comma-separated input classes")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    report = run(args.n, args.seed, args.concurrency, only)
    header, rows = report.table()
    print_table(f"fuzz: {report.sent:,} inputs in {report.seconds:.0f} s", header, rows)
    rss = {k: round(v, 1) for k, v in report.rss.items()}
    print(
        f"serve RSS (MB): start {rss.get('start_mb')}, peak {rss.get('peak_mb')}, "
        f"end {rss.get('end_mb')}; alive {report.alive}; stores after {report.stored_after}"
    )
    violations = report.violations()
    write_result(
        "fuzz",
        {
            "n": args.n,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "seconds": round(report.seconds, 1),
            "rss_mb": rss,
            "alive": report.alive,
            "stored_after": report.stored_after,
            "classes": [dict(zip(header, row, strict=True)) for row in rows],
            "violations": violations,
        },
    )
    for line in violations:
        print(f"RULE BROKEN: {line}", file=sys.stderr)
    save_examples(report)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
