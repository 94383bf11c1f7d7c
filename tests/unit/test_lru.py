from tasktrace.lru import BoundedLRU


def _lru(max_entries: int = 10, max_weight: int = 100) -> BoundedLRU[str, str]:
    return BoundedLRU(len, max_entries=max_entries, max_weight=max_weight)


def test_evicts_the_least_recently_used_past_the_entry_bound() -> None:
    lru = _lru(max_entries=2)
    lru.put("a", "1")
    lru.put("b", "2")
    assert lru.get("a") == "1"  # "b" is now the least recently used
    lru.put("c", "3")
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == ("1", None, "3")
    assert len(lru) == 2


def test_evicts_past_the_weight_bound_and_counts_replacements_once() -> None:
    lru = _lru(max_weight=10)
    lru.put("a", "xxxx")
    lru.put("a", "xxxxxx")  # replaces: weight 6, not 10
    assert lru.total_weight == 6
    lru.put("b", "xxxx")
    assert lru.total_weight == 10 and len(lru) == 2
    lru.put("c", "x")
    assert lru.get("a") is None and lru.get("b") == "xxxx" and lru.total_weight == 5


def test_a_value_heavier_than_the_bound_is_not_kept() -> None:
    lru = _lru(max_weight=3)
    lru.put("small", "ab")
    lru.put("big", "abcd")
    assert lru.get("big") is None and lru.get("small") is None
    assert len(lru) == 0 and lru.total_weight == 0
