"""The fuzz campaign of ``bench/fuzz.py``, shortened for CI: 2,000 inputs of
every class over OTLP/gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON against a
real ``tasktrace serve`` (embedded PostgreSQL). The server must answer each
with a status the rules allow (no 5xx, no dropped connection, no time-out),
stay within 2x of its start RSS, and still store a valid request afterwards."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def fuzz() -> ModuleType:
    """``bench/fuzz.py`` as a module (the bench scripts import their siblings)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("fuzz")
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.timeout(600)
def test_two_thousand_malformed_inputs_of_every_class_break_no_rule(fuzz: ModuleType) -> None:
    report = fuzz.run(2000, seed=20261204, concurrency=8)
    assert report.sent == 2000
    assert report.classes() == set(fuzz.CLASSES)
    assert {t for _, t, _ in report.answers} == {"grpc", "http-pb", "http-json"}
    assert report.broken() == [], report.server_errors
    assert report.alive and report.stored_after
    assert report.rss["peak_mb"] <= fuzz.RSS_FACTOR * report.rss["start_mb"], report.rss
    assert report.violations() == []
    # what each limit answers: over the item limit and inflating past the size limit
    for klass in ("100k spans", "gzip bomb"):
        answers = {a for k, _, a in report.answers if k == klass}
        assert answers <= {"RESOURCE_EXHAUSTED", "413"}, (klass, answers)
