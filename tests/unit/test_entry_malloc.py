"""The console script fixes glibc's mmap threshold, so freed large buffers leave the RSS."""

from __future__ import annotations

import platform

import pytest

from tasktrace.cli.entry import fixed_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_the_mmap_threshold_is_set_on_glibc() -> None:
    assert fixed_mmap_threshold({}) is True


def test_a_users_own_threshold_is_left_alone() -> None:
    assert fixed_mmap_threshold({"MALLOC_MMAP_THRESHOLD_": "65536"}) is False
