"""A read-only sequence whose extensions share its items instead of copying them.

Every model call of a conversation re-sends the whole history, so each call's
message list (and the list of their chain hashes) is the previous one plus a
few items. Building each as a new tuple copies, and touches, every earlier
item: per call, work that grows with the history. A :class:`SharedPrefix` is a
view of the first ``len`` items of a list that is only ever appended to, so:

* extending a view costs what is new when the view is the list's newest, or
  when the items past it equal the new ones (they were appended by an earlier
  extension, e.g. a call's output that the next call re-sends as history);
  anything else copies (correct, just not cheap);
* two views over the same list agree on their common length by construction
  (:func:`known_common_prefix` is O(1)), where comparing them item by item
  would touch the whole history.

Items already in a view never change. Extensions may run on any thread.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar, overload

T = TypeVar("T")

_extending = threading.Lock()


class SharedPrefix(Sequence[T]):
    __slots__ = ("_items", "_size")

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] = list(items)
        self._size = len(self._items)

    @classmethod
    def _view(cls, items: list[T], size: int) -> SharedPrefix[T]:
        view: SharedPrefix[T] = cls.__new__(cls)
        view._items, view._size = items, size
        return view

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._size)
            return tuple(self._items[start:stop:step])
        size = self._size
        if index < 0:
            index += size
        if 0 <= index < size:
            return self._items[index]
        raise IndexError("SharedPrefix index out of range")

    def __iter__(self) -> Iterator[T]:
        return itertools.islice(self._items, self._size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(other) != self._size:
            return False
        shared = known_common_prefix(self, other)
        return all(a == b for a, b in zip(self[shared:], other[shared:], strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"SharedPrefix({list(self)!r})"

    def head(self, size: int) -> SharedPrefix[T]:
        """The first ``size`` items (a view: O(1))."""
        return SharedPrefix._view(self._items, max(0, min(size, self._size)))

    def extend(self, more: Sequence[T]) -> SharedPrefix[T]:
        """These items followed by ``more``, sharing these (see the module docstring)."""
        count = len(more)
        if not count:
            return self
        with _extending:
            items, size = self._items, self._size
            if len(items) == size:  # the newest view: the usual case
                items.extend(more)
            else:
                past = items[size : size + count]
                if past == list(more[: len(past)]):
                    items.extend(more[len(past) :])
                else:
                    items = items[:size]
                    items.extend(more)
            return SharedPrefix._view(items, size + count)


def known_common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many leading items ``a`` and ``b`` share without looking at them:
    views over the same list share their common length; anything else, nothing."""
    if isinstance(a, SharedPrefix) and isinstance(b, SharedPrefix) and a._items is b._items:
        return min(a._size, b._size)
    return 0


def concat(a: Sequence[T], b: Sequence[T]) -> Sequence[T]:
    """``a`` followed by ``b``: an extension when ``a`` is a :class:`SharedPrefix`."""
    if isinstance(a, SharedPrefix):
        return a.extend(b)
    return (*a, *b)
