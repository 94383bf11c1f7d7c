"""The ``tasktrace`` console script.

gRPC's C core writes its own lines to stderr (``add_port.cc`` on a port clash,
which tasktrace reports itself; ``fork_posix.cc`` whenever PostgreSQL's tools
are forked). It reads its settings when grpc is first imported, and the CLI's
own imports pull grpc in (the config validates the auth extension), so they
are set here, before anything else of tasktrace is imported.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def quiet_grpc_core(environ: MutableMapping[str, str]) -> None:
    """Defaults that keep the C core quiet; a user's own setting wins
    (``GRPC_VERBOSITY=debug``)."""
    environ.setdefault("GRPC_VERBOSITY", "NONE")
    # tasktrace never forks a process that uses gRPC: no fork handlers to run
    environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def main() -> None:
    quiet_grpc_core(os.environ)
    from tasktrace.cli.main import main as cli_main

    cli_main()
