"""The processes the tests start: finding the PostgreSQL servers a test
started, to show none is left behind, and waiting for and stopping the peer
processes (collector, Jaeger, Phoenix), each in its own process group with its
log in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def postgres_pids(data_dir: Path) -> list[int]:
    """Live (not zombie) PostgreSQL servers of ``data_dir``: a ``postgres`` process
    with the directory in its command line, or the pid its ``postmaster.pid`` names."""
    wanted = str(data_dir.resolve())
    found: set[int] = set()
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if info["name"] != "postgres" or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(wanted in part for part in info["cmdline"] or ()):
            found.add(proc.pid)
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE:
            found.add(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return sorted(found)


def live_descendants(pid: int) -> list[int]:
    """Pids of the children (at any depth) of process ``pid`` that are not zombies."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return sorted(c.pid for c in children if is_live(c.pid))


def is_live(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie has finished)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


STOP_TIMEOUT = 10.0


def wait_until_ready(
    name: str,
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float,
    log_path: Path,
    error: type[Exception],
    interval: float = 0.1,
) -> None:
    """Returns once ``ready()``; raises ``error`` with the log's tail when the
    process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            state = (
                f"exited with {process.returncode}"
                if process.poll() is not None
                else f"not ready after {timeout:.0f}s"
            )
            raise error(f"{name} {state}; log tail:\n{tail}")
        time.sleep(interval)  # no event to await: poll its port or API, bounded above


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``process``, SIGKILL after ``STOP_TIMEOUT``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)
