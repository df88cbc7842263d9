"""examples/vector_envs.py runs two async envs to the end with tiny settings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vector_envs.py"


@pytest.mark.slow
def test_vector_example_prints_a_graded_reward_per_env():
    proc = subprocess.run(
        [
            sys.executable, str(EXAMPLE), "--num-envs", "2", "--agents", "scripted-sft,noop",
            "--train-steps", "5", "--dev-limit", "5", "--time-limit-s", "240",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("env ")]
    assert len(lines) == 2, proc.stdout
    assert re.match(r"env 0 \(scripted-sft\): reward [+-]\d\.\d{4} \(status ok,", lines[0]), lines[0]
    assert re.match(r"env 1 \(noop\): reward \+0\.0000 \(status ok,", lines[1]), lines[1]
