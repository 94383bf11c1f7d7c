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


def fixed_mmap_threshold(environ: MutableMapping[str, str], size: int = 1024 * 1024) -> bool:
    """Keep glibc's mmap threshold at ``size``, so that large buffers (request
    bodies, decoded values) are mapped and go back to the OS when freed. By
    default glibc raises it after each such free, up to 32 MiB: later 10 MB
    buffers then come from the heap and stay in the RSS (after six 10 MB values,
    3 fuzz runs each: 129-147 MB of RSS from 88 MB without, 91-137 MB with it).
    Not lower than 1 MiB: a buffer over the threshold is mapped, faulted in and
    unmapped every time, and a history attribute of 1000 messages (150 KB: its
    bytes, its text, the cached prefix) is three such per span; at 128 KiB that
    cost 0.45 ms of the reader thread per span, more than all the rest of it.
    A user's ``MALLOC_MMAP_THRESHOLD_`` wins; no-op without glibc."""
    if "MALLOC_MMAP_THRESHOLD_" in environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, size))


_M_MMAP_THRESHOLD = -3  # malloc.h


def main() -> None:
    quiet_grpc_core(os.environ)
    fixed_mmap_threshold(os.environ)
    from tasktrace.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":  # how ``serve --workers N`` starts its workers
    main()
