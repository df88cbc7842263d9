"""Where the package keeps its shipped data, public and private.

The private directory holds what an agent must never read: the hidden test
splits (and, later, anything else the grader alone uses). The sandbox masks it
(and ``private_paths()``) even though the rest of ``ptb_env`` stays importable
inside the sandbox.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TINY_MODEL_DIR = PACKAGE_DIR / "tiny" / "model"
PUBLIC_DATA_DIR = PACKAGE_DIR / "benchmarks" / "data"
PRIVATE_DIR = PACKAGE_DIR / "_private"


def private_paths() -> list[Path]:
    """Paths inside the package that the sandbox must hide from the agent."""
    return [PRIVATE_DIR]
