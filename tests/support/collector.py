"""Real OpenTelemetry Collector binaries for tests, built by ``.ci/install-jaeger.sh``:
Jaeger v2 (itself a collector distribution) and ``otelcol-tasktrace`` (otlp receiver,
otlp and loadbalancing exporters). Each runs as a child process with one of the
documented configs, its ports chosen through the config's ``${env:...}`` variables.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop_process_group, wait_until_ready

INSTALL_HINT = "run `bash .ci/install-jaeger.sh` to build it"
READY_TIMEOUT = 60.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends"


@dataclass(frozen=True)
class GoTool:
    """A binary that ``.ci/install-jaeger.sh`` builds and caches, keyed by version."""

    name: str
    version: str
    env_var: str

    def path(self) -> Path:
        """``$<env_var>`` if set, else ``~/.cache/tasktrace-ci/<name>-<version>/<name>``."""
        override = os.environ.get(self.env_var)
        if override:
            return Path(override)
        return Path.home() / ".cache" / "tasktrace-ci" / f"{self.name}-{self.version}" / self.name

    def missing(self) -> str | None:
        """Why the binary cannot run (a skip reason), or ``None`` when it is there."""
        path = self.path()
        if os.access(path, os.X_OK):
            return None
        return f"no {self.name} {self.version} binary at {path}: {INSTALL_HINT}"


JAEGER = GoTool("jaeger", "v1.75.0", "TASKTRACE_JAEGER_BIN")
OTELCOL = GoTool("otelcol-tasktrace", "v0.161.0", "TASKTRACE_OTELCOL_BIN")


class CollectorFailed(RuntimeError):
    """The binary rejected its config or did not become ready; the message has its log."""


def accepts_connections(endpoint: str) -> bool:
    """Whether ``host:port`` accepts a TCP connection now."""
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_collector(
    tool: GoTool,
    config: Path,
    env: Mapping[str, str],
    ready: Callable[[], bool],
    *,
    timeout: float = READY_TIMEOUT,
) -> Iterator[None]:
    """Run ``tool --config config`` with ``env`` until the block ends.

    Returns once ``ready()`` is true; raises :class:`CollectorFailed` with the log
    tail if the process exits first or ``timeout`` passes. On exit: SIGTERM to its
    process group, SIGKILL after ``processes.STOP_TIMEOUT`` seconds.
    """
    with tempfile.TemporaryDirectory(prefix=f"tasktrace-{tool.name}-") as workdir:
        log_path = Path(workdir) / "collector.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(tool.path()), "--config", str(config)],
                cwd=workdir,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_ready(
                tool.name, process, ready, timeout=timeout, log_path=log_path, error=CollectorFailed
            )
            yield
        finally:
            stop_process_group(process)


def validate(
    tool: GoTool, config: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``tool validate --config config``: the binary's own check of a config file."""
    return subprocess.run(
        [str(tool.path()), "validate", "--config", str(config)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
