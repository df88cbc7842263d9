"""The env docs list every registered configuration (so they cannot drift)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

import ptb_env

DOC = Path(__file__).resolve().parents[1] / "docs" / "env.md"


def test_env_doc_lists_every_registered_id_with_its_budget():
    text = DOC.read_text()
    ids = [i for i in gym.registry if i.startswith("PostTrain-")]
    assert ids
    for env_id in ids:
        task = ptb_env.get_task(gym.spec(env_id).kwargs["task"])
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{env_id}` |")), None)
        assert row is not None, f"{env_id} missing from docs/env.md"
        assert f"| `{task.id}` |" in row and f"| {task.time_limit_s:g} s" in row
        assert task.max_steps is None or f"{task.max_steps} steps" in row
