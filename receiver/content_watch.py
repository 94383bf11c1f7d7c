"""Sessions that send model calls but never any message text. Pure: ``now`` in.

The usual cause is content capture left off in the instrumentation, or (for
libraries that put content into log records) no log exporter. Spans and log
records travel separately, so a session is only reported once it has had
content-less model calls for ``grace`` seconds and no message since; each
session is reported once. At most ``max_sessions`` are remembered (the oldest go).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

#: what to turn on, named in the warning
CAPTURE_HINT = (
    "turn on message content capture in the instrumentation"
    " (opentelemetry-instrumentation-openai-v2:"
    " OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true,"
    " and a log exporter, since its content travels in log records;"
    " OpenInference: unset OPENINFERENCE_HIDE_INPUTS/OPENINFERENCE_HIDE_OUTPUTS;"
    " OpenLLMetry: TRACELOOP_TRACE_CONTENT=true)"
)


class ContentWatch:
    def __init__(self, *, grace: float = 10.0, max_sessions: int = 10_000) -> None:
        self.grace = grace
        self._max = max_sessions
        self._waiting: OrderedDict[str, float] = OrderedDict()  # session -> first seen
        self._reported: OrderedDict[str, None] = OrderedDict()
        self._with_content: OrderedDict[str, None] = OrderedDict()
        self.count = 0

    def observe(self, contentless: Iterable[str], with_messages: Iterable[str], now: float) -> None:
        """A batch was written: model calls without message text in ``contentless``
        sessions, messages with text in ``with_messages`` ones."""
        for sid in with_messages:
            self._waiting.pop(sid, None)
            _remember(self._with_content, sid, self._max)
        for sid in contentless:
            if sid in self._with_content or sid in self._reported or sid in self._waiting:
                continue
            self._waiting[sid] = now
            while len(self._waiting) > self._max:
                self._waiting.popitem(last=False)

    def due(self, now: float) -> list[str]:
        """Sessions to report now (each once)."""
        out = [sid for sid, seen in self._waiting.items() if now - seen >= self.grace]
        for sid in out:
            del self._waiting[sid]
            _remember(self._reported, sid, self._max)
        self.count += len(out)
        return out

    def reported(self) -> list[str]:
        """The sessions reported so far (the latest ``max_sessions``), oldest first."""
        return list(self._reported)


def _remember(seen: OrderedDict[str, None], sid: str, limit: int) -> None:
    seen[sid] = None
    seen.move_to_end(sid)
    while len(seen) > limit:
        seen.popitem(last=False)
