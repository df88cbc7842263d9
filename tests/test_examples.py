"""Examples run end to end with tiny settings (as cleanrl runs its scripts in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_quickstart_runs_and_prints_a_graded_reward():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--train-steps", "5", "--examples", "200"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("reward ") and "(status ok," in last, proc.stdout
