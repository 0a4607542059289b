"""The import directions of DESIGN.md: rules ← model ← service, mlflow and fastapi fenced in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED_FIRST_PARTY = {
    "rules": {"rules"},
    "model": {"rules", "model"},
    "service": {"rules", "model", "service"},
}
RULES_THIRD_PARTY = {"numpy", "pandas", "pyarrow", "yaml", "re2"}  # pyarrow: pandas 3 text columns
MLFLOW_MODULES = {"model/registry.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED_FIRST_PARTY))
def test_first_party_directions(package: str) -> None:
    forbidden = {"rules", "model", "service"} - ALLOWED_FIRST_PARTY[package]
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files(package)
        for name in _imports(p) & forbidden
    ]
    assert not bad, bad


def test_rules_uses_only_its_libraries() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("rules")
        for name in _imports(p) - stdlib - RULES_THIRD_PARTY - {"rules", "__future__"}
    ]
    assert not bad, bad


def test_mlflow_only_in_registry() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for pkg in ("rules", "model", "service")
        for p in _files(pkg)
        if "mlflow" in _imports(p) and str(p.relative_to(ROOT)) not in MLFLOW_MODULES
    ]
    assert not bad, f"only {MLFLOW_MODULES} may import mlflow: {bad}"


def test_fastapi_only_in_service() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for pkg in ("rules", "model")
        for p in _files(pkg)
        if _imports(p) & {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic"}
    ]
    assert not bad, bad


def test_nothing_imports_notebooks_or_benchmarks() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for pkg in ("rules", "model", "service")
        for p in _files(pkg)
        if _imports(p) & {"notebooks", "benchmarks", "tests"}
    ]
    assert not bad, bad


def test_the_detector_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import service.app\nfrom mlflow import pyfunc\nfrom . import x\n")
    assert _imports(probe) == {"service", "mlflow"}
