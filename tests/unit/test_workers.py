"""``serve --workers N``: which configs can share their ports, and the workers' command line."""

from __future__ import annotations

import sys

import pytest

from tasktrace.config import ConfigError, load_config
from tasktrace.server.workers import fixed_ports_problem, worker_command


def test_fixed_ports_are_needed_for_every_listener() -> None:
    fixed = load_config(None, overrides=["receivers.otlp.protocols.grpc.endpoint=127.0.0.1:4317"])
    assert fixed_ports_problem(fixed) is None
    zero = load_config(None, overrides=["receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0"])
    problem = fixed_ports_problem(zero)
    assert problem is not None and "fixed grpc port" in problem


def test_workers_default_to_one_and_are_bounded() -> None:
    assert load_config(None).service.workers == 1
    assert load_config(None, overrides=["service.workers=3"]).service.workers == 3
    with pytest.raises(ConfigError, match="workers"):
        load_config(None, overrides=["service.workers=0"])


def test_a_worker_runs_the_same_serve_with_its_id_and_the_parents_store() -> None:
    argv = ["serve", "--grpc-endpoint", "127.0.0.1:4317", "--set", "a=b"]
    embedded = worker_command(argv, 1, "postgresql://postgres:@/postgres?host=/tmp&port=5")
    assert embedded[:3] == [sys.executable, "-m", "tasktrace.cli.entry"]
    assert embedded[3:8] == argv
    assert embedded[8:] == [
        "--worker-id",
        "1",
        "--set",
        "exporters.postgres.dsn=postgresql://postgres:@/postgres?host=/tmp&port=5",
    ]
    assert worker_command(argv, 0, None)[-2:] == ["--worker-id", "0"]
