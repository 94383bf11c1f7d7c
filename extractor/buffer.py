"""When to extract a session: the buffering decision and the retry backoff. Pure.

A session is extracted once ``max_turns`` new messages wait, once it has been
idle for ``idle_timeout`` since its *last* message arrived, or on demand.
Times are monotonic seconds supplied by the caller, so tests never sleep.
"""

from __future__ import annotations

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
