"""Hostile schema names and data directories are refused at start-up with a clear
error (issue 16.6): in the config, on the command line, and on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasktrace.cli.main import main
from tasktrace.config import ConfigError, load_config
from tasktrace.server.embedded import EmbeddedPostgres, data_dir_problem

LISTEN_ANYWHERE_FREE = [
    "--set",
    "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
    "--set",
    "receivers.otlp.protocols.http.endpoint=127.0.0.1:0",
]


def config_error(tmp_path: Path, key: str, value: str) -> str:
    """The error for a config file setting ``exporters.postgres.<key>`` to ``value``
    (a double-quoted YAML scalar, so any character reaches the validation as it is)."""
    path = tmp_path / "hostile.yaml"
    path.write_text(f"exporters:\n  postgres:\n    {key}: {json.dumps(value)}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return str(caught.value)


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert isinstance(caught.value.code, int)
    return caught.value.code


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("'; DROP TABLE tasks; --", "1-63 of a-z, 0-9 and _"),
        ("tasktrace; DROP SCHEMA public CASCADE", "1-63 of a-z, 0-9 and _"),
        ('"tasktrace"', "1-63 of a-z, 0-9 and _"),
        ("Tasktrace", "1-63 of a-z, 0-9 and _"),
        ("1tasks", "1-63 of a-z, 0-9 and _"),
        ("a" * 64, "1-63 of a-z, 0-9 and _"),
        ("tâches", "1-63 of a-z, 0-9 and _"),
        ("pg_catalog", "reserved by PostgreSQL"),
        ("pg_temp", "reserved by PostgreSQL"),
        ("information_schema", "reserved by PostgreSQL"),
    ],
)
def test_a_hostile_schema_name_is_refused_naming_the_key(
    tmp_path: Path, schema: str, message: str
) -> None:
    error = config_error(tmp_path, "schema", schema)
    assert "exporters.postgres.schema" in error and message in error


def test_a_nul_in_the_schema_name_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, "schema", "tasktrace\x00")
    assert "exporters.postgres.schema: 'tasktrace\\x00': 1-63 of a-z" in error


@pytest.mark.parametrize("schema", ["tasktrace", "_t", "t_0123456789abcdef", "a" * 63])
def test_plain_schema_names_are_taken(schema: str) -> None:
    config = load_config(None, overrides=[f"exporters.postgres.schema={schema}"], environ={})
    assert config.exporters.postgres.schema_name == schema


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [
        ("/tmp/a\x00b", "must not contain NUL"),
        ("/tmp/a\nb", "control characters"),
        ("/tmp/a\tb", "control characters"),
        ("/" + "d" * 5000, "longer than 4096 bytes"),
    ],
)
def test_a_hostile_data_dir_in_the_config_is_refused(
    tmp_path: Path, data_dir: str, message: str
) -> None:
    error = config_error(tmp_path, "data_dir", data_dir)
    assert "exporters.postgres.data_dir" in error and message in error


def test_a_hostile_data_dir_on_the_command_line_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["serve", "--data-dir", "/tmp/x\ny", *LISTEN_ANYWHERE_FREE]) == 1
    assert "invalid --data-dir: must not contain control characters" in capsys.readouterr().err


def test_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        EmbeddedPostgres(file).start()
    assert file.read_text() == "hello"


def test_a_folder_with_other_things_in_it_is_not_a_data_dir(tmp_path: Path) -> None:
    (tmp_path / "Documents").mkdir()
    (tmp_path / ".bashrc").write_text("")
    problem = data_dir_problem(tmp_path)
    assert problem is not None
    assert "holds no PostgreSQL cluster" in problem and ".bashrc, Documents" in problem
    with pytest.raises(ValueError, match="holds no PostgreSQL cluster"):
        EmbeddedPostgres(tmp_path).start()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bashrc", "Documents"]


def test_a_new_an_empty_or_an_existing_cluster_folder_is_a_data_dir(tmp_path: Path) -> None:
    assert data_dir_problem(tmp_path / "new") is None
    assert data_dir_problem(tmp_path) is None
    (tmp_path / "PG_VERSION").write_text("17\n")
    (tmp_path / "base").mkdir()
    assert data_dir_problem(tmp_path) is None


def test_serve_with_a_file_as_data_dir_fails_with_one_clear_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "data"
    file.write_text("")
    assert run_cli(["serve", "--data-dir", str(file), *LISTEN_ANYWHERE_FREE]) == 1
    assert f"data dir {file} exists and is not a directory" in caplog.text
