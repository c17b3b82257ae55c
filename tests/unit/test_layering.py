"""The functional core stays pure: importing it loads neither gRPC nor Ray."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("grpc", "ray", "aiohttp", "asyncio")


@pytest.mark.parametrize(
    "module", ["ranking", "protocol", "protocol.signing", "protocol.replay", "protocol.hashing"]
)
def test_core_import_loads_no_network_stack(module: str) -> None:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    offending = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert offending == [], f"import {module} loaded {offending}"


def test_ranking_imports_nothing_of_ours() -> None:
    code = "import json, sys; import ranking; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    ours = sorted(m for m in json.loads(out) if m.split(".")[0] in ("protocol", "node", "sim"))
    assert ours == []


def _import_graph() -> dict[str, set[str]]:
    """Every module of ours -> the modules of ours it imports (any depth of the file, lazy
    imports and ``TYPE_CHECKING`` blocks included: a cycle is a cycle wherever it hides)."""
    root = Path(__file__).parents[2]
    modules: dict[str, Path] = {}
    for package in ("protocol", "ranking", "node", "sim", "bench"):
        for path in (root / package).rglob("*.py"):
            if "_pb2" in path.name:
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_among_our_modules() -> None:
    graph = _import_graph()
    assert "node.swarm.node" in graph and "node.round.check" in graph["node.swarm.node"]
    assert _cycles(graph) == []


def test_node_does_not_import_bench() -> None:
    graph = _import_graph()
    offending = sorted(
        (name, dep)
        for name, deps in graph.items()
        if name.startswith("node")
        for dep in deps
        if dep.split(".")[0] == "bench"
    )
    assert offending == []


#: the sizes a newcomer can read in one sitting (issue 16); longer needs a docstring that says
#: why ("must be long")
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80


def _oversized(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        else:
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > limit and "must be long" not in (ast.get_docstring(node) or ""):
            found.append(f"{node.name} ({lines} lines)")
    return found


def test_size_check_finds_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES + 1))
    assert _oversized(f"def long():\n{body}\n") == [f"long ({MAX_FUNCTION_LINES + 2} lines)"]
    excused = f'def long():\n    """It must be long."""\n{body}\n'
    assert _oversized(excused) == []


def test_no_class_or_function_in_node_is_too_long() -> None:
    root = Path(__file__).parents[2]
    offending = {
        str(path.relative_to(root)): found
        for path in sorted((root / "node").rglob("*.py"))
        if "_pb2" not in path.name and (found := _oversized(path.read_text()))
    }
    assert offending == {}
