"""Where ``tasktrace serve`` keeps its embedded PostgreSQL when no data dir is
named, and which folders a start as root would open to everyone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasktrace.server.embedded import ROOT_DATA_DIR, default_data_dir, loosened_folders


def test_a_user_gets_a_folder_under_the_xdg_data_home() -> None:
    home = Path("/home/u")
    assert default_data_dir(home, None) == home / ".local/share/tasktrace/postgres"
    assert default_data_dir(Path("/home/u"), "/d") == Path("/d/tasktrace/postgres")


def test_root_gets_the_system_location_whatever_home_and_xdg_say() -> None:
    assert default_data_dir(Path("/root"), "/root/.data", as_root=True) == ROOT_DATA_DIR
    assert Path.home() not in ROOT_DATA_DIR.parents


def test_a_closed_parent_is_reported_and_open_or_missing_ones_are_not() -> None:
    modes = {Path("/"): 0o755, Path("/home"): 0o755, Path("/home/u"): 0o700}

    opened = loosened_folders([Path("/home/u/.local/share/pg")], modes.get)

    assert opened == [Path("/home/u")]


def test_a_parent_lacking_only_group_read_counts_and_is_listed_once() -> None:
    modes = {Path("/"): 0o755, Path("/srv"): 0o711}

    opened = loosened_folders([Path("/srv/a/pg"), Path("/srv/b/bin")], modes.get)

    assert opened == [Path("/srv")]


def test_the_root_default_opens_nothing_on_a_usual_system() -> None:
    modes = {Path("/"): 0o755, Path("/var"): 0o755, Path("/var/lib"): 0o755}

    assert loosened_folders([ROOT_DATA_DIR], modes.get) == []


def test_as_root_a_default_that_would_open_a_closed_folder_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tasktrace.cli import main as cli

    closed = Path("/srv/closed")
    monkeypatch.setattr(cli, "folder_mode", lambda p: 0o700 if p == closed else 0o755)
    data_dir = closed / "tasktrace" / "postgres"

    refusal = cli._root_check(data_dir, named=False)
    assert refusal is not None and str(closed) in refusal and "--data-dir" in refusal

    assert cli._root_check(data_dir, named=True) is None
    assert str(closed) in caplog.text
