"""Supervision of the embedded PostgreSQL under ``tasktrace serve``: its death
is noticed at once (a pidfd turns readable when the postmaster exits), it is
started again, and the service is told the new URI. If it cannot be started
after a few tries, the state is ``failed`` and :meth:`StoreSupervisor.wait_failed`
returns, so that the CLI exits non-zero and a process supervisor restarts us.

:attr:`StoreSupervisor.state` (ok / restarting / failed) is what a readiness
check reads.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

from tasktrace.server.embedded import process_alive

_log = logging.getLogger(__name__)

#: restart tries after a death, and the first wait between them (doubling)
RESTART_ATTEMPTS = 4
RESTART_BACKOFF = 0.5


class StoreState(StrEnum):
    OK = "ok"
    RESTARTING = "restarting"
    FAILED = "failed"


class Restartable(Protocol):
    """What is supervised (:class:`~tasktrace.server.embedded.EmbeddedPostgres`); both blocking."""

    def pid(self) -> int | None: ...

    def restart(self) -> str: ...


class StoreSupervisor:
    """Watches ``server`` from :meth:`start` to :meth:`stop`; after a restart,
    awaits ``on_restart(uri)`` (to point the pool at it) before the state is ok again."""

    def __init__(
        self,
        server: Restartable,
        on_restart: Callable[[str], Awaitable[None]],
        *,
        attempts: int = RESTART_ATTEMPTS,
        backoff: float = RESTART_BACKOFF,
    ) -> None:
        self._server = server
        self._on_restart = on_restart
        self._attempts = attempts
        self._backoff = backoff
        self.state = StoreState.OK
        self.error = ""
        self.restarts = 0
        self._failed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop watching (before the server is stopped on purpose). Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait_failed(self) -> str:
        """Returns (the reason) once the server is dead for good."""
        await self._failed.wait()
        return self.error

    async def _watch(self) -> None:
        while True:
            pid = self._server.pid()
            if pid is None:
                return
            await process_exit(pid)
            self.state = StoreState.RESTARTING
            _log.error("embedded PostgreSQL (pid %d) died: restarting it", pid)
            if not await self._restart():
                self.state = StoreState.FAILED
                _log.error("embedded PostgreSQL could not be restarted: %s", self.error)
                self._failed.set()
                return
            self.restarts += 1
            self.state = StoreState.OK

    async def _restart(self) -> bool:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                uri = await asyncio.to_thread(self._server.restart)
                await self._on_restart(uri)
                return True
            except Exception as exc:  # any failure to start counts as a failed try
                self.error = str(exc) or type(exc).__name__
                _log.warning("restart %d/%d failed: %s", attempt, self._attempts, self.error)
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return False


async def process_exit(pid: int, poll: float = 0.5) -> None:
    """Returns once process ``pid`` (not necessarily our child) has exited:
    on a pidfd (Linux), else by polling every ``poll`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        while process_alive(pid):
            await asyncio.sleep(poll)
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
