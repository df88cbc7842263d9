"""The TRL GRPO adapter: the tool env alone, then one real GRPO step through the example."""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptb_env.env import PostTrainEnv
from ptb_env.integrations.trl import (
    TOOL_NAMES,
    PostTrainEnvFactory,
    PostTrainToolEnv,
    make_grpo_dataset,
    tool_calling_tokenizer,
    tool_env_class,
)
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.rollout import OUTCOME_FIELDS, EpisodeResult

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "grpo_meta_agent.py"
TINY = {"time_limit_s": 60, "max_steps": 4}


def _tools_trl_sees(cls: type) -> set[str]:
    """The tool names GRPOTrainer 1.16 extracts from an env class (its own rule, re-stated)."""
    return {
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    }


def test_tool_methods_mirror_the_env_schemas():
    from transformers.utils import get_json_schema

    env = PostTrainToolEnv(**TINY)
    ref = {s["function"]["name"]: s["function"] for s in PostTrainEnv().tool_schemas}
    assert _tools_trl_sees(PostTrainToolEnv) == set(ref) == set(TOOL_NAMES)
    for name in TOOL_NAMES:
        schema = get_json_schema(getattr(env, name))["function"]
        params, want = schema["parameters"], ref[name]["parameters"]
        assert schema["description"] == ref[name]["description"]
        assert list(params["properties"]) == list(want["properties"]), name
        assert params.get("required", []) == want["required"], name
        for arg, spec in params["properties"].items():
            assert spec["type"] == want["properties"][arg]["type"], (name, arg)


def test_tool_subset_hides_the_other_tools_and_rejects_unknown_names():
    cls = tool_env_class(["bash", "submit"])
    assert _tools_trl_sees(cls) == {"bash", "submit"}
    with pytest.raises(ValueError, match="Expect tools among"):
        tool_env_class(["bash", "sudo"])


def test_factory_takes_a_rollout_env_class_or_tools_not_both():
    from ptb_agents.bc import TOOLS, policy_env_class

    cls = policy_env_class()
    with pytest.raises(ValueError, match="not both"):
        PostTrainEnvFactory(tools=["bash"], env_class=cls, **TINY)
    with pytest.raises(ValueError, match="subclass of PostTrainToolEnv"):
        PostTrainEnvFactory(env_class=dict, **TINY)  # type: ignore[arg-type]
    with PostTrainEnvFactory("tiny-arith-short", env_class=cls, **TINY) as factory:
        env = factory()
        assert type(env) is cls and _tools_trl_sees(cls) == set(TOOLS)


def test_bad_keywords_fail_at_construction():
    with pytest.raises(TypeError):
        PostTrainEnvFactory(time_limit=30)
    with pytest.raises(ValueError, match="task_card"):
        PostTrainToolEnv(task_card="short")
    with pytest.raises(ValueError, match="n >= 1"):
        make_grpo_dataset("tiny-arith", 0)


def test_dataset_rows_carry_prompt_task_and_seed():
    ds = make_grpo_dataset("tiny-arith", 3, seed=5)
    assert ds["seed"] == [5, 6, 7] and set(ds["task"]) == {"tiny-arith"}
    assert ds[0]["prompt"][0]["role"] == "user"


def test_tiny_tokenizer_gets_a_tool_calling_template_trl_accepts():
    from trl.chat_template_utils import add_response_schema, parse_response, supports_tool_calling

    tok = tool_calling_tokenizer(str(TINY_MODEL_DIR))
    assert supports_tool_calling(tok)
    add_response_schema(tok)  # raises for a template TRL does not know how to parse
    text = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call><|im_end|>'
    prefix = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    parsed = parse_response(tok, tok(text)["input_ids"], prefix=list(prefix["input_ids"]))
    assert parsed["tool_calls"][0]["function"] == {"name": "bash", "arguments": {"command": "ls"}}


@pytest.mark.slow
def test_tools_drive_the_episode_and_get_reward_grades_it():
    with PostTrainEnvFactory("tiny-arith", **TINY) as factory:
        env = factory()
        card = env.reset(task="tiny-arith", seed=0, prompt=[{"role": "user", "content": "x"}])
        assert "tiny-arith" in card and "## Tools" not in card
        workspace = env._env.workspace.root
        out = env.bash(command="cp -rL base_model/. final_model/ && ls final_model | head -3")
        assert "config.json" in out and "[budget]" in out
        out = env.submit()
        assert "episode over: you submitted" in out
        assert "over" in env.bash(command="ls")  # after the end: told, not run
        reward = env.get_reward()
        rec = factory.episodes[-1]
        assert rec.status == "ok" and reward == 0.0 and rec.uplift == 0.0  # the base model, unchanged
        assert rec.submitted_by_policy and rec.tools == ["bash", "submit", "bash"] and rec.steps == 2
        assert isinstance(rec, EpisodeResult) and rec.terminated and rec.checkpoint and rec.info == {}
        assert list(rec.to_dict()) == [*OUTCOME_FIELDS, "tools", "submitted_by_policy"]
        assert not workspace.exists()  # graded episodes release their workspace
        with pytest.raises(RuntimeError, match="reset"):
            env.get_reward()


@pytest.mark.slow
def test_unsubmitted_episode_is_graded_by_get_reward():
    env = PostTrainToolEnv("tiny-arith", task_card="brief", **TINY)
    try:
        card = env.reset(seed=1)
        assert "## Rules" not in card and "Budget" in card
        env.write_file(path="notes.txt", content="nothing")
        reward = env.get_reward()
        rec = env.last_record
        assert rec.status == "invalid_checkpoint" and reward == 0.0 and not rec.submitted_by_policy
        assert "final_model" in rec.reason
        env.reset(seed=2)  # the pooled instance starts a fresh episode
        assert env.read_file(path="TASK.md").startswith("# Task")
    finally:
        env._close()
    assert env._env.workspace is None


@pytest.mark.slow
def test_example_runs_a_real_grpo_step_on_cpu_with_graded_rewards(tmp_path):
    """One GRPO optimizer step: tiny policy, two rollouts, each a real graded episode."""
    cmd = [sys.executable, str(EXAMPLE), "--steps", "1", "--num-generations", "2", "--time-limit", "90",
           "--max-env-steps", "3", "--max-completion-length", "160", "--max-tool-calls", "2",
           "--output-dir", str(tmp_path / "out")]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env={**os.environ})
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY "))
    summary = json.loads(line.removeprefix("SUMMARY "))
    assert summary["global_step"] == 1 and len(summary["losses"]) == 1
    assert math.isfinite(summary["losses"][0]) and math.isfinite(summary["mean_rewards"][0])
    episodes = summary["episodes"]
    assert len(episodes) == 2  # one graded episode per rollout
    for ep in episodes:
        assert ep["status"] in ("ok", "invalid_checkpoint"), ep
        assert math.isfinite(ep["reward"]) and math.isfinite(ep["base_score"])
    print(f"GRPO example: {seconds:.1f} s wall, step {summary['step_seconds'][0]:.1f} s, episodes {episodes}")


@pytest.mark.slow
def test_a_grpo_step_from_the_cloned_policy_has_a_learning_signal(tmp_path):
    """One GRPO step from the shipped cloned policy (``ptb_env/tiny/policy``) on the short task:
    two rollouts, each a real graded episode on the compute budget; their rewards differ, so the
    group-normalized advantages are not all zero (issue "Meta-agent RL that learns", item 4).

    Two, not four: each rollout trains for the task's whole budget (86 s for the step against 223 s
    with four, on one CPU). The compute budget and the seeded sampling make the rewards the same
    on any machine and load (+0.000 and +0.070 here), so this does not depend on luck."""
    from ptb_env.paths import TINY_POLICY_DIR

    script = Path(__file__).resolve().parents[1] / "perf" / "grpo_curve.py"
    cmd = [sys.executable, str(script), "--policy", str(TINY_POLICY_DIR), "--steps", "1",
           "--num-generations", "2", "--no-eval", "--out", str(tmp_path / "grpo")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-3000:]
    curve = json.loads((tmp_path / "grpo" / "grpo_curve.json").read_text())["curve"]
    (step,) = curve["steps"]
    rewards = step["rewards"]
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    assert max(rewards) > min(rewards), rewards  # reward variance within the group
    advantages = curve["advantages"]
    assert len(advantages) == 2 and any(abs(a) > 1e-3 for a in advantages), advantages
    assert (tmp_path / "grpo" / "policy" / "model.safetensors").is_file()
    print(f"GRPO step from the cloned policy: rewards {rewards}, advantages {advantages}")
