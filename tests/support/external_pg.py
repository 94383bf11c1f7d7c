"""A throwaway cluster of Debian's PostgreSQL on 127.0.0.1, for tests of an
external store by DSN: made with ``initdb`` in a temporary directory, on a
port of its own, and stopped and started again on demand (a database restart).

The server tools refuse to run as root, so as root they run as ``postgres``
(``runuser``), which then owns the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import postgres_pids


class PostgresMissing(RuntimeError):
    """Debian's PostgreSQL binaries are not installed; the message says how to fix it."""


def debian_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin``; raises :class:`PostgresMissing`."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not found:
        raise PostgresMissing(
            "Debian's PostgreSQL binaries are missing (/usr/lib/postgresql/*/bin/initdb): "
            "install them with `apt-get install -y postgresql` (.ci/run does)"
        )
    return found[-1].parent


def run_as_postgres(*args: str | Path) -> None:
    """Run a server tool as the ``postgres`` user (it refuses to run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*prefix, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"


@dataclass
class Cluster:
    bindir: Path
    data_dir: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it takes connections (``pg_ctl -w``)."""
        run_as_postgres(
            self.bindir / "pg_ctl", "-D", self.data_dir, "-l", self.data_dir / "server.log", "-w",
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a database restart."""
        if (self.data_dir / "postmaster.pid").exists():
            run_as_postgres(self.bindir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")


@contextmanager
def debian_cluster() -> Iterator[Cluster]:
    """A running cluster, stopped and removed on exit (no server left behind)."""
    bindir = debian_bindir()
    root = Path(tempfile.mkdtemp(prefix="tasktrace-ext-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(bindir, root / "data", free_port())
    try:
        run_as_postgres(bindir / "initdb", "-D", cluster.data_dir, "-U", "postgres", "--auth=trust")
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        assert postgres_pids(cluster.data_dir) == []
        shutil.rmtree(root, ignore_errors=True)
