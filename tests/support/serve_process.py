"""``tasktrace serve`` as a child process on 127.0.0.1, with its embedded
PostgreSQL in a data directory of the test's, for crash and restart tests.

Output goes to a log file (shown when start-up fails). Process liveness is
read from ``/proc``: a zombie counts as gone, since nothing may reap the
daemonised postgres once it exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tasktrace.server.embedded import EmbeddedPostgres
from tests.support.ports import free_port

TASKTRACE = Path(sys.executable).parent / "tasktrace"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    http: str  # host:port of OTLP/HTTP and the query API
    grpc: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def kill(self) -> int:
        """SIGKILL: no shutdown code runs. Returns the exit status (-9)."""
        self.process.send_signal(signal.SIGKILL)
        return await self.process.wait()

    async def terminate(self) -> int:
        """SIGTERM: a clean shutdown. Returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def start_serve(
    data_dir: Path | None,
    log: Path,
    overrides: Sequence[str] = (),
    env_extra: Mapping[str, str] | None = None,
    *,
    endpoints: tuple[str, str] | None = None,
) -> ServeProcess:
    """Start ``tasktrace serve --data-dir data_dir`` (no ``--data-dir`` when None:
    the default) and wait until its API answers. ``endpoints``: the (HTTP, gRPC)
    ``host:port`` to listen on, e.g. a killed process's; default: free ports."""
    http, grpc = endpoints or (f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
    args = ["serve", "--http-endpoint", http, "--grpc-endpoint", grpc]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    for item in overrides:
        args += ["--set", item]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKTRACE_", "OPENAI_"))}
    env.update(env_extra or {})
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(TASKTRACE), *args, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env
        )
    served = ServeProcess(process, http, grpc, log)
    await _wait_ready(served)
    return served


async def _wait_ready(served: ServeProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=f"http://{served.http}", timeout=2.0) as http:
        while True:
            assert served.process.returncode is None, f"serve exited:\n{served.log_tail()}"
            try:
                if (await http.get("/api/v1/sessions")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve not ready:\n{served.log_tail()}"
            await asyncio.sleep(0.05)


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid``: the embedded server's, while it runs."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_leftover_postgres(data_dir: Path, timeout: float = 10.0) -> None:
    """Stop an embedded server that a failed test left behind (teardown only):
    the usual way, else with a fast-shutdown signal to its postmaster."""
    pid = postmaster_pid(data_dir)
    if pid is None or not running(pid):
        return
    server = EmbeddedPostgres(data_dir)
    server.start()
    server.stop()
    if running(pid):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
