"""Every tool works with ``sandbox="none"``: paths resolve in the episode's workspace, not ``/workspace``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents import ScriptedSFTAgent, ScriptedSFTArgs, run_episode

pytestmark = pytest.mark.filterwarnings("ignore::ptb_env.errors.UnsandboxedWarning")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[gym.Env]:
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, sandbox="none", time_limit_s=600)
    yield env
    env.close()


def call(env: gym.Env, tool: str, **args: Any) -> dict[str, Any]:
    obs, *_ = env.step({"tool": tool, "args": args})
    return obs


def test_file_and_job_tools_stay_in_the_episodes_workspace(env):
    probe = f"ptb-probe-{uuid.uuid4().hex}.txt"
    _, info = env.reset(seed=0)
    root = Path(info["workspace"])
    assert f"Workspace: `{root}`" in info["task_card"]
    assert (root / "TASK.md").read_text() == info["task_card"]

    assert not call(env, "write_file", path=probe, content="hello")["error"]
    assert (root / probe).read_text() == "hello"
    assert call(env, "read_file", path=probe)["output"] == "hello"
    assert call(env, "read_file", path="TASK.md", max_chars=7)["output"].startswith("# Task:")
    for tool, extra in (("read_file", {}), ("write_file", {"content": "x"})):
        obs = call(env, tool, path=f"/workspace/{probe}", **extra)
        assert "There is no /workspace here" in obs["error"] and str(root) in obs["error"]

    started = call(env, "job_start", command=f"cat {probe}")
    assert not started["error"] and f"log {root}/.jobs/1.log" in started["output"]
    assert "(exit code 0)" in call(env, "wait", job_id=1)["output"]
    assert "hello" in call(env, "job_logs", job_id=1)["output"]
    assert "job 1: exited (exit code 0)" in call(env, "job_status")["output"]
    assert not os.path.exists(f"/workspace/{probe}")


@pytest.mark.slow
def test_scripted_sft_episode_runs_unsandboxed(env):
    """data (bash) -> train -> wait -> evaluate -> submit, with the relative paths a researcher writes."""
    steps: list[tuple[str, dict[str, Any]]] = []

    def on_step(i: int, action: dict[str, Any], obs: dict[str, Any], info: dict[str, Any]) -> None:
        steps.append((action["tool"], obs))

    r = run_episode(env, ScriptedSFTAgent(ScriptedSFTArgs(max_steps=3, dev_limit=2)), seed=0, on_step=on_step)
    assert r.status == "ok" and r.terminated, r.reason
    assert [(tool, obs["error"]) for tool, obs in steps if obs["error"]] == []
    assert {"bash", "train", "wait", "evaluate", "submit"} <= {tool for tool, _ in steps}
    evaluated = [obs for tool, obs in steps if tool == "evaluate"]
    assert evaluated and evaluated[-1]["last_dev_score"] == evaluated[-1]["last_dev_score"]  # not NaN
