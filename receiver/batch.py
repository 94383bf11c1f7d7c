"""One received batch, read through the dialects: model calls, tool runs, traces. Pure."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasktrace.lru import BoundedLRU
from tasktrace.model import ChatMessage, LogRecord, Span, SpanContent, SpanRole, ToolRun
from tasktrace.receiver.dialects import dialect_for_log, dialect_for_span
from tasktrace.receiver.dialects.base import Dialect
from tasktrace.receiver.sessions import TraceFacts, trace_facts
from tasktrace.receiver.transcript import ChainCache
from tasktrace.redaction import Redaction, redact_content, redact_message

_log = logging.getLogger(__name__)

#: chain hashes of recent calls by conversation, so a call costs what is new in it
_CHAINS = ChainCache()
#: redacted messages by (redaction, message), for the same reason: each call repeats
#: the history before it. At most 20,000 messages and 64 MiB of their text.
_REDACTED: BoundedLRU[tuple[Redaction, ChatMessage], ChatMessage] = BoundedLRU(
    lambda m: 2 * len(m.content) + sum(len(c.arguments) for c in m.tool_calls),
    max_entries=20_000,
    max_weight=64 << 20,
)


@dataclass(frozen=True, slots=True)
class Call:
    """One model call: its history plus answer, and where it was seen."""

    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    content: SpanContent
    chains: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class ToolSpan:
    trace_id: str
    span_id: str
    start_ns: int
    run: ToolRun


@dataclass(slots=True)
class BatchContent:
    traces: dict[str, TraceFacts] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    tool_spans: list[ToolSpan] = field(default_factory=list)
    items: int = 0
    unclaimed: int = 0
    unreadable: int = 0
    #: content values that should hold JSON and do not (their spans are read all the same)
    unparsed: int = 0
    #: trace ids of model-call spans that carried no message text (content capture is off,
    #: or the content travels in log records, which then clear the session: ContentWatch)
    empty_calls: list[str] = field(default_factory=list)
    #: spans and log records by the name of the dialect that claimed them (``none``: no dialect)
    by_dialect: dict[str, int] = field(default_factory=dict)


def read_batch(
    spans: Sequence[Span],
    records: Sequence[LogRecord],
    extra_keys: Sequence[str] = (),
    redaction: Redaction | None = None,
) -> BatchContent:
    """Read every span and log record; model calls come out in conversation order.
    With ``redaction``, what the dialects read (messages, tool runs) is redacted
    before anything else sees it, transcript chains included."""
    out = BatchContent(traces=trace_facts([*spans, *records], extra_keys))
    out.items = len(spans) + len(records)
    llm_spans = _llm_span_ids(spans)
    for span in spans:
        content = _read_span(span, out)
        if content is None:
            continue
        if redaction is not None:
            content = _redacted(content, redaction)
        out.unparsed += content.unparsed
        if content.role is SpanRole.LLM and not _has_text(content):
            out.empty_calls.append(span.trace_id)
        if content.role is SpanRole.LLM and content.messages:
            if span.parent_span_id in llm_spans:
                continue  # a second view of the parent's call (e.g. two instrumentations nested)
            key = out.traces[span.trace_id].session_key or span.trace_id
            out.calls.append(
                _call(key, span.trace_id, span.span_id, span.start_ns, span.end_ns, content)
            )
        elif content.role is SpanRole.TOOL and content.tool_run is not None:
            out.tool_spans.append(
                ToolSpan(span.trace_id, span.span_id, span.start_ns, content.tool_run)
            )
    for (trace_id, span_id), group in _group_logs(records, out).items():
        if trace_id not in out.traces:  # no trace id: nothing to place the call in
            out.unreadable += len(group)
            continue
        dialect = dialect_for_log(group[0])
        assert dialect is not None
        try:
            content = dialect.read_logs(group)
        except Exception:  # a dialect bug must not lose the batch
            _log.exception("dialect %s failed on log records", dialect.name)
            out.unreadable += len(group)
            continue
        if content is None:
            continue
        if redaction is not None:
            content = _redacted(content, redaction)
        out.unparsed += content.unparsed
        if content.messages:
            times = [r.time_ns for r in group]
            key = out.traces[trace_id].session_key
            call = _call(key or trace_id, trace_id, span_id, min(times), max(times), content)
            out.calls.append(call)
    _in_conversation_order(out.calls)
    return out


def _redacted(content: SpanContent, redaction: Redaction) -> SpanContent:
    def chat(message: ChatMessage) -> ChatMessage:
        key = (redaction, message)
        done = _REDACTED.get(key)
        if done is None:
            done = redact_message(message, redaction)
            _REDACTED.put(key, done)
        return done

    return redact_content(content, redaction, chat)


def _has_text(content: SpanContent) -> bool:
    return any(m.content for m in content.messages)


def merge_batches(batches: Sequence[BatchContent]) -> BatchContent:
    """Several read batches as one, as if each batch's spans came after the
    previous one's: a trace's facts are combined (a later root or last span
    wins, as the store's upserts do) and model calls are put in conversation order."""
    out = BatchContent()
    for batch in batches:
        for trace_id, facts in batch.traces.items():
            known = out.traces.get(trace_id)
            out.traces[trace_id] = facts if known is None else _merge_facts(known, facts)
        out.calls.extend(batch.calls)
        out.tool_spans.extend(batch.tool_spans)
        out.items += batch.items
        out.unclaimed += batch.unclaimed
        out.unreadable += batch.unreadable
        out.unparsed += batch.unparsed
        out.empty_calls.extend(batch.empty_calls)
        for name, count in batch.by_dialect.items():
            out.by_dialect[name] = out.by_dialect.get(name, 0) + count
    _in_conversation_order(out.calls)
    return out


def _merge_facts(first: TraceFacts, then: TraceFacts) -> TraceFacts:
    starts = [t for t in (first.first_start_ns, then.first_start_ns) if t]
    return TraceFacts(
        trace_id=first.trace_id,
        session_key=first.session_key or then.session_key,
        service=first.service or then.service,
        disabled=first.disabled or then.disabled,
        root_span_id=then.root_span_id or first.root_span_id,
        last_span_id=then.last_span_id or first.last_span_id,
        last_end_ns=max(first.last_end_ns, then.last_end_ns),
        first_start_ns=min(starts, default=0),
    )


def _in_conversation_order(calls: list[Call]) -> None:
    # within a session, a later call always carries a longer history; clocks
    # (and log-record times) are less reliable than that
    calls.sort(key=lambda c: (len(c.content.messages) - c.content.output_count, c.end_ns))


def _call(
    key: str, trace_id: str, span_id: str, start: int, end: int, content: SpanContent
) -> Call:
    return Call(trace_id, span_id, start, end, content, _CHAINS.chains(key, content.messages))


def _read_span(span: Span, out: BatchContent) -> SpanContent | None:
    dialect = dialect_for_span(span)
    _count_dialect(out, dialect)
    if dialect is None:
        out.unclaimed += 1
        return None
    try:
        return dialect.read_span(span)
    except Exception:  # a dialect bug must not lose the batch
        _log.exception("dialect %s failed on span %s", dialect.name, span.name)
        out.unreadable += 1
        return None


def _llm_span_ids(spans: Sequence[Span]) -> set[str]:
    """Ids of spans some dialect reads as model calls (cheap: claims only, no content)."""
    ids: set[str] = set()
    for span in spans:
        dialect = dialect_for_span(span)
        if dialect is not None and _looks_like_llm(span):
            ids.add(span.span_id)
    return ids


def _looks_like_llm(span: Span) -> bool:
    op = span.attributes.get("gen_ai.operation.name")
    if op in ("chat", "text_completion", "generate_content", "responses"):
        return True
    return span.attributes.get("openinference.span.kind") == "LLM"


def _group_logs(
    records: Sequence[LogRecord], out: BatchContent
) -> dict[tuple[str, str], list[LogRecord]]:
    groups: dict[tuple[str, str], list[LogRecord]] = defaultdict(list)
    for record in records:
        dialect = dialect_for_log(record)
        _count_dialect(out, dialect)
        if dialect is None:
            out.unclaimed += 1
            continue
        groups[(record.trace_id, record.span_id)].append(record)
    return groups


def _count_dialect(out: BatchContent, dialect: Dialect | None) -> None:
    name = "none" if dialect is None else dialect.name
    out.by_dialect[name] = out.by_dialect.get(name, 0) + 1
