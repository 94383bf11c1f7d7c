"""What ingest reads and writes: a session's transcript merge state, the
messages a merge added, and the write plan of one batch. Plain data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tasktrace.model import ChatMessage, Message

#: the chain hash before a transcript's first message
CHAIN_START = b"\x00" * 16


@dataclass(frozen=True, slots=True)
class NewMessage:
    seq: int
    chain: bytes
    message: ChatMessage
    #: index of the message within the call that carried it
    index: int


@dataclass(slots=True)
class TranscriptState:
    """What a session's merge needs to know: the chain hash of every stored
    message and the next free ``seq``."""

    next_seq: int = 0
    chains: dict[bytes, int] = field(default_factory=dict)
    tail: bytes = CHAIN_START
    #: how many writes the stored session has had (what a cache is checked by)
    version: int = 0
    #: the receiver's tool pairing not done yet, as it serialised it
    tool_state: str = ""

    def longest_known_prefix(self, chains: Sequence[bytes]) -> int:
        """Index of the last message whose chain is known, or -1."""
        for i in range(len(chains) - 1, -1, -1):
            if chains[i] in self.chains:
                return i
        return -1

    def commit(self, added: Sequence[NewMessage]) -> None:
        for item in added:
            self.chains[item.chain] = item.seq
            if item.seq >= self.next_seq:
                self.next_seq = item.seq + 1
                self.tail = item.chain


@dataclass(frozen=True, slots=True)
class StoredTrace:
    session_id: str
    keyed: bool


@dataclass(frozen=True, slots=True)
class SessionWrite:
    id: str
    service: str
    keyed: bool
    disabled: bool
    tail: bytes
    next_seq: int
    last_message_ns: int
    tool_state: str = ""


@dataclass(frozen=True, slots=True)
class TraceWrite:
    trace_id: str
    session_id: str
    keyed: bool
    root_span_id: str
    last_span_id: str
    service: str


@dataclass(slots=True)
class WritePlan:
    """Everything one batch changes, written in one transaction."""

    rehomes: list[tuple[str, str]] = field(default_factory=list)  # (from session, to session)
    sessions: dict[str, SessionWrite] = field(default_factory=dict)
    messages: list[tuple[Message, bytes]] = field(default_factory=list)
    error_flags: list[tuple[str, int]] = field(default_factory=list)  # (session, seq)
    traces: list[TraceWrite] = field(default_factory=list)
    #: sessions that got model calls without any message text
    contentless: set[str] = field(default_factory=set)
    #: what the plan assumed is stored: each session's version, each trace's
    #: session ('' = none); the write checks them under the sessions' locks
    bases: dict[str, int] = field(default_factory=dict)
    trace_bases: dict[str, str] = field(default_factory=dict)

    @property
    def touched_sessions(self) -> dict[str, int]:
        """Session id -> number of new messages."""
        counts: dict[str, int] = {sid: 0 for sid in self.sessions}
        for message, _ in self.messages:
            counts[message.session_id] = counts.get(message.session_id, 0) + 1
        return counts
