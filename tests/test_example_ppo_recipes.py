"""examples/ppo_recipes.py runs end to end with tiny settings and prints each episode's reward."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ppo_recipes.py"


@pytest.mark.slow
def test_ppo_recipes_prints_two_episode_rewards():
    tiny = {
        "--episodes": 2,
        "--time-limit": 60,
        "--max-steps": 12,
        "--data-levels": "64",
        "--lr-levels": "2e-3",
        "--steps-levels": "3",
        "--batch-size": 8,
        "--eval-limit": 10,
        "--reserve-s": 5,
        "--data-seed": 0,
        "--n-steps": 4,
    }
    argv = [sys.executable, str(EXAMPLE), *(str(x) for kv in tiny.items() for x in kv)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    episodes = [
        ln for ln in lines if re.match(r"episode \d+ reward [+-]\d+\.\d{3} \(status \w+, \d+ actions", ln)
    ]
    assert len(episodes) >= 2, proc.stdout
    assert lines[-1].startswith(f"done: {len(episodes)} episodes, mean reward "), proc.stdout
