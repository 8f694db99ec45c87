"""One house: the apps import only downwards, no module imports itself round a cycle, and no
import hides inside a function to dodge either rule.

The layer contracts themselves are import-linter's (``[tool.importlinter]`` in pyproject.toml,
``make lint`` and CI run ``lint-imports``); these tests keep what it does not check.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mana_auth", "security", "accounts", "vault", "spaces", "personas", "predecessor")
# Imports that must stay inside a function, each with its reason.
ALLOWED_LATE_IMPORTS = {
    # Django's app registry: models can be imported only once every app is loaded.
    ("accounts/apps.py", "accounts.wiring"),
    ("security/apps.py", "security.wiring"),
    ("vault/apps.py", "vault.wiring"),
    ("spaces/apps.py", "spaces.wiring"),
    ("personas/apps.py", "personas.gdpr"),
}


def _sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _late_imports(path: Path, root: Path = ROOT) -> list[tuple[str, str]]:
    """``(file, imported module)`` of every import inside a function or method."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom):
                    names = [f"{inner.module}.{alias.name}" for alias in inner.names]
                    module = inner.module if inner.module not in PACKAGES else names[0]
                    found.append((path.relative_to(root).as_posix(), module or ""))
                elif isinstance(inner, ast.Import):
                    found += [(path.relative_to(root).as_posix(), a.name) for a in inner.names]
    return found


def test_no_import_hides_inside_a_function():
    late = {item for path in _sources() for item in _late_imports(path)}
    assert late - ALLOWED_LATE_IMPORTS == set()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph(*PACKAGES)
    finally:
        sys.path.remove(str(ROOT))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle(graph):
    modules = {m for m in graph.modules if ".migrations" not in m}
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_late_import_finder_finds_one(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from spaces import services\n    import json\n")
    found = {module for _, module in _late_imports(source, tmp_path)}
    assert found == {"spaces.services", "json"}
