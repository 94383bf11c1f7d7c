"""Faults under sustained load from the real OTLP SDK exporters (gRPC and
HTTP/protobuf, ``BatchSpanProcessor``), against a real ``tasktrace serve``
process. In every case: each span an exporter saw acknowledged is stored, no
message is stored twice, and every session is extracted after recovery.

The scenarios live in ``tests/support/fault_scenarios.py`` (``bench/faults.py``
prints their figures with longer faults); each test here runs one, well under a
minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.external_pg import Cluster, PostgresMissing, debian_cluster
from tests.support.fault_audit import Figures
from tests.support.fault_scenarios import backend_down, llm_faults, serve_killed, store_restarted

pytestmark = pytest.mark.faults


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        with debian_cluster() as running:
            yield running
    except PostgresMissing as error:
        pytest.fail(str(error), pytrace=False)


def assert_all_resent(figures: Figures) -> None:
    """The spans made while the fault lasted were held by the SDK and resent."""
    acked, made = map(int, str(figures.extra["resent"]).split("/"))
    assert acked == made > 0, figures.extra


def assert_nothing_acknowledged_lost(figures: Figures) -> None:
    assert figures.acked > 0
    assert (figures.present, figures.duplicates) == (figures.acked, 0), figures
    assert figures.sessions > 0 and figures.unextracted == 0, figures
    assert figures.extra["tracebacks"] == 0, "serve logged an error nobody handled"


async def test_a_killed_serve_restarted_on_its_data_dir_keeps_every_acknowledged_span() -> None:
    figures = await serve_killed()
    assert figures.extra["exit"] == -9
    assert_all_resent(figures)
    assert_nothing_acknowledged_lost(figures)
    assert figures.acked >= 200


async def test_a_killed_serve_restarted_on_a_dsn_keeps_every_acknowledged_span(
    cluster: Cluster,
) -> None:
    figures = await serve_killed(cluster)
    assert figures.extra["exit"] == -9
    assert_all_resent(figures)
    assert_nothing_acknowledged_lost(figures)
    assert figures.acked >= 200


async def test_a_postgres_restart_is_answered_unavailable_and_recovered_without_a_restart(
    cluster: Cluster,
) -> None:
    """The store stops for 5 s under load: the receiver answers UNAVAILABLE, the
    SDK exporters resend after the RetryInfo delay, and the same serve process
    stores them once the store is back."""
    figures = await store_restarted(cluster, down_seconds=5.0)
    over_grpc, over_http = map(int, str(figures.extra["unavailable"]).split("/"))
    assert over_grpc > 0 and over_http > 0, figures.extra
    assert figures.extra["recovery_s"] < 20
    assert_all_resent(figures)
    assert_nothing_acknowledged_lost(figures)


async def test_an_llm_down_then_garbage_then_slow_is_retried_until_every_session_is_extracted() -> (
    None
):
    """Each phase makes extractions fail (and they are retried with backoff,
    no heuristic fallback); once the endpoint answers, every session is
    extracted and every user message has exactly one task."""
    figures = await llm_faults(phase_seconds=4.0)
    down, garbage, slow = map(int, str(figures.extra["errors"]).split("/"))
    assert down > 0 and garbage > 0 and slow > 0, figures.extra
    assert figures.extra["calls"]["garbage"] > 0 and figures.extra["calls"]["slow"] > 0
    assert_nothing_acknowledged_lost(figures)
    assert figures.tasks == figures.user_messages and figures.duplicate_tasks == 0


async def test_a_task_span_backend_down_keeps_the_queue_bounded_and_every_task_in_postgres() -> (
    None
):
    """The backend is gone for 10 s of load with a 100-span queue: the queue
    stays within its bound (the batch in flight included) and drops the rest, every
    task is in Postgres, and once the backend is back the queued spans arrive,
    each once."""
    figures = await backend_down(down_seconds=10.0, queue_size=100)
    extra = figures.extra
    assert extra["dropped"] > 0, "the outage should have filled the queue"
    assert extra["queue_max"] <= 100
    assert extra["after_return"] > 0 and extra["failed"] == 0
    assert extra["exported"] == extra["arrived"] and extra["unknown_tasks"] == 0
    assert_nothing_acknowledged_lost(figures)
    assert figures.tasks == figures.user_messages and figures.duplicate_tasks == 0
