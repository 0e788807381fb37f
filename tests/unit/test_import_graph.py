"""No import circles, in arame or in the benchmarks: each module can be read after what it imports.

Imports under ``TYPE_CHECKING`` do not count: they are annotations, never run.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Set
from pathlib import Path

import grimp

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def circles(imports: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def graph_of(package: str) -> dict[str, set[str]]:
    graph = grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=True)
    modules = set(graph.modules)
    return {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}


def test_the_circle_finder_finds_a_circle_and_nothing_else() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_arame_has_no_import_circle() -> None:
    assert circles(graph_of("arame")) == []


def benchmark_imports() -> dict[str, set[str]]:
    """Per benchmark script, the scripts it imports (by bare name: they run from their folder)."""
    scripts = {path.stem: path for path in BENCHMARKS.glob("*.py")}
    imports: dict[str, set[str]] = {}
    for name, path in scripts.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
        imports[name] = found & set(scripts) - {name}
    return imports


def test_the_benchmarks_have_no_import_circle() -> None:
    imports = benchmark_imports()
    assert "common" in imports["lateness"]  # the scripts' imports of each other are seen
    assert circles(imports) == []
