"""No import cycle anywhere in the operator, the runtime or the dev tooling.

Every import counts: at module level, inside a function and under
``if TYPE_CHECKING:``. An import moved into a function still ties the two
modules together; it only hides the cycle from Python until the day the
function runs first. A cycle is a strongly connected component of more than
one module in the graph of which module imports which; the test prints one
path around each, with the file and line of every import on it.

The modules are read with :mod:`ast`, never imported, so no server and no
optional dependency is needed.
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each part is a distribution whose code sits at <part>/src/storefleet/<part>/.
PARTS = {
    "cli": "storefleet.cli",
    "operator": "storefleet.operator",
    "runtime": "storefleet.runtime",
    "dev": "storefleet.dev",
}


def source(part: str) -> Path:
    """A part's package folder, relative to the repository."""
    return Path(part, "src", "storefleet", part)


# (importing module, imported module) -> where: "path:line"
Edges = dict[tuple[str, str], str]


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the parts, by its dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for part, package in PARTS.items():
        for path in sorted((root / source(part)).rglob("*.py")):
            relative = path.relative_to(root / source(part)).with_suffix("").parts
            if relative[-1] == "__init__":
                relative = relative[:-1]
            found[".".join((package, *relative))] = path
    return found


def _package_of(name: str, path: Path) -> str:
    """The package a relative import starts from."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _known(target: str, names: Mapping[str, Path]) -> str | None:
    """The module ``target`` loads, or None when it is not one of ours."""
    while target and target not in names:
        target = target.rpartition(".")[0]
    return target or None


def _targets(node: ast.Import | ast.ImportFrom, name: str, path: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = _package_of(name, path).split(".")
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        # ``from pkg import name``: the module pkg.name when there is one, else pkg.
        yield f"{base}.{alias.name}"


def import_edges(names: Mapping[str, Path], root: Path = ROOT) -> Edges:
    edges: Edges = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):  # every import, however deeply nested
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, name, path):
                imported = _known(target, names)
                if imported is not None and imported != name:
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    edges.setdefault((name, imported), where)
    return edges


def strongly_connected(nodes: list[str], edges: Edges) -> list[list[str]]:
    """Tarjan's algorithm, without recursion; components of more than one module."""
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target in sorted(edges):
        successors[source].append(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(successors[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def a_cycle(component: list[str], edges: Edges) -> list[str]:
    """One path from the component's first module back to it, inside the component."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for source, target in sorted(edges):
            if source != node or target not in members:
                continue
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def describe(component: list[str], edges: Edges) -> str:
    path = a_cycle(component, edges)
    steps = [
        f"    {source} -> {target}  ({edges[source, target]})" for source, target in pairwise(path)
    ]
    return f"  {len(component)} modules: {', '.join(component)}\n" + "\n".join(steps)


def _tree(root: Path, files: Mapping[str, str]) -> None:
    """Writes ``files``, named as in their part ("runtime/shop/a.py"), where that part's
    code sits."""
    for part in PARTS:
        (root / source(part)).mkdir(parents=True)
    for name, text in files.items():
        (root / at(name)).parent.mkdir(parents=True, exist_ok=True)
        (root / at(name)).write_text(text)


def at(name: str) -> str:
    """Where "runtime/shop/a.py:2" sits in the repository."""
    part, _, rest = name.partition("/")
    return f"{source(part)}/{rest}"


def test_every_kind_of_import_is_an_edge(tmp_path: Path) -> None:
    """Where cycles hide: in functions, under TYPE_CHECKING, in relative imports."""
    _tree(
        tmp_path,
        {
            "runtime/shop/__init__.py": "",
            # ``from package import module`` is an import of the module;
            # ``from module import name`` of the module; others' modules are no edge.
            "runtime/shop/a.py": "import json\nfrom storefleet.runtime.shop import b\n",
            "runtime/shop/b.py": "def later():\n    from .c import thing\n",
            "runtime/shop/c.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from .. import shop\n"
                "thing = 1\n"
            ),
            "operator/d.py": "import storefleet.runtime.shop.a\nfrom storefleet.dev import e\n",
            "dev/e.py": "from ..runtime.shop.a import nothing_of_note\n",
        },
    )
    names = modules(tmp_path)
    assert set(names) == {
        "storefleet.runtime.shop",
        "storefleet.runtime.shop.a",
        "storefleet.runtime.shop.b",
        "storefleet.runtime.shop.c",
        "storefleet.operator.d",
        "storefleet.dev.e",
    }
    edges = import_edges(names, tmp_path)
    assert edges == {
        ("storefleet.runtime.shop.a", "storefleet.runtime.shop.b"): at("runtime/shop/a.py:2"),
        ("storefleet.runtime.shop.b", "storefleet.runtime.shop.c"): at("runtime/shop/b.py:2"),
        ("storefleet.runtime.shop.c", "storefleet.runtime.shop"): at("runtime/shop/c.py:3"),
        ("storefleet.operator.d", "storefleet.runtime.shop.a"): at("operator/d.py:1"),
        ("storefleet.operator.d", "storefleet.dev.e"): at("operator/d.py:2"),
        ("storefleet.dev.e", "storefleet.runtime.shop.a"): at("dev/e.py:1"),
    }
    # A package importing nothing takes part in no cycle.
    assert strongly_connected(sorted(names), edges) == []


def test_a_cycle_is_found_and_printed_with_its_imports(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "runtime/shop/__init__.py": "from . import a\n",
            "runtime/shop/a.py": "from .b import thing\n",
            "runtime/shop/b.py": "def later():\n    from . import a\n",
            "runtime/shop/c.py": "from . import a\n",
        },
    )
    names = modules(tmp_path)
    edges = import_edges(names, tmp_path)
    # The package and c import a, but nothing in the cycle imports them back.
    [component] = strongly_connected(sorted(names), edges)
    assert component == ["storefleet.runtime.shop.a", "storefleet.runtime.shop.b"]
    a, b = "storefleet.runtime.shop.a", "storefleet.runtime.shop.b"
    assert describe(component, edges).splitlines()[1:] == [
        f"    {a} -> {b}  ({at('runtime/shop/a.py:1')})",
        f"    {b} -> {a}  ({at('runtime/shop/b.py:2')})",
    ]


def test_no_module_takes_part_in_an_import_cycle() -> None:
    names = modules()
    edges = import_edges(names)
    # The walk reads the real tree (not an empty folder by mistake).
    assert len(names) > 200
    assert len(edges) > 400
    cycles = strongly_connected(sorted(names), edges)
    assert not cycles, "import cycles:\n" + "\n".join(describe(c, edges) for c in cycles)
