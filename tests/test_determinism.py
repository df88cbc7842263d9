"""Same seed, same actions → same checkpoint and same reward (CPU)."""

from __future__ import annotations

import hashlib

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.tasks import get_task

ACTIONS = [
    {"tool": "bash", "args": {"command": "python -m ptb_env.benchmarks.generate tiny-arith --n 400 --seed 3 "
                                         "--out data/train.jsonl"}},
    {"tool": "train", "args": {"data": "data/train.jsonl", "max_steps": 40, "batch_size": 16,
                               "max_length": 160, "learning_rate": 3e-3, "seed": 1}},
    {"tool": "wait", "args": {"job_id": 1}},
    {"tool": "evaluate", "args": {"limit": 20}},
    {"tool": "bash", "args": {"command": "sha256sum final_model/model.safetensors"}},
    {"tool": "submit"},
]  # fmt: skip


def _episode(root) -> tuple[float, str, float, dict]:
    env = gym.make("PostTrain-v0", workspace_root=root)
    try:
        env.reset(seed=7)
        outputs = []
        for action in ACTIONS:
            obs, reward, terminated, truncated, info = env.step(action)
            assert not obs["error"], obs["error"]
            outputs.append(obs["output"])
        assert terminated and info["status"] == "ok", info
        return reward, outputs[4].split()[0], float(obs["last_dev_score"]), info
    finally:
        env.close()


@pytest.mark.slow
def test_same_seed_and_actions_give_the_same_reward(tmp_path):
    a = _episode(tmp_path / "a")
    b = _episode(tmp_path / "b")
    assert a[1] == b[1], "the trained weights differ"
    assert len(a[1]) == 64 and a[1] != hashlib.sha256(b"").hexdigest()
    assert a[0] == b[0] and a[2] == b[2]
    assert a[3]["grade"]["n"] == get_task("tiny-arith").test_limit  # tests/conftest.py's TEST_LIMIT
