"""Finding the PostgreSQL processes a test started, to show none is left behind."""

from __future__ import annotations

from pathlib import Path

import psutil


def postgres_pids(data_dir: Path) -> list[int]:
    """Live (not zombie) PostgreSQL servers of ``data_dir``: a ``postgres`` process
    with the directory in its command line, or the pid its ``postmaster.pid`` names."""
    wanted = str(data_dir.resolve())
    found: set[int] = set()
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if info["name"] != "postgres" or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(wanted in part for part in info["cmdline"] or ()):
            found.add(proc.pid)
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE:
            found.add(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return sorted(found)


def live_descendants(pid: int) -> list[int]:
    """Pids of the children (at any depth) of process ``pid`` that are not zombies."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return sorted(c.pid for c in children if is_live(c.pid))


def is_live(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie has finished)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
