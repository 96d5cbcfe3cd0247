"""The layer contract of docs/architecture.md, read from the source (AST, nothing imported).

Every import counts: top-level, inside functions, under ``if TYPE_CHECKING:``. A module depends on
the module it names (``from a.b import c`` depends on ``a.b.c`` when that is a module, else on the
package ``a.b``, i.e. its ``__init__``). The parent packages Python runs on the way are not counted:
a package's ``__init__`` importing its own submodules is how a package publishes its names, not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("orbits", "optimization", "fedspan")
# Imports each lower layer must never make (prefix match on the dotted name).
FORBIDDEN = {
    "optimization": ("fedspan", "orbits", "torch", "torchvision", "flwr"),
    "orbits": ("fedspan", "optimization", "torch", "torchvision", "flwr"),
}


def module_files(root: Path = _REPO) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the three packages."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """Every import anywhere in the module: ``(name, attribute, line)`` per imported name.

    ``import a.b`` gives ``("a.b", None, line)``; ``from a.b import c`` gives ``("a.b", "a.b.c", line)``:
    whether ``a.b.c`` is a module or a name in ``a.b`` is decided against the module list.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    names: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            names.extend((base, None if alias.name == "*" else f"{base}.{alias.name}", node.lineno)
                         for alias in node.names)
    return names


def import_graph(root: Path = _REPO) -> dict[str, dict[str, int]]:
    """module -> {project module it imports: first line it does so}.

    ``from a import b`` is an edge to the module ``a.b`` when there is one, else to the package ``a``.
    """
    files = module_files(root)
    graph: dict[str, dict[str, int]] = {name: {} for name in files}
    for module, path in files.items():
        for base, attribute, line in sorted(imported_names(module, path), key=lambda t: t[2]):
            name = attribute if attribute in files else base
            if name in files and name != module:
                graph[module].setdefault(name, line)
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a list of modules, first repeated at the end) per strongly connected component.

    Tarjan's algorithm (Tarjan 1972, "Depth-first search and linear graph algorithms"), then a
    breadth-first search inside each component for a shortest cycle through its first member.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        previous: dict[str, str] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in graph[v]:
                    if w == start:
                        found = v
                        break
                    if w in members and w not in previous:
                        previous[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v != start:
            path.append(v)
            v = previous[v]
        cycles.append([start] + path[:0:-1] + [start])
    return cycles


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    """``a (line 12) -> b (line 30) -> a``: each arrow's import line in the module before it."""
    parts = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(parts + [cycle[-1]])


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Function-level, TYPE_CHECKING and relative imports are edges; a cycle through them is found."""
    package = tmp_path / "fedspan"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from fedspan.sub.b import B\n")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fedspan.sub import B\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\nB = 1\n")
    (package / "c.py").write_text("import fedspan.a\n")
    for name in ("orbits", "optimization"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["fedspan.a"] == {"fedspan.sub": 3}
    assert graph["fedspan.sub.b"] == {"fedspan.c": 2}
    cycles = find_cycles(graph)
    assert cycles == [["fedspan.a", "fedspan.sub", "fedspan.sub.b", "fedspan.c", "fedspan.a"]]


def test_no_import_cycles() -> None:
    """No cycle between modules of orbits, optimization and fedspan, whatever kind of import closes it."""
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(c, graph) for c in cycles)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_import_no_upper_layer(package: str) -> None:
    """optimization imports neither orbits nor fedspan nor torch; orbits imports neither fedspan nor optimization."""
    bad = []
    for module, path in module_files().items():
        if module.split(".")[0] != package:
            continue
        for name, _, line in imported_names(module, path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(_REPO)}:{line} imports {name}")
    assert not bad, "\n".join(sorted(set(bad)))
