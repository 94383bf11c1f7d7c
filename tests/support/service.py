"""Run the real tasktrace service in-process for integration tests: real
PostgreSQL (embedded, or ``TASKTRACE_TEST_POSTGRES_DSN``), real listeners on
127.0.0.1 port 0, one fresh Postgres schema per service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from tasktrace.config import Config, load_config
from tasktrace.server.pipeline import Service


def service_config(dsn: str, *, overrides: Sequence[str] = ()) -> Config:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = [
        "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
        "receivers.otlp.protocols.http.endpoint=127.0.0.1:0",
        f"exporters.postgres.dsn={dsn}",
        f"exporters.postgres.schema={schema}",
        "processors.tasktrace.extractor.type=heuristic",
    ]
    return load_config(None, overrides=[*base, *overrides], environ={})


@asynccontextmanager
async def running_service(
    dsn: str, *, overrides: Sequence[str] = (), data_dir: Path | None = None
) -> AsyncIterator[Service]:
    service = Service(service_config(dsn, overrides=overrides), data_dir or Path("/nonexistent"))
    async with service:
        yield service
