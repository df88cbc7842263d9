"""The compute budget (``budget="compute"``): its ledger, its charges, and attacks on its metering.

The env tests run real bubblewrap sandboxes; the charges are checked through ``env.step``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from ptb_env import compute
from ptb_env.budget import Budget, Compute
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.tasks import get_task
from ptb_env.tasks.card import render_task_card
from ptb_env.tools import default_tools

TINY_PARAMS = 1_968_064


# -- the ledger and the costs -----------------------------------------------------------


def test_compute_ledger_counts_and_holds():
    held = [False]
    ledger = Compute(1.0, hold=lambda: held[0])
    budget = Budget(Budget.from_limits().wall_clock, compute=ledger)
    assert budget.left()["compute_tflop"] == 1.0 and not budget.exhausted()
    ledger.charge(0.4)
    ledger.charge(-5)  # a negative charge is no refund
    assert math.isclose(budget.left()["compute_tflop"], 0.6)
    ledger.charge(0.7)
    assert budget.left()["compute_tflop"] == 0.0 and budget.exhausted_ledgers() == ["compute_tflop"]
    held[0] = True  # paid work still runs: the episode goes on
    assert not budget.exhausted()
    budget.reset()
    assert budget.left()["compute_tflop"] == 1.0
    assert Budget.from_limits().left()["compute_tflop"] == math.inf
    with pytest.raises(ValueError, match="positive compute budget"):
        Compute(0.0)


def test_costs_follow_the_parameter_count():
    assert compute.count_parameters(TINY_MODEL_DIR) == TINY_PARAMS
    assert compute.train_step_tflop(TINY_PARAMS, 32, 112) == pytest.approx(6 * TINY_PARAMS * 32 * 112 / 1e12)
    assert compute.eval_tflop(TINY_PARAMS, 100) == pytest.approx(2 * TINY_PARAMS * 256 * 100 / 1e12)
    info = compute.describe(TINY_PARAMS, 12.0)
    assert info["tflop"] == 12.0 and info["cpu_second_tflop"] == compute.CPU_SECOND_TFLOP


def test_sample_lengths_reads_a_bounded_head(tmp_path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(TINY_MODEL_DIR)
    ex = {"messages": [{"role": "user", "content": "what is 2 + 2"}, {"role": "assistant", "content": "4"}]}
    data = tmp_path / "d.jsonl"
    with open(data, "w") as f:
        f.write("not json\n" + json.dumps({"messages": "no"}) + "\n" + json.dumps(ex) + "\n")
        long = {"messages": [{"role": "user", "content": "x" * (8 << 20)}]}
        f.write(json.dumps(long) + "\n")  # past the head that is read
    lengths = compute.sample_lengths(tok, data, 64)
    assert len(lengths) == 1 and 0 < lengths[0] < 64


def test_card_states_the_compute_budget():
    task = get_task("tiny-arith")
    assert task.compute_tflop == pytest.approx(300 * compute.TINY_TFLOP_PER_S)
    card = render_task_card(task, default_tools(), compute_params=TINY_PARAMS)
    assert f"{task.compute_tflop:g} TFLOP of compute" in card and "per CPU second" in card
    assert "TFLOP" not in render_task_card(task, default_tools())


def test_bad_budget_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="budget 'time' or 'compute'"):
        gym.make("PostTrain-v0", budget="flops")
    with pytest.raises(ValueError, match='pass budget="compute"'):
        gym.make("PostTrain-v0", compute_tflop=3.0)


# -- through env.step -----------------------------------------------------------------


@pytest.fixture
def make_env(make_env: Callable[..., gym.Env]) -> Callable[..., gym.Env]:
    """The suite's env factory (``tests/conftest.py``), on the compute budget unless told."""

    def _make(**kwargs: Any) -> gym.Env:
        kwargs.setdefault("budget", "compute")
        return make_env(**kwargs)

    return _make


def step(env: gym.Env, tool: str, **args: Any) -> tuple[dict, float, bool, bool, dict]:
    return env.step({"tool": tool, "args": args})


def left(obs: dict) -> float:
    return float(obs["budget"]["compute_left"])


BURN = "python3 -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass'"


def test_reset_shows_the_compute_budget(make_env):
    env = make_env()
    obs, info = env.reset(seed=0)
    assert left(obs) == pytest.approx(12.0) and info["compute"]["params"] == TINY_PARAMS
    assert info["benchmark"] == "tiny-arith"
    assert float(obs["budget"]["seconds_left"]) == pytest.approx(300 * compute.WALL_CLOCK_FACTOR, rel=0.01)
    assert "TFLOP of compute" in info["task_card"]
    obs, *_ = step(env, "bash", command="timer")
    assert "compute left:" in obs["output"]


def test_the_agents_cpu_time_is_charged_even_when_its_processes_are_gone(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    start = left(obs)
    obs, *_ = step(env, "bash", command=BURN.format(s=1.5))
    burnt = start - left(obs)
    assert burnt >= 1.4 * compute.CPU_SECOND_TFLOP, burnt
    if env.unwrapped._sandbox._cgroup is None or env.unwrapped._sandbox._cgroup.cpu_seconds() is None:
        pytest.skip("no cgroup CPU accounting here: a tree that dies between samples is not counted")
    # a detached burner, then every process of the sandbox killed before the env samples
    before = left(obs)
    burner = BURN.format(s=1.5).replace("'", '"')
    detached = f"setsid sh -c '{burner}; touch /tmp/burnt' >/dev/null 2>&1 &"
    step(env, "bash", command=f"{detached} while [ ! -e /tmp/burnt ]; do sleep 0.1; done; kill -9 -1")
    obs, *_ = step(env, "bash", command="true")
    assert before - left(obs) >= 1.4 * compute.CPU_SECOND_TFLOP


def test_a_command_that_computes_past_the_budget_is_killed_at_once(make_env):
    """Charged only at the step's end, one long command could use any amount of compute."""
    env = make_env(compute_tflop=0.1)  # 5 CPU seconds' worth
    env.reset(seed=0)
    t0 = time.monotonic()
    obs, _, term, trunc, info = step(env, "bash", command=BURN.format(s=120), timeout=300)
    assert time.monotonic() - t0 < 60
    assert trunc and not term and info["truncated_by"] == ["compute_tflop"], info
    assert info["status"] == "invalid_checkpoint", info  # graded as the base model: no checkpoint
    assert "compute budget exhausted" in obs["output"] + obs["error"], obs


def _data(env: gym.Env, n: int = 64) -> None:
    command = f"python -m ptb_env.benchmarks.generate tiny-arith --n {n} --out data/t.jsonl"
    obs, *_ = step(env, "bash", command=command)
    assert obs["error"] == "", obs


def test_train_is_charged_for_its_steps_and_its_cpu_is_not_the_agents(make_env):
    env = make_env(compute_tflop=1.0)
    env.reset(seed=0)
    _data(env)
    obs, *_ = step(env, "bash", command="true")
    before = left(obs)
    obs, _, _, _, info = step(env, "train", data="data/t.jsonl", max_steps=2, batch_size=4)
    paid = info["result"]["compute"]
    assert paid["steps"] == 2 and paid["max_length"] % 8 == 0
    step_tflop = compute.train_step_tflop(TINY_PARAMS, 4, paid["max_length"])
    assert paid["tflop"] == pytest.approx(step_tflop * 2 + compute.job_start_tflop())
    assert before - left(obs) == pytest.approx(paid["tflop"], abs=0.02)
    command = info["result"]["job"]["command"]
    assert "--max-steps '2'" in command and "--max-seconds" not in command
    assert f"--max-length '{paid['max_length']}'" in command
    after_start = left(obs)
    job = info["result"]["job"]["id"]
    obs, *_ = step(env, "wait", job_id=job)
    assert obs["error"] == "" and "exited (exit code 0)" in obs["output"], obs
    # the job loaded torch and a model (seconds of CPU): none of it is the agent's, bar the
    # last sampling interval
    assert after_start - left(obs) < 1.5 * compute.CPU_SECOND_TFLOP
    assert (env.unwrapped.workspace.root / "final_model" / "model.safetensors").is_file()


def test_a_paid_train_job_runs_none_of_the_agents_code(make_env):
    """The job's CPU time is credited, not charged: code the agent slips into it would run free."""
    env = make_env(compute_tflop=1.0)
    env.reset(seed=0)
    _data(env)
    hook = "open('/workspace/ran', 'w').write('agent code ran in the job')\n"
    step(env, "write_file", path="evil/sitecustomize.py", content=hook)
    step(env, "write_file", path="evil/usercustomize.py", content=hook)
    step(env, "write_file", path="ptb_env/__init__.py", content=hook)  # shadows the package from the cwd
    step(env, "write_file", path="ptb_env/training/__init__.py", content=hook)
    step(env, "write_file", path="ptb_env/training/sft.py", content=hook)
    step(env, "bash", command="export PYTHONPATH=/workspace/evil PYTHONSTARTUP=/workspace/evil/x.py")
    obs, _, _, _, info = step(env, "train", data="data/t.jsonl", max_steps=1, batch_size=4)
    assert obs["error"] == "", obs
    assert "env -i" not in info["result"]["job"]["command"]  # the agent sees its command, not the wrapper
    obs, *_ = step(env, "wait", job_id=info["result"]["job"]["id"])
    assert "exited (exit code 0)" in obs["output"], obs
    assert not (env.unwrapped.workspace.root / "ran").exists()


def test_train_refuses_what_the_budget_cannot_pay(make_env):
    env = make_env(compute_tflop=0.05)
    env.reset(seed=0)
    _data(env)
    obs, *_ = step(env, "train", data="data/t.jsonl", max_tflop=1e-6)
    assert "Not one training step fits" in obs["error"]
    assert not list((env.unwrapped.workspace.control_dir / "train_data").iterdir())  # no snapshot kept
    obs, *_ = step(env, "evaluate", model="base_model", limit=1000)
    assert "costs" in obs["error"] and "smaller limit" in obs["error"]


def test_max_tflop_is_refused_on_the_time_budget(make_env):
    env = make_env(budget="time")
    obs, _ = env.reset(seed=0)
    assert left(obs) == math.inf
    obs, *_ = step(env, "train", data="data/t.jsonl", max_tflop=1.0)
    assert "compute budget only" in obs["error"]


def test_evaluate_is_charged_per_item(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    before = left(obs)
    obs, _, _, _, info = step(env, "evaluate", model="base_model", limit=8)
    assert info["result"]["n"] == 8
    charged = before - left(obs)
    assert compute.eval_tflop(TINY_PARAMS, 8) - 1e-9 <= charged < compute.eval_tflop(TINY_PARAMS, 8) + 0.2


def test_an_empty_budget_waits_for_the_paid_job_then_ends(make_env):
    env = make_env(compute_tflop=0.4)
    env.reset(seed=0)
    _data(env)
    args = {"data": "data/t.jsonl", "batch_size": 4, "max_length": 64, "max_tflop": 0.4, "max_steps": 10**5}
    obs, _, term, trunc, info = step(env, "train", **args)
    steps = info["result"]["compute"]["steps"]
    assert re.search(rf"--max-steps '?{steps}\b", info["result"]["job"]["command"])
    assert steps >= 1 and left(obs) < compute.train_step_tflop(TINY_PARAMS, 4, 64)
    assert not (term or trunc)  # the job it paid for runs: the agent may wait for it
    job = info["result"]["job"]["id"]
    for _ in range(60):
        obs, _, term, trunc, info = step(env, "wait", job_id=job, seconds=5)
        if term or trunc or "exited" in obs["output"]:
            break
    if not (term or trunc):  # what is left is less than a step: the agent's own CPU time spends it
        obs, _, term, trunc, info = step(env, "bash", command=BURN.format(s=0.5))
    assert trunc and info["truncated_by"] == ["compute_tflop"], info
    assert info["status"] == "ok"  # the checkpoint the job wrote was graded


@pytest.mark.slow
def test_the_same_agent_and_seed_earn_the_same_reward(make_env):
    """The point of the budget: the reward depends on the policy, not on the machine's speed."""
    from ptb_env.registry import make_agent
    from ptb_env.rollout import run_episode

    rewards, steps = [], []
    for _ in range(2):
        env = make_env(compute_tflop=0.8)
        t0 = time.perf_counter()
        r = run_episode(env, make_agent("scripted-sft", env), seed=0)
        env.close()
        assert r.status == "ok", r
        rewards.append(r.reward)
        steps.append(time.perf_counter() - t0)
    assert rewards[0] == rewards[1], (rewards, steps)
