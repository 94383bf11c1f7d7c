"""What the receiver was sent, by protocol and dialect: the counts behind
``/metrics``. Pure: the receiver and its front ends record, readers take a copy.

A request's ``result`` is ``accepted`` or why it was refused: ``invalid`` (it
will never parse: 400 / INVALID_ARGUMENT), ``overloaded`` (the ingest queue is
full) or ``unavailable`` (the store is down; both 503 / UNAVAILABLE, retry).
Items (spans, log records) are counted by the dialect that read them
(``none`` when no dialect claims them, ``unknown`` when the request never
parsed) and are ``accepted``, ``refused`` (with their request) or ``dropped``
(a span without valid ids, reported back as ``partial_success``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from tasktrace.model import Signal

#: (protocol, signal, result) -> requests
RequestKey = tuple[str, Signal, str]
#: (protocol, signal, dialect, result) -> spans or log records
ItemKey = tuple[str, Signal, str, str]

UNKNOWN_DIALECT = "unknown"


@dataclass(slots=True)
class Traffic:
    requests: Counter[RequestKey] = field(default_factory=Counter)
    items: Counter[ItemKey] = field(default_factory=Counter)

    def record(
        self,
        protocol: str,
        signal: Signal,
        result: str,
        by_dialect: Mapping[str, int],
        dropped: int = 0,
    ) -> None:
        """One answered request; ``by_dialect`` counts its items (spans or records)."""
        self.requests[(protocol, signal, result)] += 1
        item_result = "accepted" if result == "accepted" else "refused"
        for dialect, count in by_dialect.items():
            if count:
                self.items[(protocol, signal, dialect, item_result)] += count
        if dropped:
            self.items[(protocol, signal, UNKNOWN_DIALECT, "dropped")] += dropped

    def copy(self) -> Traffic:
        return Traffic(Counter(self.requests), Counter(self.items))
