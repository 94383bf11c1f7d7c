"""A throwaway cluster of Debian's PostgreSQL on 127.0.0.1, reached by DSN: the
"external database" of the DSN and several-instances tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.processes import postgres_pids


def debian_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin``; fails (never skips) without it."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "Debian's PostgreSQL binaries are missing (/usr/lib/postgresql/*/bin/initdb): "
            "install them with `apt-get install -y postgresql` (.ci/run does)",
            pytrace=False,
        )
    return found[-1].parent


def run_as_postgres(*args: str | Path) -> None:
    """Run a server tool as the ``postgres`` user (it refuses to run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*prefix, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"


@contextlib.contextmanager
def external_cluster() -> Iterator[tuple[str, Path]]:
    """(DSN, data dir) of a throwaway cluster on 127.0.0.1, stopped and removed after."""
    bindir = debian_bindir()
    root = Path(tempfile.mkdtemp(prefix="tasktrace-ext-"))
    data_dir = root / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = free_port()
    try:
        run_as_postgres(bindir / "initdb", "-D", data_dir, "-U", "postgres", "--auth=trust")
        run_as_postgres(
            bindir / "pg_ctl", "-D", data_dir, "-l", data_dir / "server.log", "-w",
            "-o", f"-h 127.0.0.1 -p {port} -k {data_dir}", "start",
        )  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", data_dir
    finally:
        if (data_dir / "postmaster.pid").exists():
            run_as_postgres(bindir / "pg_ctl", "-D", data_dir, "-m", "fast", "-w", "stop")
        assert postgres_pids(data_dir) == []
        shutil.rmtree(root, ignore_errors=True)
