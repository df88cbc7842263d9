"""The wire tests import their shared plan and helpers from ``wire_plan.py`` beside them (the
suite runs in pytest's importlib mode, which puts no test directory on ``sys.path``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
