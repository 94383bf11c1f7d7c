"""The README's collector configs are the files the `collector` tests run, verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOWN = ("collector.yaml", "loadbalancing.yaml")


@pytest.mark.parametrize("name", SHOWN)
def test_the_readme_shows_the_tested_collector_config_exactly(name: str) -> None:
    config = (ROOT / "docs" / "backends" / name).read_text()
    readme = (ROOT / "README.md").read_text()

    assert f"```yaml\n{config}```" in readme
