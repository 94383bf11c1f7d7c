"""Properties of each dialect's normalisation: a dialect reads what it can from
real spans and log records whose values were swapped for anything (wrong
types, invalid JSON, JSON of the wrong shape) and never raises; neither does
the batch reader, which accounts for every span and log record."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasktrace.model import AttrValue, LogRecord, Span
from tasktrace.receiver.batch import read_batch
from tasktrace.receiver.dialects import DIALECTS, dialect_for_log, dialect_for_span
from tasktrace.receiver.ingest import Ingestor
from tasktrace.receiver.otlp_decode import (
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_trace_request,
)
from tasktrace.receiver.service import has_valid_ids
from tasktrace.records import StoredTrace, WritePlan
from tests.support.properties import PROPERTY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
VARIANTS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "crosslib")


@cache
def telemetry(variant: str) -> tuple[list[Span], list[LogRecord]]:
    spans: list[Span] = []
    records: list[LogRecord] = []
    for path in sorted((FIXTURES / variant).glob("three-tools*.pb")):
        if path.name.endswith(".logs.pb"):
            records += iter_log_records(parse_logs_request(path.read_bytes()))
        elif "after-cut" not in path.name:
            spans += iter_spans(parse_trace_request(path.read_bytes()))
    return spans, records


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["role", "content", "parts", "type", "text", "name", "arguments",
                         "tool_calls", "id", "function", "message", "messages", "output"])
        | st.text(max_size=5),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


def bad_values(original: AttrValue) -> st.SearchStrategy[AttrValue]:
    """A value instead of ``original``: another type, JSON of another shape, or
    ``original``'s text cut or broken."""
    as_json = JSONISH.map(lambda v: json.dumps(v))
    text = original if isinstance(original, str) else json.dumps(str(original))
    broken = st.integers(0, len(text)).map(lambda cut: text[:cut])
    structured: st.SearchStrategy[Any] = JSONISH.filter(lambda v: not isinstance(v, float))
    return st.one_of(as_json, broken, structured, st.binary(max_size=8), st.just(None))


@st.composite
def mangled(draw: st.DrawFn, items: list[Any]) -> list[Any]:
    """``items`` (spans or log records) with some attribute values (and bodies) swapped."""
    out = []
    for item in items:
        attrs: dict[str, AttrValue] = dict(item.attributes)
        keys = draw(st.lists(st.sampled_from(sorted(attrs)), max_size=4)) if attrs else []
        for key in keys:
            attrs[key] = draw(bad_values(attrs[key]))
        changes: dict[str, Any] = {"attributes": attrs}
        if draw(st.integers(0, 9)) == 0:  # a trace id lost or cut (a bit flip on the wire)
            changes["trace_id"] = draw(st.sampled_from(["", item.trace_id[:6]]))
        if isinstance(item, LogRecord) and draw(st.booleans()):
            changes["body"] = draw(bad_values(item.body))
        out.append(dataclasses.replace(item, **changes))
    return out


@pytest.mark.parametrize("variant", VARIANTS)
@settings(PROPERTY, max_examples=6)  # 26 variants: the suite stays within seconds
@given(data=st.data())
def test_every_dialect_reads_mangled_real_telemetry_without_raising(
    variant: str, data: st.DataObject
) -> None:
    spans, records = telemetry(variant)
    spans = data.draw(mangled(spans))
    records = data.draw(mangled(records))
    for span in spans:
        dialect = dialect_for_span(span)
        if dialect is not None:
            dialect.read_span(span)
    claimed = [r for r in records if dialect_for_log(r) is not None]
    for dialect in DIALECTS:
        mine = [r for r in claimed if dialect.claims_log(r)]
        if mine:
            dialect.read_logs(mine)
    spans = [span for span in spans if has_valid_ids(span)]  # as the receiver does
    batch = read_batch(spans, records)
    assert batch.items == len(spans) + len(records)
    assert sum(batch.by_dialect.values()) == len(spans) + len(records)
    without_trace = sum(1 for r in records if not r.trace_id and dialect_for_log(r) is not None)
    assert batch.unreadable == without_trace  # a dialect that raised would be counted too
    plan = asyncio.run(Ingestor(NoStore()).ingest(batch))  # and ingest can plan it
    assert {t.trace_id for t in plan.traces} == set(batch.traces)


class NoStore:
    """A store that knows nothing and takes every write."""

    async def load_traces(self, trace_ids: Sequence[str]) -> dict[str, StoredTrace]:
        return {}

    async def find_tails(self, chains: Sequence[bytes]) -> dict[bytes, str]:
        return {}

    async def load_transcript(self, session_id: str) -> None:
        return None

    async def load_transcripts(self, session_ids: Sequence[str]) -> dict[str, Any]:
        return {}

    async def write(self, plan: WritePlan) -> None:
        return None
