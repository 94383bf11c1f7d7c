"""``tasktrace serve --workers N``: N worker processes on the same ports and the same store.

Each worker is a whole ``tasktrace serve`` (receiver, extraction, query API) of
its own, started as a child process with ``--worker-id I``; the workers bind
the same gRPC and HTTP ports with ``SO_REUSEPORT``, so the kernel spreads the
connections over them. They share nothing but the database, exactly as N hosts
on one PostgreSQL do: the coordination is the store's (leases and the merge
lock), not this process's.

The parent starts no listener. Without a DSN it starts the embedded PostgreSQL
once, runs the migrations, and hands its URI to the workers as their DSN. It
then waits: SIGTERM or SIGINT is passed on to every worker, and it returns 0
once all have stopped; if a worker or the embedded PostgreSQL dies, it stops
the rest and returns 1, so that a process supervisor restarts the whole.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tasktrace.config import Config, split_endpoint
from tasktrace.exporter.postgres import migrate
from tasktrace.server.embedded import EmbeddedPostgres
from tasktrace.server.supervisor import process_exit

_log = logging.getLogger(__name__)

#: seconds the workers get to stop after SIGTERM before they are killed
STOP_TIMEOUT = 30.0


def fixed_ports_problem(config: Config) -> str | None:
    """Why ``config``'s listeners cannot be shared by workers (port 0 would give
    each worker a port of its own), or None."""
    protocols = config.receivers.otlp.protocols
    for name, listener in (("grpc", protocols.grpc), ("http", protocols.http)):
        if listener is not None and split_endpoint(listener.endpoint)[1] == 0:
            return (
                f"--workers needs a fixed {name} port"
                f" (receivers.otlp.protocols.{name}.endpoint is {listener.endpoint})"
            )
    return None


def worker_command(argv: Sequence[str], worker_id: int, dsn: str | None) -> list[str]:
    """The command line of worker ``worker_id``: the parent's own ``serve``
    arguments, plus the embedded store's URI as the DSN when the parent started one."""
    command = [sys.executable, "-m", "tasktrace.cli.entry", *argv, "--worker-id", str(worker_id)]
    if dsn:
        command += ["--set", f"exporters.postgres.dsn={dsn}"]
    return command


async def run_workers(config: Config, data_dir: Path, argv: Sequence[str]) -> int:
    """Run ``config.service.workers`` workers until SIGINT/SIGTERM (0) or until
    one of them, or the embedded store, dies (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    embedded: EmbeddedPostgres | None = None
    dsn = config.exporters.postgres.dsn
    if not dsn:
        embedded = EmbeddedPostgres(data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    workers: list[asyncio.subprocess.Process] = []
    try:
        await migrate(dsn, config.exporters.postgres.schema_name)
        for worker_id in range(config.service.workers):
            command = worker_command(argv, worker_id, dsn if embedded is not None else None)
            workers.append(await asyncio.create_subprocess_exec(*command))
        _log.info("started %d workers: pids %s", len(workers), [w.pid for w in workers])
        return await _wait(stop, workers, embedded)
    finally:
        await _stop_all(workers)
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _wait(
    stop: asyncio.Event,
    workers: Sequence[asyncio.subprocess.Process],
    embedded: EmbeddedPostgres | None,
) -> int:
    stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    watched = [stopped, *(asyncio.ensure_future(w.wait()) for w in workers)]
    pid = embedded.pid() if embedded is not None else None
    if pid is not None:
        watched.append(asyncio.ensure_future(process_exit(pid)))
    done, pending = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    if stopped in done:
        _log.info("stopping %d workers", len(workers))
        return 0
    gone = [w.pid for w in workers if w.returncode is not None]
    if gone:
        _log.error("worker(s) %s exited: stopping the others", gone)
    else:
        _log.error("the embedded PostgreSQL died: stopping the workers")
    return 1


async def _stop_all(workers: Sequence[asyncio.subprocess.Process]) -> None:
    """SIGTERM to every live worker, then wait; SIGKILL to those still running."""
    live = [w for w in workers if w.returncode is None]
    for worker in live:
        worker.send_signal(signal.SIGTERM)
    if not live:
        return
    _, late = await asyncio.wait(
        [asyncio.ensure_future(w.wait()) for w in live], timeout=STOP_TIMEOUT
    )
    for worker in live:
        if worker.returncode is None:
            _log.warning("worker %d did not stop in %.0f s: killing it", worker.pid, STOP_TIMEOUT)
            worker.kill()
            await worker.wait()
    for future in late:
        future.cancel()
