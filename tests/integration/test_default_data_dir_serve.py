"""``tasktrace serve`` with no data dir named leaves ``$HOME``'s mode alone,
as root too (where the embedded PostgreSQL opens every parent of its data dir)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tasktrace.server.embedded import ROOT_DATA_DIR, default_data_dir
from tests.support.serve_process import start_serve, stop_leftover_postgres


async def test_serve_with_the_default_data_dir_keeps_a_closed_home_closed(tmp_path: Path) -> None:
    home = tmp_path / "fh"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    as_root = os.geteuid() == 0
    expected = default_data_dir(home, None, as_root)
    env = {"HOME": str(home), "XDG_DATA_HOME": ""}
    served = await start_serve(None, tmp_path / "serve.log", env_extra=env)
    try:
        assert await served.terminate() == 0
    finally:
        if served.process.returncode is None:
            await served.kill()
        stop_leftover_postgres(expected)

    output = served.log.read_text(errors="replace")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700, output
    assert f"embedded PostgreSQL running in {expected}" in output
    assert (expected == ROOT_DATA_DIR) == as_root
