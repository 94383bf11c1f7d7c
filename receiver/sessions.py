"""Which session a trace belongs to, read from the attributes libraries use.

No GenAI-specific session id exists; libraries use these keys, in this
order (Langfuse checks a similar list). A key on any span of a trace applies
to the whole trace. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tasktrace.model import AttrValue, LogRecord, Span

SESSION_KEYS: tuple[str, ...] = (
    "gen_ai.conversation.id",
    "session.id",
    "langfuse.session.id",
    "traceloop.association.properties.session_id",
)

DISABLED_KEY = "tasktrace.disabled"


@dataclass(frozen=True, slots=True)
class TraceFacts:
    """What the spans of one trace in one batch say about the trace."""

    trace_id: str
    session_key: str = ""
    service: str = ""
    disabled: bool = False
    root_span_id: str = ""
    last_span_id: str = ""
    last_end_ns: int = 0
    first_start_ns: int = 0


def session_key_of(span: Span | LogRecord, keys: Sequence[str]) -> str:
    for key in keys:
        value = _text(span.attributes.get(key))
        if value:
            return value
    for key in keys:
        value = _text(span.resource.get(key))
        if value:
            return value
    return ""


def _text(value: AttrValue) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _truthy(value: AttrValue) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes")


@dataclass(slots=True)
class _Acc:
    key: str = ""
    service: str = ""
    disabled: bool = False
    root: str = ""
    last: str = ""
    end: int = -1
    start: int = 0


def trace_facts(
    items: Iterable[Span | LogRecord], extra_keys: Sequence[str] = ()
) -> dict[str, TraceFacts]:
    """Group a batch's spans (and log records) by trace and read each trace's
    session key, service name, opt-out flag, root span and latest span."""
    keys = (*SESSION_KEYS, *extra_keys)
    acc: dict[str, _Acc] = {}
    for span in items:
        if not span.trace_id:
            continue
        f = acc.setdefault(span.trace_id, _Acc())
        f.key = f.key or session_key_of(span, keys)
        f.service = f.service or _text(span.resource.get("service.name"))
        f.disabled = f.disabled or _truthy(span.attr(DISABLED_KEY))
        if not isinstance(span, Span):
            continue
        if not span.parent_span_id:
            f.root = span.span_id
        if span.end_ns > f.end:
            f.end, f.last = span.end_ns, span.span_id
        if span.start_ns and (not f.start or span.start_ns < f.start):
            f.start = span.start_ns
    return {
        trace_id: TraceFacts(
            trace_id=trace_id,
            session_key=f.key,
            service=f.service,
            disabled=f.disabled,
            root_span_id=f.root,
            last_span_id=f.last,
            last_end_ns=max(f.end, 0),
            first_start_ns=f.start,
        )
        for trace_id, f in acc.items()
    }


def is_opted_out(
    session_id: str, service: str, *, services: Sequence[str], patterns: Sequence[str]
) -> bool:
    """Config-level opt-out: a service name listed, or a session id matching a pattern."""
    if service and service in services:
        return True
    return any(re.fullmatch(p, session_id) for p in patterns)
