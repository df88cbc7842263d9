"""examples/llm_agent.py runs end to end against a scripted chat server (test double, real HTTP)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_double():
    spec = importlib.util.spec_from_file_location(
        "openai_double", ROOT / "tests" / "agents" / "openai_double.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_double", module)
    spec.loader.exec_module(module)
    return sys.modules["openai_double"]


@pytest.mark.slow
def test_llm_agent_example_prints_a_graded_reward(tmp_path):
    double = _load_double()
    script = [
        double.call("bash", {"command": "cp -rL base_model/. final_model/"}),
        double.text("Done, I think."),  # a nudge on the way
        double.call("submit"),
    ]
    with double.ChatServer(script) as server:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "llm_agent.py"), "--base-url", server.base_url,
             "--model", "m", "--api-key", "k", "--time-limit", "60", "--max-steps", "5", "--seed", "1"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "reward +0.0000 (status ok, test score " + lines[-1].split("test score ")[1]
    assert "'nudges': 1" in lines[-2] and "'requests': 3" in lines[-2]
    assert [b["model"] for b in server.requests] == ["m"] * 3
    assert lines[0].split()[:2] == ["1", "bash"] and lines[1].split()[:2] == ["2", "submit"]
