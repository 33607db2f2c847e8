"""The package's layout holds: imports point one way, with no cycles, and torch stays in pytorch/.

Imports are read from the source (every ``import`` statement that runs, at any level; those under
``if TYPE_CHECKING:`` only feed annotations and never run). The layers, lowest first:

    errors, text, version → spec → graph → analysis → lecture → render → report → cli, and pytorch
    beside them (cnncalc.report is the report that renders itself, above the renderers)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnncalc"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """The cnncalc modules (and other top-level packages) a module imports when it runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for branch in ast.walk(tree)
                   if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
                   for node in ast.walk(branch)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def test_no_import_cycles() -> None:
    edges = {name: sorted(dep for dep in deps if dep in MODULES and dep != name)
             for name, deps in IMPORTS.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in edges[name]:
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


# What each part of the package may not import (beyond its own modules).
FORBIDDEN = {
    "cnncalc.analysis.core": ("cnncalc.",),  # plain integers in and out
    "cnncalc.spec": ("cnncalc.graph", "cnncalc.analysis", "cnncalc.lecture", "cnncalc.render",
                     "cnncalc.pytorch", "cnncalc.cli"),
    "cnncalc.graph": ("cnncalc.analysis", "cnncalc.lecture", "cnncalc.render", "cnncalc.pytorch",
                      "cnncalc.cli"),
    "cnncalc.analysis": ("cnncalc.lecture", "cnncalc.render", "cnncalc.report", "cnncalc.pytorch",
                         "cnncalc.cli"),
    "cnncalc.lecture": ("cnncalc.render", "cnncalc.report", "cnncalc.pytorch", "cnncalc.cli"),
    "cnncalc.render": ("cnncalc.report", "cnncalc.pytorch", "cnncalc.cli"),
    "cnncalc.pytorch": ("cnncalc.cli", "cnncalc.render", "cnncalc.lecture"),
}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_point_one_way(part: str) -> None:
    wrong = [(name, dep) for name, deps in IMPORTS.items() if name == part or name.startswith(part + ".")
             for dep in deps for banned in FORBIDDEN[part]
             if dep.startswith(banned) and not dep.startswith(part)]
    assert wrong == []


def test_torch_is_imported_only_in_pytorch() -> None:
    users = sorted(name for name, deps in IMPORTS.items()
                   if any(dep == "torch" or dep.startswith("torch.") for dep in deps))
    assert users and all(name.startswith("cnncalc.pytorch") for name in users), users
