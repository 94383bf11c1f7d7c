"""Running the query CLI's subcommands in process, as ``tasktrace <argv>`` would."""

from __future__ import annotations

import argparse

from tasktrace.cli import query as cli_query


def run_cli(*argv: str) -> int:
    """The exit code of ``tasktrace <argv>`` for the query subcommands."""
    parser = argparse.ArgumentParser(prog="tasktrace")
    cli_query.register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
