"""The import directions of DESIGN.md: rules ← model ← service, mlflow and fastapi fenced in.

The packages live in the repository's folders `rules/`, `model/`, `service/` and are imported as
`autoresolve.rules`, `autoresolve.model`, `autoresolve.service`: a bare `import model` (the
pre-namespace name) is refused everywhere, because a user's `model.py` would shadow it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGES = ("rules", "model", "service")
ALLOWED_FIRST_PARTY = {
    "rules": {"rules"},
    "model": {"rules", "model"},
    "service": {"rules", "model", "service"},
}
RULES_THIRD_PARTY = {"numpy", "pandas", "pyarrow", "yaml", "re2"}  # pyarrow: pandas 3 text columns
MLFLOW_MODULES = {"model/registry.py"}
CODE_FOLDERS = ("rules", "model", "service", "tests", "benchmarks", "notebooks")


def _imports(path: Path) -> set[str]:
    """Imported names: `autoresolve.X…` as `autoresolve.X`, anything else by its top name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()

    def add(module: str) -> None:
        parts = module.split(".")
        names.add(".".join(parts[:2]) if parts[0] == "autoresolve" and len(parts) > 1 else parts[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "autoresolve":
                for a in node.names:
                    add(f"autoresolve.{a.name}")
            else:
                add(node.module)
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _ours(names: set[str]) -> set[str]:
    return {n.removeprefix("autoresolve.") for n in names if n.startswith("autoresolve.")}


@pytest.mark.parametrize("package", PACKAGES)
def test_first_party_directions(package: str) -> None:
    forbidden = set(PACKAGES) - ALLOWED_FIRST_PARTY[package]
    bad = [
        f"{p.relative_to(ROOT)} imports autoresolve.{name}"
        for p in _files(package)
        for name in _ours(_imports(p)) & forbidden
    ]
    assert not bad, bad


@pytest.mark.parametrize("folder", CODE_FOLDERS)
def test_no_bare_package_names(folder: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports '{name}' (use autoresolve.{name})"
        for p in _files(folder)
        for name in _imports(p) & set(PACKAGES)
    ]
    assert not bad, bad


def test_rules_uses_only_its_libraries() -> None:
    stdlib = set(sys.stdlib_module_names)
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("rules")
        for name in _imports(p) - stdlib - RULES_THIRD_PARTY - {"autoresolve.rules", "__future__"}
    ]
    assert not bad, bad


def test_mlflow_only_in_registry() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
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
        for pkg in PACKAGES
        for p in _files(pkg)
        if _imports(p) & {"notebooks", "benchmarks", "tests"}
    ]
    assert not bad, bad


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (annotations only, never run)."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


def _is_module(base: Path, dotted: str) -> bool:
    path = base.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_graph(package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports, at the top or inside a function (a
    deferred import hides a circle from the interpreter, not from the reader)."""
    graph: dict[str, set[str]] = {}
    base = ROOT / package
    for p in _files(package):
        rel = p.relative_to(base).with_suffix("")
        mod = ".".join(rel.parts).removesuffix(".__init__").removesuffix("__init__")
        tree = ast.parse(p.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == f"autoresolve.{package}":
                    targets = [a.name for a in node.names]
                elif node.module.startswith(f"autoresolve.{package}."):
                    parent = node.module.removeprefix(f"autoresolve.{package}.")
                    # `from pkg.sub import module` imports that module, not only pkg.sub
                    targets = [
                        f"{parent}.{a.name}" if _is_module(base, f"{parent}.{a.name}") else parent
                        for a in node.names
                    ]
            elif isinstance(node, ast.Import):
                targets = [
                    a.name.removeprefix(f"autoresolve.{package}.")
                    for a in node.names
                    if a.name.startswith(f"autoresolve.{package}.")
                ]
            deps.update(t for t in targets if t != mod)
        graph[mod] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles(package: str) -> None:
    cycles = _cycles(_module_graph(package))
    assert not cycles, [" → ".join(c) for c in cycles]


def test_the_detector_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import model.policy\nfrom autoresolve.service import app\n"
        "from autoresolve.rules.lang import x\nfrom mlflow import pyfunc\nfrom . import y\n"
    )
    assert _imports(probe) == {"model", "autoresolve.service", "autoresolve.rules", "mlflow"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
