"""What every fault scenario needs: ``tasktrace serve`` processes in a
directory of the scenario's (killed or stopped at the end), reading ``/metrics``,
and waiting until every load session is extracted."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fault_audit import Stored, embedded_dsn, read_stored
from tests.support.sdk_load import Ledger
from tests.support.serve_process import ServeProcess, start_serve, stop_leftover_postgres

#: every scenario's serve: sessions are extracted soon after they go quiet, and
#: failed extractions are retried within a second
QUICK_EXTRACTION = (
    "processors.tasktrace.buffer.idle_timeout=0.5s",
    "processors.tasktrace.buffer.retry_backoff=0.2s",
    "processors.tasktrace.buffer.max_backoff=1s",
    "service.telemetry.logs.level=warning",
)
EXTRACTED_TIMEOUT = 60.0


@dataclass
class Runs:
    """``tasktrace serve`` runs on one data directory (outside pytest's
    ``tmp_path``: see ``tests/integration/test_crash_resume.py``)."""

    root: Path
    started: list[ServeProcess] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    async def serve(
        self, overrides: Sequence[str], *, endpoints: tuple[str, str] | None = None
    ) -> ServeProcess:
        served = await start_serve(
            self.data_dir,
            self.root / "serve.log",
            [*QUICK_EXTRACTION, *overrides],
            endpoints=endpoints,
        )
        self.started.append(served)
        return served

    def tracebacks(self) -> int:
        """Tracebacks the serve processes logged (an error nobody handled)."""
        log = self.root / "serve.log"
        return log.read_text(errors="replace").count("Traceback") if log.exists() else 0

    def dsn(self, external: str = "") -> str:
        """The store's DSN: ``external``, else the embedded server's."""
        return external or embedded_dsn(self.data_dir)


@asynccontextmanager
async def runs(prefix: str) -> AsyncIterator[Runs]:
    """A fresh :class:`Runs`; on exit every serve still running is stopped
    (SIGTERM), then killed, and an embedded server left behind is stopped."""
    found = Runs(Path(tempfile.mkdtemp(prefix=f"tasktrace-{prefix}")))
    try:
        yield found
    finally:
        for served in found.started:
            if served.process.returncode is None:
                try:
                    await served.terminate()
                except TimeoutError:
                    await served.kill()
        await asyncio.to_thread(stop_leftover_postgres, found.data_dir)
        shutil.rmtree(found.root, ignore_errors=True)


async def acked_more(ledger: Ledger, count: int, timeout: float = 60.0) -> None:
    """Returns once ``count`` more spans than now are acknowledged."""
    wanted = ledger.acked_count() + count
    if not await asyncio.to_thread(ledger.wait_acked, wanted, timeout):
        raise AssertionError(f"{ledger.acked_count()} spans acknowledged, not {wanted}")


#: ``/metrics`` samples keyed by name and sorted labels
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def metrics(served: ServeProcess) -> Samples:
    """``/metrics`` samples keyed by name and sorted labels."""
    async with httpx.AsyncClient(base_url=f"http://{served.http}", timeout=10.0) as http:
        text = (await http.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for (sample, keys), value in samples.items()
        if sample == name and set(labels.items()) <= set(keys)
    )


async def all_extracted(
    dsn: str, prefix: str, timeout: float = EXTRACTED_TIMEOUT, *, only: set[str] | None = None
) -> Stored:
    """The load's rows, once no session (of ``only``, when given) has messages
    past its cursor (polled: the store offers no event). Raises AssertionError
    after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        stored = await asyncio.to_thread(read_stored, dsn, prefix)
        behind = [s for s in stored.sessions if s[2] < s[1] and (only is None or s[0] in only)]
        if stored.sessions and not behind:
            return stored
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(behind)} sessions not extracted, e.g. {behind[:3]}")
        await asyncio.sleep(0.25)


async def behind(dsn: str, prefix: str) -> set[str]:
    """The sessions with messages past their cursor now."""
    stored = await asyncio.to_thread(read_stored, dsn, prefix)
    return {s[0] for s in stored.sessions if s[2] < s[1]}
