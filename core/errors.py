"""Errors every component may raise or handle: a store that cannot take
data now (retryable: the sender resends) and one that never will (permanent)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store cannot take the batch now; the sender should retry."""


class StoreRejected(Exception):
    """The store refuses the batch's data (a value out of range, too large for an
    index): it never will take it, so the sender must not retry it."""


class StaleTranscript(Exception):
    """Another instance wrote one of the batch's sessions since this one read
    it: the write was not made; reload the sessions and plan the batch again."""

    def __init__(self, sessions: tuple[str, ...]) -> None:
        super().__init__(f"stale transcript of {', '.join(sessions) or 'a session'}")
        self.sessions = sessions
