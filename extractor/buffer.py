"""When to extract a session: the buffering decision and the retry backoff. Pure.

A session is extracted once ``max_turns`` new messages wait, once it has been
idle for ``idle_timeout`` since its *last* message arrived, or on demand.
Times are monotonic seconds supplied by the caller, so tests never sleep.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Container
from dataclasses import dataclass


@dataclass(slots=True)
class BufferState:
    pending: int = 0
    last_arrival: float = 0.0
    forced: bool = False  # a flush asked for it
    failures: int = 0
    retry_at: float = 0.0


def due_at(state: BufferState, *, max_turns: int, idle_timeout: float) -> float | None:
    """When the session should be extracted next; None when nothing waits."""
    if state.pending <= 0 and not state.forced:
        return None
    if state.failures:
        return state.retry_at
    if state.forced or state.pending >= max_turns:
        return 0.0
    return state.last_arrival + idle_timeout


def backoff(failures: int, *, initial: float, maximum: float) -> float:
    """Delay before retry number ``failures`` (1-based): doubling, capped."""
    return min(maximum, initial * (2 ** max(0, failures - 1)))


class DueQueue:
    """Every session with something to extract, earliest due first.

    A heap with lazy deletion: a session has at most one live entry (its
    earliest known due time); a later message that pushes its idle deadline
    back does not touch the heap, the entry is re-filed when it comes up. So
    notifying costs O(log n) and finding due sessions O(due · log n), whatever
    the number of open sessions. Pure: times are passed in.
    """

    def __init__(self, *, max_turns: int, idle_timeout: float) -> None:
        self._max_turns = max_turns
        self._idle = idle_timeout
        self.states: dict[str, BufferState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._queued: dict[str, float] = {}
        self._order = itertools.count()

    def state(self, session_id: str) -> BufferState:
        return self.states.setdefault(session_id, BufferState())

    def due(self, state: BufferState) -> float | None:
        return due_at(state, max_turns=self._max_turns, idle_timeout=self._idle)

    def schedule(self, session_id: str) -> None:
        """File ``session_id`` by its current due time, or forget it when
        nothing waits. Call after every change to its state."""
        state = self.states.get(session_id)
        when = None if state is None else self.due(state)
        if when is None:
            self.states.pop(session_id, None)
            self._queued.pop(session_id, None)
            return
        queued = self._queued.get(session_id)
        if queued is None or when < queued:
            heapq.heappush(self._heap, (when, next(self._order), session_id))
            self._queued[session_id] = when

    def pop_due(self, now: float, limit: int, busy: Container[str] = ()) -> list[str]:
        """Up to ``limit`` sessions due at ``now``, earliest first. Sessions in
        ``busy`` are passed over: ``schedule`` them again when they are done."""
        out: list[str] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            when, _, sid = heapq.heappop(self._heap)
            if self._queued.get(sid) != when:
                continue  # stale: a newer entry stands for it
            del self._queued[sid]
            if sid in busy:
                continue
            real = self.due(self.states[sid])
            if real is None:
                del self.states[sid]
            elif real > now:
                heapq.heappush(self._heap, (real, next(self._order), sid))
                self._queued[sid] = real
            else:
                out.append(sid)
        return out

    def next_due(self) -> float | None:
        """The earliest entry's time (maybe stale, so maybe early); None if empty."""
        return self._heap[0][0] if self._heap else None

    def lag(self, now: float, busy: Container[str] = ()) -> float:
        """Seconds the longest-overdue session not in ``busy`` has been due; 0 if
        none is. A session due at once (a flush, ``max_turns`` reached) is due
        since its last message; one reloaded at start without a time is not counted."""
        overdue = [0.0]
        for sid, state in self.states.items():
            when = self.due(state)
            if sid in busy or when is None or when > now:
                continue
            since = when or state.last_arrival
            if since:
                overdue.append(now - since)
        return max(overdue)

    def __len__(self) -> int:
        return len(self.states)
