"""What a user reads from the ``tasktrace`` command itself: its help, and the
errors for a mistyped ``--set`` (the installed console script, run as a process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.serve_process import TASKTRACE


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKTRACE_")}
    return subprocess.run(
        [str(TASKTRACE), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_the_top_level_help_describes_the_tool_not_the_module() -> None:
    result = run("--help")

    assert result.returncode == 0
    assert "OpenTelemetry GenAI traces into user tasks" in result.stdout
    assert "exits the process" not in result.stdout
    assert "``" not in result.stdout


def test_config_check_explains_its_path_argument() -> None:
    result = run("config", "check", "--help")

    assert result.returncode == 0
    assert "the collector-style YAML file to validate" in result.stdout


def test_a_mistyped_set_key_on_serve_is_reported_as_that_set(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    result = run("serve", "--data-dir", str(data_dir), "--set", "exporters.postgres.dsnn=x")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "tasktrace: invalid config: --set exporters.postgres.dsnn=x: "
        "unknown key 'exporters.postgres.dsnn'"
    )
    assert not data_dir.exists()


def test_a_bad_set_value_on_config_check_names_the_set_and_a_file_error_names_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("exporters:\n  postgres:\n    schema: Bad-Name\n")

    result = run("config", "check", str(config), "--set", "exporters.postgres.pool_max_size=0")

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert f"tasktrace: invalid config: {config}: exporters.postgres.schema: " in lines[0]
    assert lines[1].startswith(
        "--set exporters.postgres.pool_max_size=0: exporters.postgres.pool_max_size: "
    )


def test_grpc_core_logging_is_quiet_by_default_and_a_users_setting_wins() -> None:
    from tasktrace.cli.entry import quiet_grpc_core

    default: dict[str, str] = {}
    quiet_grpc_core(default)
    chosen = {"GRPC_VERBOSITY": "debug"}
    quiet_grpc_core(chosen)

    assert default == {"GRPC_VERBOSITY": "NONE", "GRPC_ENABLE_FORK_SUPPORT": "false"}
    assert chosen["GRPC_VERBOSITY"] == "debug"


def test_the_console_script_sets_them_before_anything_imports_grpc() -> None:
    """The C core reads them once, when grpc is first imported; the CLI's own imports
    pull grpc in (config -> auth), so the entry point must come first and import none."""
    probe = (
        "import sys, tasktrace.cli.entry as e; "
        "assert 'grpc' not in sys.modules, 'entry imports grpc'; "
        "import importlib.metadata as m; "
        "(s,) = [s for s in m.entry_points(group='console_scripts') if s.name == 'tasktrace']; "
        "assert s.value == 'tasktrace.cli.entry:main', s.value"
    )
    run = [sys.executable, "-c", probe]
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
