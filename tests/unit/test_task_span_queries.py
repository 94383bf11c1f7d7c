"""The TraceQL and Jaeger tag queries shipped in docs/grafana/ parse, and ask
only for names and attributes that task spans really carry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tasktrace.exporter.task_spans import RESOURCE, SERVICE_NAME, SPAN_NAME, task_attributes
from tests.support.query_builders import make_task

DOCS = Path(__file__).resolve().parents[2] / "docs" / "grafana"
QUERIES = json.loads((DOCS / "task-span-queries.json").read_text())
DASHBOARD = json.loads((DOCS / "tasktrace-dashboard.json").read_text())

SPAN_ATTRIBUTES = set(task_attributes(make_task(), sources=(), source_service="agent"))
RESOURCE_ATTRIBUTES = set(RESOURCE.attributes)
_VALUE = r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false'
_FIELD = r"name|status|(?:span|resource)\.[A-Za-z0-9_.]+"
_CONDITION = re.compile(rf"\s*({_FIELD})\s*(=~|!~|!=|>=|<=|=|>|<)\s*({_VALUE})\s*")


def traceql_fields(query: str) -> list[tuple[str, str, str]]:
    """``(field, operator, value)`` of a ``{ a && b ... }`` spanset filter;
    ValueError when the query is not one."""
    match = re.fullmatch(r"\s*\{(.*)\}\s*", query)
    if match is None:
        raise ValueError(f"not a spanset filter: {query}")
    out = []
    for part in re.split(r"&&|\|\|", match.group(1)):
        condition = _CONDITION.fullmatch(part)
        if condition is None:
            raise ValueError(f"cannot read condition {part!r} in {query}")
        out.append(condition.groups())
    return out


def check_traceql(query: str) -> None:
    for field, _, value in traceql_fields(query):
        if field == "name":
            assert json.loads(value) == SPAN_NAME
        elif field.startswith("span."):
            assert field.removeprefix("span.") in SPAN_ATTRIBUTES, field
        elif field.startswith("resource."):
            assert field.removeprefix("resource.") in RESOURCE_ATTRIBUTES, field


def dashboard_traceql() -> list[str]:
    return [
        t["query"]
        for p in DASHBOARD["panels"]
        for t in p.get("targets", [])
        if t.get("queryType") == "traceql"
    ]


@pytest.mark.parametrize("query", [q["query"] for q in QUERIES["traceql"]] + dashboard_traceql())
def test_each_traceql_query_filters_on_what_task_spans_carry(query: str) -> None:
    check_traceql(query)


@pytest.mark.parametrize("entry", QUERIES["jaeger"], ids=lambda e: e["title"])
def test_each_jaeger_tag_query_names_task_span_tags(entry: dict[str, Any]) -> None:
    assert entry["service"] == SERVICE_NAME
    assert entry["operation"] == SPAN_NAME
    pairs = entry["tags"].split()
    assert pairs
    for pair in pairs:  # Jaeger's search form takes logfmt: key=value separated by spaces
        key, sep, value = pair.partition("=")
        assert sep and value, pair
        assert key in SPAN_ATTRIBUTES, key


def test_the_checker_rejects_what_is_not_a_task_span_filter() -> None:
    with pytest.raises(ValueError):
        traceql_fields('name = "task"')
    with pytest.raises(ValueError):
        traceql_fields("{ span.tasktrace.task.status = failed }")
    with pytest.raises(AssertionError):
        check_traceql('{ span.tasktrace.task.colour = "red" }')
