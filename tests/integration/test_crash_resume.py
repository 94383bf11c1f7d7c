"""Extraction survives a crash: ``tasktrace serve`` is SIGKILLed with work under
way, started again on the same data directory, and finishes that work by
itself (no flush, no new data), making every task exactly once. A final
SIGTERM stops it cleanly, embedded PostgreSQL included.

Transcripts are committed before the OTLP ack and the cursor only moves in the
transaction that writes the tasks it produced, so whatever the kill interrupts
is either fully committed or still pending, and the restart's recovery picks
up the pending part.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from tasktrace.extractor.scheduler import BATCH_LIMIT
from tests.support.genai_chat import chat_request, numbered_turns
from tests.support.llm_stub import LLMStub, llm_overrides, running_stub
from tests.support.processes import postgres_pids
from tests.support.serve_process import (
    ServeProcess,
    postmaster_pid,
    running,
    start_serve,
    stop_leftover_postgres,
)
from tests.support.session_api import (
    caught_up,
    flush,
    post_traces,
    status,
    task_list,
    wait_for_status,
)

PER_BATCH = BATCH_LIMIT // 2  # turns (of two messages) in one extractor call
#: three extractor calls: two full, one not
TURNS = 2 * PER_BATCH + 11
QUIET = [
    "processors.tasktrace.buffer.idle_timeout=1h",
    "processors.tasktrace.buffer.max_turns=1000",
]


class Runs:
    """Starts ``tasktrace serve`` on one data directory; kills what is left at teardown.

    The directory is not under pytest's ``tmp_path``: every pytest session
    that starts (another developer's too) resets ``/tmp/pytest-of-<user>`` to
    mode 700, which locks out the embedded server's system user."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tasktrace-crash-"))
        self.data_dir = self.root / "pgdata"
        self.log = self.root / "serve.log"
        self.started: list[ServeProcess] = []

    async def start(self, overrides: Sequence[str]) -> ServeProcess:
        served = await start_serve(self.data_dir, self.log, overrides)
        self.started.append(served)
        return served

    async def close(self) -> None:
        for served in self.started:
            if served.process.returncode is None:
                await served.kill()
        stop_leftover_postgres(self.data_dir)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
async def runs() -> AsyncIterator[Runs]:
    runs = Runs()
    try:
        yield runs
    finally:
        await runs.close()


def api(served: ServeProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://{served.http}", timeout=30.0)


async def stop_cleanly(served: ServeProcess, data_dir: Path) -> None:
    """SIGTERM; the process exits 0 and takes its embedded PostgreSQL with it."""
    server = postmaster_pid(data_dir)
    assert server is not None and running(server)
    assert await served.terminate() == 0, served.log_tail()
    assert not running(server), "embedded PostgreSQL outlived tasktrace serve"
    assert postgres_pids(data_dir) == []
    assert not (data_dir / "postmaster.pid").exists()


async def test_a_kill_during_an_llm_call_is_resumed_from_the_cursor_without_duplicates(
    runs: Runs,
) -> None:
    """The window: inside an extractor call. The session has three batches; the
    LLM answers the first and holds the second, so the kill lands with batch
    one committed, batch two in flight (``in_process``, status shows it), and
    batch three pending. After the restart the recovery must ask about batch
    two again (the cursor did not move for it) and then batch three, and
    batch one's tasks must not be made again."""
    turns = numbered_turns(TURNS)
    users = [t.user for t in turns]
    async with running_stub(LLMStub(hold_from=1)) as stub:
        overrides = [
            *llm_overrides(stub.base_url),
            "processors.tasktrace.extractor.llm.timeout=60s",
            "processors.tasktrace.buffer.idle_timeout=1h",
            "processors.tasktrace.buffer.max_turns=16",
        ]
        first = await runs.start(overrides)
        async with api(first) as http:
            await post_traces(http, chat_request("long-1", turns))
            await stub.wait_for_calls(2)
            during = await status(http, "long-1")
        assert during == {
            "messages": 2 * TURNS, "processed": BATCH_LIMIT, "pending": 2 * TURNS - BATCH_LIMIT,
            "in_process": True, "last_error": "",
        }  # fmt: skip
        assert await first.kill() == -9

        stub.release()
        second = await runs.start(overrides)
        async with api(second) as http:
            done = await wait_for_status(http, "long-1", caught_up, timeout=20)
            tasks = await task_list(http, "long-1")
        await stop_cleanly(second, runs.data_dir)
    assert (done["processed"], done["pending"]) == (2 * TURNS, 0)
    one, two = users[:PER_BATCH], users[PER_BATCH : 2 * PER_BATCH]
    assert stub.calls == [one, two, two, users[2 * PER_BATCH :]]
    assert [t["order"] for t in tasks] == list(range(1, TURNS + 1))
    assert [t["description"] for t in tasks] == users


async def test_messages_acknowledged_before_a_kill_are_extracted_after_the_restart(
    runs: Runs,
) -> None:
    """The window: after the OTLP ack, before the idle timeout (an hour) fires.
    Three turns are already extracted (flushed), three more only stored, and a
    disabled session is stored too. The restart must extract the three stored
    turns by itself, next to the first three and not again, and move the
    disabled session's cursor without making tasks."""
    turns = numbered_turns(6)
    first = await runs.start(QUIET)
    async with api(first) as http:
        await post_traces(http, chat_request("half-1", turns[:3]))
        await flush(http, "half-1")
        await post_traces(http, chat_request("half-1", turns, first=3))
        await post_traces(http, chat_request("off-1", turns[:2], disabled=True))
        before = await status(http, "half-1")
    assert (before["processed"], before["pending"]) == (6, 6)
    assert await first.kill() == -9

    second = await runs.start(QUIET)
    async with api(second) as http:
        done = await wait_for_status(http, "half-1", caught_up, timeout=20)
        off = await wait_for_status(http, "off-1", caught_up, timeout=20)
        tasks = await task_list(http, "half-1")
        off_tasks = await task_list(http, "off-1")
    await stop_cleanly(second, runs.data_dir)
    assert (done["messages"], done["pending"]) == (12, 0)
    assert [(t["order"], t["description"]) for t in tasks] == [
        (i + 1, t.user) for i, t in enumerate(turns)
    ]
    assert (off["processed"], off_tasks) == (4, [])
