"""Properties of the transcript merge: re-sending a history stores nothing new,
a prefix then the whole history stores what the whole history alone does, and
the histories of one conversation, in any order and repeated, store each
message once, in conversation order."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from tasktrace.model import ChatMessage, Role, ToolCall
from tasktrace.receiver.transcript import ChainCache, TranscriptState, chain_hashes, merge
from tests.support.properties import PROPERTY

#: few distinct values, so that equal messages (and repeated turns) are common
MESSAGES = st.builds(
    ChatMessage,
    role=st.sampled_from(list(Role)),
    content=st.sampled_from(["", "hi", "yes", "  yes ", '{"a": 1}', '{ "a":1 }', "no"]),
    tool_calls=st.lists(
        st.builds(
            ToolCall,
            id=st.sampled_from(["1", "2"]),
            name=st.sampled_from(["get", "put"]),
            arguments=st.sampled_from(["{}", '{"x": 1}', '{ "x":1}']),
        ),
        max_size=2,
    ).map(tuple),
)
HISTORIES = st.lists(MESSAGES, max_size=12)


def stored(state: TranscriptState, *histories: Sequence[ChatMessage]) -> list[tuple[int, bytes]]:
    """Merge each history in turn; every message stored, as (seq, chain)."""
    out = []
    for history in histories:
        out += [(m.seq, m.chain) for m in merge(state, history)]
    return out


@PROPERTY
@given(HISTORIES)
def test_merging_the_same_history_again_stores_nothing_new(history: list[ChatMessage]) -> None:
    state = TranscriptState()
    merge(state, history)
    assert merge(state, history) == []


@PROPERTY
@given(HISTORIES, st.integers(0, 12))
def test_a_prefix_then_the_full_history_stores_what_the_full_history_does(
    history: list[ChatMessage], cut: int
) -> None:
    whole = stored(TranscriptState(), history)
    assert stored(TranscriptState(), history[:cut], history) == whole


@PROPERTY
@given(HISTORIES, st.data())
def test_the_histories_of_one_conversation_in_any_order_store_each_message_once_in_order(
    history: list[ChatMessage], data: st.DataObject
) -> None:
    # each model call re-sends the conversation so far: its histories are prefixes
    cuts = data.draw(st.lists(st.integers(0, len(history)), max_size=6))
    prefixes = [history[:cut] for cut in cuts] + [history]
    order = data.draw(st.permutations(prefixes))
    state = TranscriptState()
    added = stored(state, *order, *order)  # and every one delivered twice
    assert added == stored(TranscriptState(), history)
    assert [seq for seq, _ in added] == list(range(len(added)))
    assert len({chain for _, chain in added}) == len(added)
    assert state.next_seq == len(added)


@PROPERTY
@given(HISTORIES)
def test_each_stored_message_is_a_message_of_the_history_in_its_order(
    history: list[ChatMessage],
) -> None:
    added = merge(TranscriptState(), history)
    assert [m.index for m in added] == sorted(m.index for m in added)
    assert all(history[m.index] is m.message for m in added)


@PROPERTY
@given(st.lists(HISTORIES, min_size=1, max_size=5))
def test_the_chain_cache_gives_the_chains_computed_afresh(
    histories: list[list[ChatMessage]],
) -> None:
    cache = ChainCache(max_entries=2, max_messages=20)
    for history in histories:
        assert list(cache.chains("conversation", history)) == chain_hashes(history)
