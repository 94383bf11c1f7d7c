"""The console script fixes glibc's mmap and trim thresholds: freed large
buffers leave the RSS, the heap of the requests before stays for the next."""

from __future__ import annotations

import platform

import pytest

from tasktrace.cli.entry import fixed_malloc_thresholds

BOTH = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_both_thresholds_are_set_on_glibc() -> None:
    assert fixed_malloc_thresholds({}) == BOTH


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_users_own_threshold_is_left_alone() -> None:
    assert fixed_malloc_thresholds({"MALLOC_MMAP_THRESHOLD_": "65536"}) == BOTH[1:]
    assert fixed_malloc_thresholds({"MALLOC_TRIM_THRESHOLD_": "65536"}) == BOTH[:1]
    assert fixed_malloc_thresholds(dict.fromkeys(BOTH, "65536")) == []
