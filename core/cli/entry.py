"""The ``tasktrace`` console script.

gRPC's C core writes its own lines to stderr (``add_port.cc`` on a port clash,
which tasktrace reports itself; ``fork_posix.cc`` whenever PostgreSQL's tools
are forked). It reads its settings when grpc is first imported, and the CLI's
own imports pull grpc in (the config validates the auth extension), so they
are set here, before anything else of tasktrace is imported.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping


def quiet_grpc_core(environ: MutableMapping[str, str]) -> None:
    """Defaults that keep the C core quiet; a user's own setting wins
    (``GRPC_VERBOSITY=debug``)."""
    environ.setdefault("GRPC_VERBOSITY", "NONE")
    # tasktrace never forks a process that uses gRPC: no fork handlers to run
    environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def fixed_malloc_thresholds(
    environ: MutableMapping[str, str],
    mmap_size: int = 1024 * 1024,
    trim_size: int = 64 * 1024 * 1024,
) -> list[str]:
    """Fix glibc's mmap and trim thresholds; returns the ones set.

    mmap at ``mmap_size``: large buffers (10 MB values) are mapped and go back
    to the OS when freed. By default glibc raises the threshold after each such
    free, up to 32 MiB: later 10 MB buffers then come from the heap and stay in
    the RSS (after six 10 MB values, 3 fuzz runs each: 129-147 MB of RSS from
    88 MB without, 91-137 MB with it). Not lower than 1 MiB: a buffer over the
    threshold is mapped, faulted in and unmapped every time, and a history
    attribute of 1000 messages (150 KB: its bytes, its text, the cached prefix)
    is three such per span.

    Trim at ``trim_size``: fixing the mmap threshold also stops glibc raising
    the trim threshold beside it (128 KiB), so the heap of every request, the
    150 KB values of a long history among it, was handed back at each free and
    faulted in again at the next request: 0.2 ms of server CPU per span at 1000
    messages, a third of all of it (``bench/history.py``). 64 MiB of free heap
    kept for the next requests is about what a few large requests in flight use.

    A user's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` wins; no-op
    without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return []
    wanted = (
        ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, mmap_size),
        ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, trim_size),
    )
    return [name for name, option, size in wanted if name not in environ and mallopt(option, size)]


_M_TRIM_THRESHOLD = -1  # malloc.h
_M_MMAP_THRESHOLD = -3


def main() -> None:
    quiet_grpc_core(os.environ)
    fixed_malloc_thresholds(os.environ)
    from tasktrace.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":  # how ``serve --workers N`` starts its workers
    main()
