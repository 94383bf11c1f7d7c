"""Transcript merge: every model call re-sends the whole history; store each message once.

A message's identity is its position-chained content hash: ``c_i = H(c_{i-1},
key(m_i))``, where ``key`` covers role, text (not for an assistant message
that calls tools), tool-call names and arguments, but not ids or which span
carried it (some libraries re-id tool calls in a duplicate view of the same
call). A model call's message list is merged by
finding the longest prefix whose chain hash the session already knows and
appending the rest. Re-delivery, out-of-order batches (a later call carries
all earlier history) and streaming duplicates all reduce to "prefix known".

Pure: :class:`TranscriptState` is plain data, :func:`merge` updates it in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from tasktrace.lru import BoundedLRU
from tasktrace.model import ChatMessage
from tasktrace.receiver.dialects._common import dumps_canonical, dumps_compact
from tasktrace.records import CHAIN_START, NewMessage, TranscriptState
from tasktrace.sequences import SharedPrefix, known_common_prefix


def message_key(message: ChatMessage) -> bytes:
    """What makes two reports of a message the same message.

    An assistant message that calls tools is known by its calls alone: some
    libraries drop the text that came with the calls when the history is sent
    again (openai-v2 with the event-style util-genai 0.4), and the same
    message must not be stored twice."""
    calls = [(c.name, _canonical(c.arguments)) for c in message.tool_calls]
    text = "" if calls and message.role.value == "assistant" else message.content.strip()
    if message.role.value == "tool":
        text = _canonical(text)
    raw = dumps_compact([message.role.value, text, calls])
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def chain_hashes(messages: Sequence[ChatMessage], start: bytes = CHAIN_START) -> list[bytes]:
    """The chain hash of each message; ``start`` is the chain before the first."""
    out: list[bytes] = []
    prev = start
    for message in messages:
        prev = hashlib.blake2b(prev + message_key(message), digest_size=16).digest()
        out.append(prev)
    return out


def window_chains(
    state: TranscriptState, messages: Sequence[ChatMessage], start: int
) -> list[bytes]:
    """The chains of a history that lost its first ``start`` messages (a library
    dropped them to an attribute limit): continued from the chain of the stored
    message at seq ``start - 1``, since a session stores its history once, in
    order. Chained from zero when the session has no such message."""
    before = next((chain for chain, seq in state.chains.items() if seq == start - 1), CHAIN_START)
    return chain_hashes(messages, before)


class ChainCache:
    """:func:`chain_hashes` of the message lists of one conversation, each computed
    only past the prefix it shares with the list before (a model call re-sends
    the history). Thread-safe, LRU, bounded by conversations and messages.

    The chains come back as a :class:`~tasktrace.sequences.SharedPrefix` extending
    the previous list's, and a message list that extends the previous one
    (the history caches build them so) is matched without looking at the shared
    part: per call, the work is what is new."""

    def __init__(self, *, max_entries: int = 10_000, max_messages: int = 500_000) -> None:
        self._entries: BoundedLRU[str, tuple[Sequence[ChatMessage], SharedPrefix[bytes]]] = (
            BoundedLRU(
                lambda entry: len(entry[0]), max_entries=max_entries, max_weight=max_messages
            )
        )

    def chains(self, key: str, messages: Sequence[ChatMessage]) -> Sequence[bytes]:
        entry = self._entries.get(key)
        head: SharedPrefix[bytes] = SharedPrefix()
        if entry is not None:
            head = entry[1].head(_common_prefix(entry[0], messages))
        start = head[-1] if head else CHAIN_START
        chains = head.extend(chain_hashes(messages[len(head) :], start))
        self._entries.put(key, (messages, chains))
        return chains


def _common_prefix(old: Sequence[ChatMessage], new: Sequence[ChatMessage]) -> int:
    """Length of the longest common prefix: what the two share by construction,
    then by comparison (tuple comparison runs in C and short-cuts on identical items)."""
    known = known_common_prefix(old, new)
    size = min(len(old), len(new))
    if known == size:
        return size
    rest_old, rest_new = tuple(old[known:size]), tuple(new[known:size])
    if rest_old == rest_new:
        return size
    low, high = 0, len(rest_old) - 1  # rest_old[:low] == rest_new[:low]; [:high + 1] differs
    while low < high:
        mid = (low + high + 1) // 2
        if rest_old[:mid] == rest_new[:mid]:
            low = mid
        else:
            high = mid - 1
    return known + low


def _canonical(text: str) -> str:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return dumps_canonical(json.loads(stripped))
        except ValueError:
            return stripped
    return stripped


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
