"""SharedPrefix: extensions share items and never change a view; the chain cache
built on it gives the chains a full computation gives."""

from __future__ import annotations

import random

import pytest

from tasktrace.model import ChatMessage, Role
from tasktrace.receiver.transcript import ChainCache, chain_hashes
from tasktrace.sequences import SharedPrefix, concat, known_common_prefix


def test_a_view_reads_like_the_tuple_of_its_items() -> None:
    view = SharedPrefix([1, 2, 3])

    assert len(view) == 3
    assert view == (1, 2, 3)
    assert (1, 2, 3) == view  # noqa: SIM300 (the tuple on the left is the point)
    assert list(view) == [1, 2, 3]
    assert (view[0], view[-1], view[1:]) == (1, 3, (2, 3))
    with pytest.raises(IndexError):
        view[3]
    assert hash(view) == hash((1, 2, 3))


def test_extending_the_newest_view_appends_in_place_and_older_views_do_not_change() -> None:
    first = SharedPrefix([1, 2])
    second = first.extend([3, 4])
    third = second.extend([5])

    assert (first, second, third) == ((1, 2), (1, 2, 3, 4), (1, 2, 3, 4, 5))
    assert known_common_prefix(first, third) == 2
    assert known_common_prefix(second, third) == 4


def test_extending_an_older_view_differently_forks_a_copy() -> None:
    base = SharedPrefix([1, 2])
    newer = base.extend([3])
    fork = base.extend([9])

    assert (newer, fork) == ((1, 2, 3), (1, 2, 9))
    assert known_common_prefix(newer, fork) == 0  # told nothing: compared item by item
    assert newer.extend([4]) == (1, 2, 3, 4)


def test_extending_with_what_an_older_extension_appended_shares_it() -> None:
    history = SharedPrefix(["a", "b"])
    with_output = history.extend(["answer"])  # a call's history plus its output
    next_history = history.extend(["answer", "ask"])  # the next call re-sends the output

    assert next_history == ("a", "b", "answer", "ask")
    assert known_common_prefix(with_output, next_history) == 3


def test_head_is_a_view_of_the_first_items() -> None:
    view = SharedPrefix([1, 2, 3])

    assert view.head(2) == (1, 2)
    assert view.head(10) == (1, 2, 3)
    assert view.head(2).extend([7]) == (1, 2, 7)
    assert view == (1, 2, 3)


def test_concat_extends_a_view_and_joins_anything_else() -> None:
    assert concat((1, 2), [3]) == (1, 2, 3)
    joined = concat(SharedPrefix([1, 2]), (3,))
    assert isinstance(joined, SharedPrefix)
    assert joined == (1, 2, 3)


def _message(rng: random.Random) -> ChatMessage:
    role = rng.choice([Role.USER, Role.ASSISTANT])
    return ChatMessage(role, content=f"m{rng.randrange(4)}")


@pytest.mark.parametrize("seed", range(40))
def test_the_chain_cache_gives_the_chains_of_a_full_computation(seed: int) -> None:
    """Growing lists (views and tuples), re-sent lists and lists that diverge."""
    rng = random.Random(seed)
    cache = ChainCache()
    view: SharedPrefix[ChatMessage] = SharedPrefix()
    for _ in range(30):
        step = rng.randrange(4)
        if step == 0:  # grow
            view = view.extend([_message(rng) for _ in range(rng.randrange(1, 4))])
        elif step == 1 and len(view) > 1:  # diverge from an earlier point
            view = view.head(rng.randrange(len(view))).extend([_message(rng)])
        messages = tuple(view) if rng.random() < 0.3 else view
        assert tuple(cache.chains("k", messages)) == tuple(chain_hashes(tuple(messages)))
