"""``tasktrace serve --workers 2``: two worker processes on the same gRPC and
HTTP ports (SO_REUSEPORT) and one embedded PostgreSQL started by the parent.
Both workers answer, the data sent over gRPC is stored, and SIGTERM to the
parent stops the workers and the store, leaving no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.otlp_traffic import export_grpc, fixture, session_of
from tests.support.processes import is_live, live_descendants, postgres_pids
from tests.support.serve_process import TASKTRACE, start_serve, stop_leftover_postgres

CONVERSATIONS = ("three-tools", "tool-error")
#: connections tried before giving up on seeing both workers (the kernel
#: spreads connections over them by a hash of the client's port)
ATTEMPTS = 200
STOP_DEADLINE = 40.0


async def worker_pids(http: str) -> set[int]:
    """The pids that answer ``/healthz``, one new connection per request."""
    seen: set[int] = set()
    for _ in range(ATTEMPTS):
        async with httpx.AsyncClient(base_url=f"http://{http}", timeout=5.0) as client:
            body = (await client.get("/healthz")).json()
        assert body["status"] == "alive", body
        seen.add(int(body["pid"]))
        if len(seen) == 2:
            break
    return seen


async def test_two_workers_share_the_ports_and_stop_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    served = await start_serve(data_dir, tmp_path / "serve.log", ["service.workers=2"])
    try:
        pids = await worker_pids(served.http)
        assert len(pids) == 2, served.log_tail()
        assert pids <= set(live_descendants(served.pid))
        for conversation in CONVERSATIONS:  # each over a new channel: either worker
            assert (await export_grpc(served.grpc, fixture(conversation))).code.name == "OK"
        async with httpx.AsyncClient(base_url=f"http://{served.http}", timeout=5.0) as client:
            for conversation in CONVERSATIONS:
                path = f"/api/v1/sessions/{session_of(conversation)}/messages"
                answer = await client.get(path)
                assert answer.status_code == 200, answer.text
                assert answer.json()["items"], answer.text
        children = live_descendants(served.pid)

        served.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.wait_for(served.process.wait(), STOP_DEADLINE)

        output = served.log.read_text(errors="replace")
        assert code == 0, output
        assert time.monotonic() - started < STOP_DEADLINE
        assert [pid for pid in children if is_live(pid)] == []
        assert postgres_pids(data_dir) == []
        assert "Traceback" not in output, output
    finally:
        if served.process.returncode is None:
            await served.kill()
        stop_leftover_postgres(data_dir)


def test_workers_need_fixed_ports(tmp_path: Path) -> None:
    argv = [str(TASKTRACE), "serve", "--data-dir", str(tmp_path / "data"), "--workers", "2"]
    argv += ["--grpc-endpoint", "127.0.0.1:4", "--http-endpoint", "127.0.0.1:0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKTRACE_")}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "--workers needs a fixed http port" in result.stderr
