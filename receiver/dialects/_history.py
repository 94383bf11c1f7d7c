"""A bounded cache that reads a model call's input history in time proportional to
what is new.

Every model call of a conversation re-sends the whole history as one JSON
text (``gen_ai.input.messages``). When that text extends the text last seen for
the same conversation (same characters, then ``,`` and more items), only the
new items are parsed, and the tidied history is extended with
:func:`~._parts.tidy_extend`. The result is always the one a full
``tidy(read_messages(text))`` gives: whenever the shortcut cannot guarantee
that, the full pass runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tasktrace.lru import BoundedLRU
from tasktrace.model import ChatMessage, Role
from tasktrace.receiver.dialects._tidy import TidyState, tidy_extend, tidy_with_state
from tasktrace.sequences import SharedPrefix

#: most conversations, and characters of history text, kept
MAX_ENTRIES = 10_000
MAX_CHARS = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Entry:
    head: str  # the history text without its closing "]"
    system: str
    has_system: bool  # the history itself holds a system message
    tidied: SharedPrefix[ChatMessage]
    state: TidyState


Reader = Callable[[str], list[ChatMessage]]


class HistoryCache:
    """Tidied histories by conversation; thread-safe, LRU, bounded by entries and characters."""

    def __init__(
        self, read: Reader, *, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS
    ) -> None:
        self._read = read
        self._entries: BoundedLRU[str, _Entry] = BoundedLRU(
            lambda entry: len(entry.head), max_entries=max_entries, max_weight=max_chars
        )

    def tidied(self, key: str, text: str, system: str) -> Sequence[ChatMessage] | None:
        """``tidy`` of the messages of ``text`` (system instructions first unless
        it holds a system message); None when ``text`` holds no message."""
        entry = self._entries.get(key)
        if entry is not None and entry.system == system:
            if len(text) == len(entry.head) + 1 and text.startswith(entry.head) and text[-1] == "]":
                return entry.tidied
            extended = self._extend(entry, text)
            if extended is not None:
                self._entries.put(key, extended)
                return extended.tidied
        return self._full(key, text, system)

    def _extend(self, entry: _Entry, text: str) -> _Entry | None:
        cut = len(entry.head)
        if len(text) <= cut + 1 or text[cut] != "," or not text.startswith(entry.head):
            return None
        more = self._read("[" + text[cut + 1 :])
        if not more:  # also "[a,]": the full text would not parse
            return None
        added_system = any(m.role is Role.SYSTEM for m in more)
        if added_system and entry.system and not entry.has_system:
            return None  # the instructions would no longer be put first
        extended = tidy_extend(entry.tidied, entry.state, more)
        if extended is None:
            return None
        tidied, state = extended
        return _Entry(_head(text), entry.system, entry.has_system or added_system, tidied, state)

    def _full(self, key: str, text: str, system: str) -> Sequence[ChatMessage] | None:
        messages = self._read(text)
        if not messages:
            return None
        has_system = any(m.role is Role.SYSTEM for m in messages)
        history: Sequence[ChatMessage] = messages
        if system and not has_system:
            history = [ChatMessage(Role.SYSTEM, content=system), *messages]
        tidied, state = tidy_with_state(history)
        if state is None or not text.endswith("]"):
            return tidied
        shared = SharedPrefix(tidied)
        self._entries.put(key, _Entry(_head(text), system, has_system, shared, state))
        return shared


def _head(text: str) -> str:
    return text[:-1]
