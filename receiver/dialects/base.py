"""The contract of a dialect: one instrumentation library's GenAI format.

A dialect is a module with a module-level object satisfying :class:`Dialect`,
registered in :mod:`tasktrace.receiver.dialects`. It is pure: it takes decoded
spans or log records and returns :class:`~tasktrace.model.SpanContent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tasktrace.model import LogRecord, Span, SpanContent


class Dialect(Protocol):
    #: short stable name, used in logs, counters and ``--dialect``
    name: str

    def claims_span(self, span: Span) -> bool:
        """True when this dialect knows how to read ``span``. Cheap: looks at
        the scope name and a few attribute keys, never parses content."""
        ...

    def read_span(self, span: Span) -> SpanContent | None:
        """The content of a claimed span, or None when it carries nothing useful.

        Never raises on bad values inside the span (invalid JSON, wrong types):
        reads what it can.
        """
        ...

    def claims_log(self, record: LogRecord) -> bool:
        """True when this dialect reads ``record`` (content carried in logs)."""
        ...

    def read_logs(self, records: Sequence[LogRecord]) -> SpanContent | None:
        """The content of the claimed log records of *one* span (same trace and
        span id), in the order they were emitted."""
        ...
