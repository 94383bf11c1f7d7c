"""Transcript merge: every model call re-sends the whole history; store each message once.

A message's identity is its position-chained content hash: ``c_i = H(c_{i-1},
key(m_i))``, where ``key`` covers role, text, tool-call names and arguments,
but not ids or which span carried it (some libraries re-id tool calls in a
duplicate view of the same call). A model call's message list is merged by
finding the longest prefix whose chain hash the session already knows and
appending the rest. Re-delivery, out-of-order batches (a later call carries
all earlier history) and streaming duplicates all reduce to "prefix known".

Pure: :class:`TranscriptState` is plain data, :func:`merge` updates it in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasktrace.model import ChatMessage

_ZERO = b"\x00" * 16


def message_key(message: ChatMessage) -> bytes:
    """What makes two reports of a message the same message."""
    calls = [(c.name, _canonical(c.arguments)) for c in message.tool_calls]
    text = message.content.strip()
    if message.role.value == "tool":
        text = _canonical(text)
    raw = json.dumps([message.role.value, text, calls], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def chain_hashes(messages: Sequence[ChatMessage]) -> list[bytes]:
    out: list[bytes] = []
    prev = _ZERO
    for message in messages:
        prev = hashlib.blake2b(prev + message_key(message), digest_size=16).digest()
        out.append(prev)
    return out


def _canonical(text: str) -> str:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(
                json.loads(stripped), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
        except ValueError:
            return stripped
    return stripped


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
    tail: bytes = _ZERO

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


def merge(
    state: TranscriptState,
    messages: Sequence[ChatMessage],
    chains: Sequence[bytes] | None = None,
) -> list[NewMessage]:
    """Append to ``state`` the messages of one model call it does not have yet.

    Returns them with their seqs. The caller owns ``state``: if what is
    returned cannot be made durable, it must discard the state (and reload it).
    """
    if chains is None:
        chains = chain_hashes(messages)
    known = state.longest_known_prefix(chains)
    seq = state.next_seq
    out: list[NewMessage] = []
    for i in range(known + 1, len(messages)):
        if chains[i] in state.chains:
            continue
        out.append(NewMessage(seq=seq, chain=chains[i], message=messages[i], index=i))
        seq += 1
    state.commit(out)
    return out
