"""The layout docs/architecture.md describes, checked where import-linter cannot:
every kernel module is in the kernel contract, every package says what it owns,
and no module (product, tests, benchmarks) grows past 400 lines."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / d for d in ("core", "receiver", "extractor", "exporter", "proto")]
COMPONENT_PACKAGES = {"receiver", "extractor", "exporter"}


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def kernel_modules() -> set[str]:
    """What sits at the root of ``tasktrace``: core/*.py and core/config/."""
    core = ROOT / "core"
    modules = {f"tasktrace.{p.stem}" for p in core.glob("*.py") if p.stem != "__init__"}
    return modules | {"tasktrace.config"}


def test_every_kernel_module_is_in_the_kernel_contract() -> None:
    assert set(contracts()["kernel"]["source_modules"]) == kernel_modules()  # type: ignore[arg-type]


def test_every_edge_package_is_forbidden_to_the_kernel() -> None:
    edges = {
        f"tasktrace.{p.name}"
        for p in (ROOT / "core").iterdir()
        if (p / "__init__.py").exists() and p.name != "config"
    }
    components = {f"tasktrace.{name}" for name in COMPONENT_PACKAGES}
    forbidden = set(contracts()["kernel"]["forbidden_modules"])  # type: ignore[arg-type]
    assert edges | components <= forbidden


def packages() -> list[Path]:
    return sorted(p.parent for src in SOURCES for p in src.rglob("__init__.py"))


@pytest.mark.parametrize("package", packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_has_a_docstring_saying_what_it_owns(package: Path) -> None:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text("utf-8")))
    assert doc and len(doc.split()) >= 8, f"{package}: no docstring"


def test_no_module_is_longer_than_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for src in [*SOURCES, ROOT / "tests", ROOT / "bench"]
        for p in src.rglob("*.py")
        if "_pb2" not in p.name and (n := len(p.read_text("utf-8").splitlines())) > 400
    }
    assert long == {}


def test_core_keeps_about_a_dozen_modules_at_its_root() -> None:
    assert len(list((ROOT / "core").glob("*.py"))) <= 12
