"""The multi-agent examples run end to end with tiny settings (as cleanrl runs its scripts in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pettingzoo")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = ["--examples", "64", "--train-steps", "2"]


def run(script: str, *args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()


@pytest.mark.slow
def test_audit_example_prints_both_games_with_the_specified_rewards():
    lines = run("multiagent_audit.py", *TINY, "--cheat", "tamper")
    honest, cheater = lines[-2:]
    assert honest.startswith("honest ") and "auditor +3; truth: clean; verdict: clean" in honest
    assert cheater.startswith("cheater (tamper)") and "trainer -1.0000 (status disqualified)" in cheater
    assert "auditor +3; truth: tampered; verdict: tampered" in cheater


@pytest.mark.slow
def test_team_example_prints_rounds_and_a_shared_reward():
    lines = run("multiagent_team.py", *TINY, "--dev-limit", "5")
    assert lines[0] == "round 1: {'curator_0': 'bash'}"
    assert lines[-1].startswith("joint reward {'curator_0': ") and "(status ok," in lines[-1]
