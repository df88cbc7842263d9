"""Imports point down: no circle between the library's components, no import of its baselines.

The graph is built statically (``tests/perf/import_graph.py``, which also prints its
figures): every import counts, at module level or inside a function, but those under
``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "perf" / "import_graph.py"


@pytest.fixture(scope="module")
def ig():
    spec = importlib.util.spec_from_file_location("ptb_import_graph", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_no_circle_between_the_library_components(ig):
    edges = ig.collapse(ig.graph(), ig.component)
    found = [" -> ".join(ig.cycle_path(edges, c)) for c in ig.circles(edges)]
    assert not found, (
        "Import circles between components (make one side import the other only):\n" + "\n".join(found)
    )


def test_no_circle_between_modules(ig):
    edges = ig.graph()
    found = [" -> ".join(ig.cycle_path(edges, c)) for c in ig.circles(edges)]
    assert not found, "Import circles between modules:\n" + "\n".join(found)


def test_the_library_never_imports_its_baselines(ig):
    ups = sorted({f"{module}:{line} imports {name}" for module, line, name in ig.upward_imports()})
    assert not ups, (
        "ptb_env imports its baselines (take agents from ptb_env.registry instead):\n" + "\n".join(ups)
    )


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones(ig):
    edges, typed = ig.graph(), ig.graph(type_checking=True)
    assert "ptb_env.registry" in edges["ptb_env.cli"]  # imported inside _run
    assert "ptb_env.rollout" not in edges["ptb_env.registry"]  # only under TYPE_CHECKING
    assert "ptb_env.rollout" in typed["ptb_env.registry"]
    assert "ptb_env.tiny.phrasing" in edges["ptb_env.benchmarks.arith"]  # `from a.b import c` reaches a.b


def test_circles_are_found_and_reported_as_a_path(ig):
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert ig.circles(edges) == [["a", "b", "c"]]
    assert ig.cycle_path(edges, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert ig.collapse({"p.x.m": {"p.y.n"}, "p.y.n": {"p.x.k"}}, ig.component) == {
        "p.x": {"p.y"},
        "p.y": {"p.x"},
    }
