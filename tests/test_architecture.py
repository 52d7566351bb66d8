"""The shape of the code: what a newcomer relies on when changing one area.

Read from the source, so a function-local import counts like any other: it cannot hide a cycle.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import wishes

PACKAGE = Path(wishes.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """The modules of this package that `module` imports, anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else node.module
            target = target or base
            for alias in node.names:
                # `from . import store` imports the submodule; `from . import create_app`
                # takes a name from the package itself
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in MODULES else target)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return groups


def test_the_import_graph_has_no_cycles():
    edges = [
        f"{module} -> {other}"
        for group in _cycles()
        for module in group
        for other in sorted(GRAPH[module] & set(group))
    ]
    assert edges == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_local_import():
    saved = dict(GRAPH)
    try:
        GRAPH["wishes.audit"] = GRAPH["wishes.audit"] | {"wishes.board.views"}
        assert any("wishes.audit" in group for group in _cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_migrations_import_nothing_of_the_live_application():
    """Migrations are frozen history: they must keep working when the code they would call
    changes, so they carry their own copies."""
    assert _imports("wishes.storage.migrations") == set()


AREAS = {
    module
    for module, path in MODULES.items()
    if path.name == "__init__.py" and module.count(".") == 1 and module != "wishes.glossary"
}
# Where the app is put together: the factory, the page wiring (every area's blueprint) and the
# command registry (every area's commands). The glossary, which every page reads, names every
# area's states and moves.
WIRING = {"wishes", "wishes.web", "wishes.commands"}


def _area(module: str) -> str | None:
    package = ".".join(module.split(".")[:2])
    return package if package in AREAS else None


def test_areas_use_each_other_only_through_their_public_functions():
    """Another area's internals (its store, views, forms) are reached only through the small
    public functions its `__init__.py` names."""
    reaching_in = [
        f"{module} -> {other}"
        for module, others in GRAPH.items()
        if module not in WIRING and not module.startswith("wishes.glossary")
        for other in others
        if _area(other) not in (None, _area(module)) and other != _area(other)
    ]
    assert reaching_in == []


def test_every_area_names_its_public_functions():
    for area in sorted(AREAS):
        package = importlib.import_module(area)
        assert isinstance(package.__all__, list), area
        assert all(hasattr(package, name) for name in package.__all__), area
