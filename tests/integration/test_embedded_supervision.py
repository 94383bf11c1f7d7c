"""``tasktrace serve`` supervises its embedded PostgreSQL: when the server is
killed under load, it is started again, senders are told to retry meanwhile
(UNAVAILABLE, never UNKNOWN or a timeout), and requests succeed again with
nothing acknowledged lost. If it cannot be started again, serve exits non-zero
with a clear message."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.support.otlp_traffic import chat_request, export_grpc, transcript
from tests.support.serve_process import (
    ServeProcess,
    postmaster_pid,
    running,
    start_serve,
    stop_leftover_postgres,
)

DEADLINE = 60.0
SENDERS = 4


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    data_dir = tmp_path / "data"
    serve = await start_serve(data_dir, tmp_path / "serve.log")
    try:
        yield serve
    finally:
        if serve.process.returncode is None:
            await serve.kill()
        if not data_dir.exists() and (tmp_path / "moved").exists():
            (tmp_path / "moved").rename(data_dir)
        stop_leftover_postgres(data_dir)


async def store_state(served: ServeProcess) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=f"http://{served.http}", timeout=5.0) as http:
        answer = (await http.get("/api/v1/telemetry")).json()
    return dict(answer["store"])


async def test_a_killed_embedded_postgres_is_restarted_and_requests_succeed_again(
    served: ServeProcess, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    acked: list[str] = []
    codes: list[grpc.StatusCode] = []
    killed = asyncio.Event()
    ok_after_kill = [0]

    async def sender(i: int) -> None:
        n = 0
        deadline = time.monotonic() + DEADLINE
        while ok_after_kill[0] < 20 and time.monotonic() < deadline:
            session = f"s{i}-{n}"
            request = chat_request(session, f"hello {n}", trace_id=os.urandom(16))
            answer = await export_grpc(served.grpc, request.SerializeToString(), timeout=10.0)
            codes.append(answer.code)
            if answer.code is grpc.StatusCode.OK:
                acked.append(session)
                ok_after_kill[0] += killed.is_set()
            n += 1

    senders = [asyncio.create_task(sender(i)) for i in range(SENDERS)]
    while len(acked) < 10:
        await asyncio.sleep(0.05)
    before = postmaster_pid(data_dir)
    assert before is not None
    os.kill(before, signal.SIGKILL)
    killed.set()
    await asyncio.gather(*senders)

    assert ok_after_kill[0] >= 20, served.log_tail()
    after = postmaster_pid(data_dir)
    assert after is not None and after != before and running(after)
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert await store_state(served) == {"state": "ok", "restarts": 1}
    async with httpx.AsyncClient(base_url=f"http://{served.http}", timeout=5.0) as http:
        assert (await http.get("/readyz")).status_code == 200
    for session in acked:
        assert len(await transcript(served.http, session)) == 2
    assert "died: restarting it" in served.log.read_text()


async def test_serve_exits_non_zero_when_the_embedded_postgres_cannot_be_restarted(
    served: ServeProcess, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    pid = postmaster_pid(data_dir)
    assert pid is not None
    data_dir.rename(tmp_path / "moved")  # nothing left to start (first: no race with a restart)
    os.kill(pid, signal.SIGKILL)

    code = await asyncio.wait_for(served.process.wait(), DEADLINE)

    assert code == 1
    assert "could not be restarted" in served.log.read_text()
