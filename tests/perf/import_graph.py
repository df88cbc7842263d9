"""The import graph of ``ptb_env`` and ``ptb_agents``, built statically with ``ast``; prints its circles.

Prints, for the library and its baselines (``agents/``, imported as ``ptb_agents``):

- circles between modules (strongly connected components of two or more modules) and the
  pairs of modules that import each other;
- circles between the library's components: its top-level subpackages and modules
  (``ptb_env.sandbox``, ``ptb_env.tiny``, ``ptb_env.cli``, ...);
- upward imports: a ``ptb_env`` module importing its own baselines (``ptb_agents``/``agents``).

Every import counts, at module level or inside a function, except those under
``if TYPE_CHECKING:`` (they never run). Imports by string (``importlib.import_module``,
entry points) are not seen; they are how the library reaches upward without a circle.
``tests/test_layering.py`` asserts on the same graph.

Run: ``.venv/bin/python tests/perf/import_graph.py [--list]``
"""

from __future__ import annotations

import argparse
import ast
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Import name -> source folder (``agents/`` installs as ``ptb_agents``).
PACKAGES = {"ptb_env": ROOT / "ptb_env", "ptb_agents": ROOT / "agents"}
#: Names under which the library must never import its baselines.
BASELINES = ("ptb_agents", "agents")

Graph = dict[str, set[str]]


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    found = {}
    for name, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under ``node`` at any depth (``if TYPE_CHECKING:`` ones if asked)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and not type_checking:
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), type_checking)
        else:
            yield from _imports(child, type_checking)


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names one import statement of module ``name`` reaches (``from a import b``: ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = name.split(".")
        if _modules()[name].name != "__init__.py":
            package.pop()
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    yield from (f"{base}.{alias.name}" for alias in node.names)


@functools.cache
def _modules() -> dict[str, Path]:
    return modules()


def raw_imports(type_checking: bool = False) -> dict[str, list[tuple[int, str]]]:
    """Each module's imports as (line, dotted name), before resolving them to modules."""
    found: dict[str, list[tuple[int, str]]] = {}
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        imports = _imports(tree, type_checking)
        found[name] = [(node.lineno, t) for node in imports for t in _targets(name, node)]
    return found


def graph(type_checking: bool = False) -> Graph:
    """Module -> the package modules it imports (and imports only for type checkers if asked).

    ``from a import b`` reaches the module ``a.b`` if there is one, else the module ``a``
    (``b`` is a name defined in it).
    """
    known = _modules()
    edges: Graph = {name: set() for name in known}
    for name, imports in raw_imports(type_checking).items():
        for _, target in imports:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges[name].add(target)
    return edges


def component(name: str) -> str:
    """The component of a module: a top-level subpackage or module of the library
    (``ptb_env.sandbox.jobs`` -> ``ptb_env.sandbox``), or the baselines as a whole."""
    parts = name.split(".")
    return "ptb_agents" if parts[0] == "ptb_agents" else ".".join(parts[:2])


def package(name: str) -> str:
    """The top-level package of a module: ``ptb_env`` or ``ptb_agents``."""
    return name.split(".")[0]


def collapse(edges: Graph, key: Callable[[str], str]) -> Graph:
    """The graph between groups of modules (``key`` names a module's group), without self-loops."""
    out: Graph = {}
    for src, targets in edges.items():
        out.setdefault(key(src), set()).update(key(dst) for dst in targets)
    for group, targets in out.items():
        targets.discard(group)
    return out


def circles(edges: Graph) -> list[list[str]]:
    """The strongly connected components with two or more nodes (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def cycle_path(edges: Graph, nodes: list[str]) -> list[str]:
    """One cycle through the first of ``nodes`` (a strongly connected set), as ``[a, b, ..., a]``."""
    inside = set(nodes)
    start = nodes[0]
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first: the shortest way back to ``start``
        v = queue.pop(0)
        for w in sorted(edges.get(v, ()) & inside):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return [start]


def mutual_pairs(edges: Graph) -> list[tuple[str, str]]:
    """Pairs of nodes that import each other."""
    return sorted((a, b) for a, ts in edges.items() for b in ts if a < b and a in edges.get(b, ()))


def upward_imports() -> list[tuple[str, int, str]]:
    """(module, line, name) for each ``ptb_env`` import of the baselines."""
    return [
        (name, line, target)
        for name, imports in raw_imports().items()
        if name.split(".")[0] == "ptb_env"
        for line, target in imports
        if target.split(".")[0] in BASELINES
    ]


def report(edges: Graph, title: str, show: bool) -> None:
    """Print the circles of a graph (and each one, with ``show``)."""
    found, pairs = circles(edges), mutual_pairs(edges)
    print(f"{title}: {len(edges)} nodes, {sum(map(len, edges.values()))} edges, {len(found)} circles "
          f"({sum(map(len, found))} nodes in them), {len(pairs)} pairs importing each other")  # fmt: skip
    if show:
        for c in found:
            print("  circle:", " -> ".join(cycle_path(edges, c)), f"[{len(c)} nodes]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="list each circle and upward import")
    args = ap.parse_args()
    for type_checking in (False, True):
        edges = graph(type_checking)
        suffix = " (with TYPE_CHECKING imports)" if type_checking else ""
        report(edges, f"modules{suffix}", args.list)
        report(collapse(edges, component), f"components{suffix}", args.list)
        report(collapse(edges, package), f"packages{suffix}", args.list)
    ups = sorted({(m, line) for m, line, _ in upward_imports()})
    print(f"upward imports (ptb_env -> ptb_agents): {len(ups)} in {len({m for m, _ in ups})} modules")
    if args.list:
        for m, line in ups:
            print(f"  upward: {m}:{line}")


if __name__ == "__main__":
    main()
