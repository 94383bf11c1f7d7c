"""A thread-safe LRU map bounded by its entries and by the total weight of their values.

The receiver's per-conversation caches (histories by text length, chain hashes
by message count) keep the newest conversations and forget the least recently
used when either bound is passed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    def __init__(self, weight: Callable[[V], int], *, max_entries: int, max_weight: int) -> None:
        self._weight = weight
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_weight(self) -> int:
        return self._total

    def get(self, key: K) -> V | None:
        """The value, now the most recently used; None when absent."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the most recently used, then evict the least recently
        used entries until both bounds hold (a value heavier than ``max_weight``
        is not kept)."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= self._weight(old)
            self._entries[key] = value
            self._total += self._weight(value)
            while self._entries and (
                len(self._entries) > self._max_entries or self._total > self._max_weight
            ):
                _, dropped = self._entries.popitem(last=False)
                self._total -= self._weight(dropped)
