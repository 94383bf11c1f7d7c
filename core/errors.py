"""Errors every component may raise or handle: a store that cannot take
data now (retryable: the sender resends) and one that never will (permanent)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store cannot take the batch now; the sender should retry."""


class StoreRejected(Exception):
    """The store refuses the batch's data (a value out of range, too large for an
    index): it never will take it, so the sender must not retry it."""
