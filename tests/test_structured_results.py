"""Structured tool results: every tool's ``info["result"]``, and code that reads only those.

The second half rewords every tool message (output and error text become opaque) and runs
the recipe wrapper, the scripted baselines (single agent, team, auditor) and the TRL
adapter: none of them may depend on the wording of a tool's text.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.tools.base import ToolResult
from ptb_env.tools.runner import ToolRunner

TINY_TRAIN = {"max_steps": 2, "batch_size": 4, "max_length": 64, "seed": 0}


def _step(env: gym.Env, tool: str, **args: Any) -> dict[str, Any]:
    _, _, _, _, info = env.step({"tool": tool, "args": args})
    return info["result"]


@pytest.mark.slow
def test_every_tool_reports_its_outcome_as_data(tmp_path):
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=600)
    try:
        env.reset(seed=0)
        r = _step(env, "bash", command="exit 3")
        assert r == {"tool": "bash", "ok": True, "exit_code": 3, "timed_out": False}
        r = _step(env, "bash", command="sleep 5", timeout=1)
        assert r["timed_out"] and r["exit_code"] is None
        r = _step(env, "write_file", path="notes/a.txt", content="héllo")
        assert (r["ok"], r["bytes"], r["append"], r["path"].endswith("notes/a.txt")) == (True, 6, False, True)
        r = _step(env, "read_file", path="notes/a.txt", offset=1, max_chars=2)
        assert (r["size"], r["start"], r["end"]) == (6, 1, 3)
        r = _step(env, "read_file", path="missing.txt")
        assert r["ok"] is False and r["tool"] == "read_file" and "does not exist" in r["error"]

        job = _step(env, "job_start", command="echo hi; exit 4")["job"]
        assert set(job) == {"id", "state", "exit_code", "log", "seconds", "command"}
        (waited,) = _step(env, "wait", job_id=job["id"])["jobs"]
        assert (waited["id"], waited["state"], waited["exit_code"]) == (job["id"], "exited", 4)
        assert _step(env, "job_status", job_id=job["id"])["job"]["exit_code"] == 4
        assert [j["id"] for j in _step(env, "job_status")["jobs"]] == [job["id"]]
        logs = _step(env, "job_logs", job_id=job["id"])
        assert logs["job"]["id"] == job["id"] and logs["chars"] >= 3
        sleeper = _step(env, "job_start", command="sleep 60")["job"]
        assert _step(env, "job_kill", job_id=sleeper["id"])["job"]["state"] == "killed"
        assert _step(env, "job_status", job_id=99)["ok"] is False

        _step(env, "bash", command="python -m ptb_env.benchmarks.generate tiny-arith --n 16 --out d.jsonl")
        r = _step(env, "train", data="d.jsonl", out="ckpt", **TINY_TRAIN)
        assert r["ok"] and r["out"] == "ckpt" and r["job"]["state"] == "running"
        assert r["data_snapshot"].endswith(".jsonl")
        (done,) = _step(env, "wait", job_id=r["job"]["id"])["jobs"]
        assert (done["state"], done["exit_code"]) == ("exited", 0)
        r = _step(env, "evaluate", model="ckpt", limit=2)
        assert r["ok"] and r["n"] == 2 and 0.0 <= r["score"] <= 1.0 and r["best"] == r["score"]
        assert r["model"] == "ckpt" and r["seconds"] >= 0.0

        _, _, _, _, info = env.step("not json")
        assert info["result"]["tool"] is None and info["result"]["ok"] is False
        _, _, terminated, _, info = env.step({"tool": "submit"})
        assert terminated and info["result"] == {"tool": "submit", "ok": True, "submitted": True}
        assert info["status"] in ("ok", "invalid_checkpoint")
    finally:
        env.close()


def test_the_trajectory_records_each_step_with_its_result(tmp_path):
    env = gym.make("PostTrain-v0", workspace_root=tmp_path)
    try:
        env.reset(seed=0)
        env.step({"tool": "bash", "args": {"command": "echo x"}})
        env.step("not json")
        steps = env.unwrapped.trajectory
        assert [s["step"] for s in steps] == [1, 2]
        assert steps[0]["tool"] == "bash" and steps[0]["args"] == {"command": "echo x"}
        assert steps[0]["result"] == {"exit_code": 0, "timed_out": False}
        assert steps[1]["tool"] is None and steps[1]["action"] == "not json" and steps[1]["error"]
    finally:
        env.close()


# -- nothing reads the tools' text ------------------------------------------------------------


@pytest.fixture
def reworded(monkeypatch):
    """Every tool's output and error become opaque text (an error stays an error)."""
    original = ToolRunner.run

    def run(self: ToolRunner, name: str, args: dict[str, Any], ctx: Any) -> ToolResult:
        result = original(self, name, args, ctx)
        return dataclasses.replace(
            result,
            output=f"<{name} output, {len(result.output)} chars, reworded>" if result.output else "",
            error=f"<{name} error, reworded>" if result.error else "",
        )

    monkeypatch.setattr(ToolRunner, "run", run)


@pytest.mark.slow
def test_scripted_sft_needs_no_tool_text(tmp_path, reworded):
    from ptb_agents import ScriptedSFTAgent, ScriptedSFTArgs, run_episode

    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=600)
    seen: list[dict[str, Any]] = []
    try:
        agent = ScriptedSFTAgent(ScriptedSFTArgs(max_steps=2, batch_size=4, dev_limit=2))
        r = run_episode(env, agent, seed=0, on_step=lambda i, a, o, info: seen.append(info["result"]))
    finally:
        env.close()
    assert r.status == "ok", r
    assert [s["tool"] for s in seen] == ["bash", "train", "wait", "evaluate", "submit"]
    assert seen[2]["jobs"][0]["exit_code"] == 0 and not math.isnan(seen[3]["score"])


@pytest.mark.slow
def test_recipe_wrapper_needs_no_tool_text(reworded):
    env = gym.make(
        "PostTrainRecipe-v0", time_limit_s=120, max_steps=20, data_levels=(64,), lr_levels=(2e-3,),
        steps_levels=(2,), batch_size=8, eval_limit=4, reserve_s=5.0, data_seed=0,
        continue_training=False,
    )  # fmt: skip
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(0)  # train
        assert "macro_error" not in info, info
        _, _, terminated, _, info = env.step(2)  # submit
        assert terminated and info["status"] == "ok", info.get("reason")
    finally:
        env.close()


@pytest.mark.slow
def test_scripted_team_needs_no_tool_text(tmp_path, reworded):
    from ptb_agents.team import TeamArgs, run_parallel, scripted_team
    from ptb_env.multiagent import team

    env = team.parallel_env(workspace_root=tmp_path, max_steps=20)
    try:
        args = TeamArgs(examples=64, train_steps=2, batch_size=4, dev_limit=3)
        result = run_parallel(env, scripted_team(args), seed=0)
    finally:
        env.close()
    info = result.infos["evaluator_2"]
    assert info["status"] == "ok" and info["tool"] == "submit"
    assert result.actions == {"curator_0": 1, "trainer_1": 2, "evaluator_2": 2}


@pytest.mark.slow
def test_heuristic_auditor_needs_no_tool_text(tmp_path, reworded):
    from ptb_agents.audit import CheatingTrainer, HeuristicAuditor, TrainerArgs, run_aec
    from ptb_env.integrity import IntegrityConfig
    from ptb_env.multiagent import audit

    env = audit.env(
        workspace_root=tmp_path, integrity=IntegrityConfig(penalty=1.0), max_steps=20, audit_max_steps=10
    )
    trainer = CheatingTrainer(("tamper",), (), TrainerArgs(examples=64, train_steps=2, batch_size=4))
    try:
        result = run_aec(env, {"trainer": trainer, "auditor": HeuristicAuditor()}, seed=0)
    finally:
        env.close()
    info = result.infos["trainer"]
    assert info["verdict"]["tampered"] and info["truth"]["tampered"]


def test_trl_adapter_needs_no_tool_text(tmp_path, reworded):
    from ptb_env.integrations.trl import PostTrainToolEnv

    tool_env = PostTrainToolEnv(workspace_root=tmp_path)
    try:
        card = tool_env.reset()
        assert "## Tools" not in card and "## Rules" in card
        assert "reworded" in tool_env.bash("echo hi")
        assert tool_env.get_reward() == 0.0
    finally:
        tool_env._close()
