"""The dialect table: each instrumentation library's GenAI format, most specific first.

Adding a dialect is adding a module that defines ``DIALECT`` and naming it here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from tasktrace.model import LogRecord, Span
from tasktrace.receiver.dialects.base import Dialect

#: module names under this package, tried in order; the first that claims a span reads it
_MODULES: Sequence[str] = (
    "openinference",
    "agents_logfire",
    "genai_events",
    "genai",
)

DIALECTS: tuple[Dialect, ...] = tuple(
    importlib.import_module(f"{__name__}.{name}").DIALECT for name in _MODULES
)


def dialect_for_span(span: Span) -> Dialect | None:
    for dialect in DIALECTS:
        if dialect.claims_span(span):
            return dialect
    return None


def dialect_for_log(record: LogRecord) -> Dialect | None:
    for dialect in DIALECTS:
        if dialect.claims_log(record):
            return dialect
    return None


def by_name(name: str) -> Dialect:
    for dialect in DIALECTS:
        if dialect.name == name:
            return dialect
    raise KeyError(name)
