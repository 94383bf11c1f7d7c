"""tasktrace behind a real OpenTelemetry Collector, with the documented configs run as
they are by the real binaries (only the ``${env:...}`` ports differ):

- ``docs/backends/collector.yaml``: agent -> collector -> tasktrace (and Jaeger as the
  usual backend), tasktrace's task spans -> collector -> Jaeger; run by Jaeger v2's own
  collector components and by ``otelcol-tasktrace``;
- ``docs/backends/loadbalancing*.yaml``: agent -> collector ``loadbalancing`` (by trace
  id, and by session attribute) -> three tasktrace instances on one PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tasktrace.server.pipeline import Service
from tests.support.collector import (
    DOCS,
    JAEGER,
    OTELCOL,
    GoTool,
    accepts_connections,
    running_collector,
    validate,
)
from tests.support.jaeger import Jaeger, poll, tags_of
from tests.support.otlp_traffic import receiver_counters, session_of
from tests.support.ports import free_port
from tests.support.service import running_service
from tests.support.tasks_compare import VARIANT, flushed_tasks, send_all
from tests.unit.dialect_helpers import CONVERSATIONS, FIXTURES, load_spans

pytestmark = [pytest.mark.collector, pytest.mark.jaeger]

INSTANCES = 3


def needs(tool: GoTool) -> pytest.MarkDecorator:
    missing = tool.missing()
    return pytest.mark.skipif(missing is not None, reason=missing or "")


@contextlib.contextmanager
def collector(tool: GoTool, config: Path, **endpoints: str) -> Iterator[str]:
    """Run ``tool`` with ``config``; yield the agent-facing OTLP gRPC endpoint."""
    agent = f"127.0.0.1:{free_port()}"
    env = {"COLLECTOR_OTLP_ENDPOINT": agent, **endpoints}
    with running_collector(tool, config, env, lambda: accepts_connections(agent)):
        yield agent


async def direct_tasks(pg_dsn: str, variant: str = VARIANT) -> dict[str, list[tuple[object, ...]]]:
    """The conversations sent straight to one tasktrace: what every layout must give."""
    async with running_service(pg_dsn) as service:
        await send_all(service.endpoints.grpc, variant=variant)
        return await flushed_tasks(service.endpoints.http)


@pytest.mark.parametrize(
    "tool",
    [
        pytest.param(JAEGER, marks=needs(JAEGER), id="jaeger"),
        pytest.param(OTELCOL, marks=needs(OTELCOL), id="otelcol"),
    ],
)
async def test_through_the_documented_collector_tasktrace_makes_the_same_tasks_as_direct(
    pg_dsn: str, jaeger: Jaeger, tool: GoTool
) -> None:
    expected = await direct_tasks(pg_dsn)
    tasks_in = f"127.0.0.1:{free_port()}"
    overrides = [f"exporters.otlp.endpoint={tasks_in}"]
    async with running_service(pg_dsn, overrides=overrides) as service:
        endpoints = {
            "COLLECTOR_TASKS_ENDPOINT": tasks_in,
            "TASKTRACE_ENDPOINT": service.endpoints.grpc,
            "BACKEND_ENDPOINT": jaeger.otlp_grpc,
        }
        with collector(tool, DOCS / "collector.yaml", **endpoints) as agent:
            await send_all(agent)
            got = await flushed_tasks(service.endpoints.http)
            # the task spans came back through the collector's second pipeline
            failed = await asyncio.to_thread(
                poll, lambda: jaeger.search("tasktrace", {"tasktrace.task.status": "failed"})
            )

    assert got == expected
    assert len(got) == len(CONVERSATIONS)
    assert any(t[2] == "failed" for t in got[session_of("tool-error")])
    # and the agent's own trace reached the backend through the first pipeline
    sent = load_spans(FIXTURES / VARIANT / "tool-error.pb")
    held = await asyncio.to_thread(poll, lambda: jaeger.trace(sent[0].trace_id))
    assert held and {s.span_id for s in sent if s.trace_id == sent[0].trace_id} <= {
        s["spanID"] for s in held["spans"]
    }
    assert any(
        tags_of(s).get("tasktrace.task.status") == "failed" for t in failed for s in t["spans"]
    )


@contextlib.asynccontextmanager
async def instances(pg_dsn: str, count: int) -> AsyncIterator[list[Service]]:
    """``count`` tasktrace instances sharing one PostgreSQL schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    async with contextlib.AsyncExitStack() as stack:
        services = [
            await stack.enter_async_context(
                running_service(pg_dsn, overrides=[f"exporters.postgres.schema={schema}"])
            )
            for _ in range(count)
        ]
        yield services


async def balanced_tasks(
    pg_dsn: str, config: Path, variant: str
) -> tuple[dict[str, list[tuple[object, ...]]], list[int]]:
    """Send every conversation through ``config``'s loadbalancing collector to
    ``INSTANCES`` instances; the tasks (flushed on the first) and spans per instance."""
    async with instances(pg_dsn, INSTANCES) as services:
        hostnames = ", ".join(s.endpoints.grpc for s in services)
        with collector(OTELCOL, config, TASKTRACE_INSTANCES=f"[{hostnames}]") as agent:
            await send_all(agent, variant=variant)
            got = await flushed_tasks(services[0].endpoints.http)
        spread = [receiver_counters(s).spans for s in services]
    return got, spread


#: routing by attribute reads the resource, scope and *first* span of each trace, so it
#: needs the session attribute on every span: OpenInference's spans carry ``session.id``
#: throughout; OpenAI v2's carry ``gen_ai.conversation.id`` on some spans only (traces
#: whose first span lacks it all share the key "" and so one instance).
ROUTINGS = [
    pytest.param("loadbalancing.yaml", VARIANT, id="by-trace-id"),
    pytest.param("loadbalancing-session.yaml", "openinference-genai", id="by-session-attribute"),
]


@needs(OTELCOL)
@pytest.mark.parametrize(("config", "variant"), ROUTINGS)
async def test_the_loadbalancing_collector_spreads_the_spans_over_the_instances(
    pg_dsn: str, config: str, variant: str
) -> None:
    sent = sum(len(load_spans(FIXTURES / variant / f"{c}.pb")) for c in CONVERSATIONS)
    _, spread = await balanced_tasks(pg_dsn, DOCS / config, variant)

    assert sum(spread) == sent
    assert sum(1 for n in spread if n) >= 2, spread


@needs(OTELCOL)
@pytest.mark.parametrize(("config", "variant"), ROUTINGS)
async def test_behind_the_loadbalancing_collector_three_instances_make_the_same_tasks_as_one(
    pg_dsn: str, config: str, variant: str
) -> None:
    expected = await direct_tasks(pg_dsn, variant)
    got, _ = await balanced_tasks(pg_dsn, DOCS / config, variant)

    assert got == expected


@pytest.mark.parametrize(
    ("tool", "config"),
    [
        pytest.param(JAEGER, "jaeger/config.yaml", marks=needs(JAEGER), id="jaeger-config"),
        pytest.param(JAEGER, "collector.yaml", marks=needs(JAEGER), id="jaeger-collector"),
        pytest.param(OTELCOL, "collector.yaml", marks=needs(OTELCOL), id="otelcol-collector"),
        pytest.param(OTELCOL, "loadbalancing.yaml", marks=needs(OTELCOL), id="lb-trace"),
        pytest.param(OTELCOL, "loadbalancing-session.yaml", marks=needs(OTELCOL), id="lb-session"),
    ],
)
def test_each_documented_config_passes_the_binarys_own_validation(
    tool: GoTool, config: str
) -> None:
    checked = validate(tool, DOCS / config, {})

    assert checked.returncode == 0, checked.stderr


@needs(JAEGER)
def test_jaeger_has_no_loadbalancing_exporter_so_scale_out_needs_the_other_collector() -> None:
    checked = validate(JAEGER, DOCS / "loadbalancing.yaml", {})

    assert checked.returncode != 0
    assert "loadbalancing" in checked.stderr
