"""``/metrics``, ``/healthz`` and ``/readyz`` on a running tasktrace with a real
Postgres: after real fixtures are sent, the counts match what was sent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tasktrace.receiver.dialects import dialect_for_span
from tasktrace.receiver.otlp_decode import iter_spans, parse_trace_request
from tasktrace.server.metrics import reason_label
from tests.support.otlp_traffic import export_grpc, export_http, fixture, session_of
from tests.support.service import running_service
from tests.support.session_api import flush

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "tasktrace-dashboard.json"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def dialect_counts(data: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in iter_spans(parse_trace_request(data)):
        dialect = dialect_for_span(span)
        name = dialect.name if dialect else "none"
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_metrics_count_what_was_sent_by_protocol_dialect_and_status(pg_dsn: str) -> None:
    over_grpc, over_http = fixture("three-tools"), fixture("tool-error")
    async with running_service(pg_dsn) as service:
        ep = service.endpoints
        assert (await export_grpc(ep.grpc, over_grpc)).code.name == "OK"
        assert (await export_http(ep.http, over_http)).status_code == 200
        assert (await export_http(ep.http, b"\xff not protobuf")).status_code == 400
        assert (await export_http(ep.http, b"{}", content_type="text/plain")).status_code == 415
        async with httpx.AsyncClient(base_url=f"http://{ep.http}") as http:
            tasks: list[dict[str, Any]] = []
            for conversation in ("three-tools", "tool-error"):
                tasks += (await flush(http, session_of(conversation)))["tasks"]
            response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    got = scrape(response.text)

    requests = "tasktrace_receiver_requests_total"
    assert sample(got, requests, protocol="grpc", signal="traces", result="accepted") == 1
    assert sample(got, requests, protocol="http", signal="traces", result="accepted") == 1
    assert sample(got, requests, protocol="http", signal="traces", result="invalid") == 2
    for protocol, data in (("grpc", over_grpc), ("http", over_http)):
        expected = dialect_counts(data)
        assert expected, "the fixture holds spans"
        for dialect, count in expected.items():
            labels = {"protocol": protocol, "signal": "traces", "dialect": dialect}
            assert sample(got, "tasktrace_receiver_items_total", **labels, result="accepted") == (
                count
            )

    assert tasks, "the fixtures make tasks"
    by_status: dict[tuple[str, str], int] = {}
    for task in tasks:
        key = (task["status"], reason_label(task["status_reason"]))
        by_status[key] = by_status.get(key, 0) + 1
    for (status, reason), count in by_status.items():
        assert sample(got, "tasktrace_tasks", status=status, reason=reason) == count
    assert sum(v for (n, _), v in got.items() if n == "tasktrace_tasks") == len(tasks)
    assert sample(got, "tasktrace_extraction_runs_total") >= 2
    assert sample(got, "tasktrace_extraction_errors_total") == 0
    assert ("tasktrace_extraction_lag_seconds", ()) in got
    assert ("tasktrace_sessions_open", ()) in got


async def test_healthz_answers_and_readyz_needs_every_migration(pg_dsn: str) -> None:
    async with (
        running_service(pg_dsn) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert service._pool is not None
        async with service._pool.connection() as conn:
            await conn.execute("DELETE FROM schema_migrations WHERE version = 1")
        not_ready = await http.get("/readyz")
        assert (await http.get("/healthz")).status_code == 200
    assert not_ready.status_code == 503
    assert "migrations not applied: [1]" in not_ready.json()["reason"]


async def test_readyz_is_503_when_postgres_is_unreachable(pg_dsn: str) -> None:
    async with running_service(pg_dsn) as service:
        assert service._pool is not None
        await service._pool.close()
        async with httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http:
            answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("postgres:")


def promql_targets(dashboard: dict[str, Any]) -> list[str]:
    return [
        t["expr"]
        for p in dashboard["panels"]
        for t in p.get("targets", [])
        if t.get("datasource", {}).get("type") == "prometheus"
    ] + [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


async def test_the_grafana_dashboard_asks_only_for_metrics_and_labels_metrics_has(
    pg_dsn: str,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    async with running_service(pg_dsn) as service:
        ep = service.endpoints
        assert (await export_http(ep.http, fixture("tool-error"))).status_code == 200
        assert (await export_http(ep.http, b"\xff")).status_code == 400
        async with httpx.AsyncClient(base_url=f"http://{ep.http}") as http:
            await flush(http, session_of("tool-error"))
            text = (await http.get("/metrics")).text
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        labels.setdefault(family.name, set())
        if family.type == "counter":  # its samples are named ..._total
            labels.setdefault(family.name + "_total", set())
        for s in family.samples:
            labels.setdefault(s.name, set()).update(s.labels)
    exprs = promql_targets(dashboard)
    assert len(exprs) >= 10
    for expr in exprs:
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        names = re.findall(r"\btasktrace_[a-z_]+\b", expr)
        assert names, expr
        for name in names:
            assert name in labels, f"{name} is not in /metrics"
            used = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)\s*\"", expr)) - {"job"}
            grouped = re.findall(r"by \(([^)]*)\)", expr)
            used |= {g.strip() for group in grouped for g in group.split(",")}
            if labels[name]:  # a family with samples: every label asked for exists
                assert used <= labels[name], (expr, used - labels[name])
