"""Waiting for and stopping the peer processes the tests start (collector,
Jaeger, Phoenix): each runs in its own process group with its log in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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
