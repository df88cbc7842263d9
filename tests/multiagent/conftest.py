"""Fixtures of the multi-agent tests: env factories (real sandboxes, real grading) and test policies.

The score cache is the test session's (``tests/conftest.py``): the first game of the session
scores the base model (about 10 s), later ones reuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.spaces import ToolCallSpace

TIMING_FREE_TOOLS = ("bash", "read_file", "write_file", "submit", "pass")
"""Tools whose output carries no wall time and no job state (the job tools print ages and
states that depend on timing, ``evaluate`` prints its seconds)."""
SUBMIT_WEIGHT = 0.3
"""Sampling weight of ``submit`` in the timing-free random policy (episodes end by budget or submit)."""


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def make(ws_root: Path) -> Iterator[Callable[..., Any]]:
    """``make(factory, **kwargs)``: an env of a PettingZoo constructor in a temporary root, closed after."""
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    made: list[Any] = []

    def _make(factory: Callable[..., Any], **kwargs: Any) -> Any:
        kwargs.setdefault("workspace_root", ws_root)
        env = factory(**kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def timing_free(space: ToolCallSpace, tools: dict[str, Any]) -> ToolCallSpace:
    """The same action space, sampling only tools whose outputs are the same in every run.

    ``contains`` is unchanged (every call stays valid); only the random policy of the seed
    tests is narrowed.
    """
    weights = {
        name: (SUBMIT_WEIGHT if name == "submit" else getattr(tools.get(name), "sample_weight", 1.0))
        if name in TIMING_FREE_TOOLS
        else 0.0
        for name in space.schemas
    }
    return ToolCallSpace(space.schemas, space.samplers, weights)


def nan_equal(a: Any, b: Any, exact: bool = False) -> bool:
    """Gymnasium's ``data_equivalence`` with NaN equal to NaN in float arrays (and exact floats).

    The observations use NaN for "no dev score yet"; ``data_equivalence`` compares arrays with
    ``np.allclose``, for which NaN differs from itself, so two identical runs would not compare
    equal.
    """
    from gymnasium.utils.env_checker import data_equivalence

    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(nan_equal(a[k], b[k], exact) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(nan_equal(x, y, exact) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True))
    return data_equivalence(a, b, exact)


@pytest.fixture
def restrict_to_timing_free() -> Callable[[ToolCallSpace, dict[str, Any]], ToolCallSpace]:
    """:func:`timing_free`, for tests."""
    return timing_free


@pytest.fixture
def seed_tests(monkeypatch: pytest.MonkeyPatch) -> Any:
    """PettingZoo's ``pettingzoo.test.seed_test`` module, comparing data with :func:`nan_equal`."""
    import importlib

    # (``pettingzoo.test.seed_test`` the attribute is the function; the module is in sys.modules)
    module = importlib.import_module("pettingzoo.test.seed_test")
    monkeypatch.setattr(module, "data_equivalence", nan_equal)
    return module
