"""PostTrain-v0 vector-env throughput: N async envs against one env, same fixed episodes.

    python tests/perf/perf_vector.py [--num-envs 2] [--train-steps 40] [--eval-limit 40]
                                     [--cpus-per-env 1] [--time-limit-s 600]

Every episode does the same fixed work: generate training data in the sandbox, train
``--train-steps`` optimizer steps (a background job), wait for it, evaluate on
``--eval-limit`` dev items, submit (graded on the hidden test split). Episode ``i`` uses
seed ``i`` in both runs, so both do the same episodes.

Prints, measured in this run:
- the reference: one env (``gym.make``, torch's default threads) running ``num_envs``
  episodes one after another, in episodes per hour; and the same with the vector's
  per-env ``SandboxConfig(cpus=...)``;
- ``gym.make_vec(..., vectorization_mode="async")`` with ``num_envs`` envs running one
  episode each at once, each sandbox given ``SandboxConfig(cpus=cpus_per_env)`` (1 thread
  per training job and per host-side evaluation; 0: no quota, torch's default threads);
- the ratios (goal >= 1.6 for 2 envs on 2 cores).

Each run gets its own score cache, warmed with the base model's score only, so no
episode's grading is a cache hit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def plan(seed: int, a: argparse.Namespace) -> list[dict]:
    """The fixed tool calls of one episode (the job id is 1: the episode's first job)."""
    gen = (
        f"python -m ptb_env.benchmarks.generate {a.task} --n {a.train_steps * 16} --seed {seed} "
        "--out data/train.jsonl"
    )
    train = {"data": "data/train.jsonl", "max_steps": a.train_steps, "batch_size": 16, "seed": seed}
    return [
        {"tool": "bash", "args": {"command": gen}},
        {"tool": "train", "args": train},
        {"tool": "wait", "args": {"job_id": 1}},
        {"tool": "evaluate", "args": {"limit": a.eval_limit}},
        {"tool": "submit", "args": {}},
    ]


def main() -> None:
    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers the envs
    from ptb_env.sandbox import SandboxConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-envs", type=int, default=2)
    p.add_argument("--task", default="tiny-arith")
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--eval-limit", type=int, default=40)
    p.add_argument("--cpus-per-env", type=float, default=1.0)
    p.add_argument("--time-limit-s", type=float, default=600.0)
    a = p.parse_args()
    n = a.num_envs
    root = Path(tempfile.mkdtemp(prefix="ptb-perf-vector-"))
    env_id = f"PostTrain-{a.task}-v0"
    common = {"time_limit_s": a.time_limit_s, "workspace_root": root / "ws"}

    # warm the base score once, then give each run a copy of that cache
    warm = gym.make(env_id, score_cache_dir=root / "warm", **common)
    warm.reset(seed=0)
    warm.close()
    for run in ("single", "single_quota", "vector"):
        shutil.copytree(root / "warm", root / run)
    config = SandboxConfig(cpus=a.cpus_per_env) if a.cpus_per_env > 0 else None

    def sequential(cache: str, sandbox_config) -> tuple[float, list]:
        env = gym.make(env_id, score_cache_dir=root / cache, sandbox_config=sandbox_config, **common)
        rewards = []
        t = time.perf_counter()
        for seed in range(n):
            env.reset(seed=seed)
            for action in plan(seed, a):
                _, reward, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            rewards.append((round(reward, 4), info.get("status")))
        seconds = time.perf_counter() - t
        env.close()
        return seconds, rewards

    single_s, single_rewards = sequential("single", None)
    quota_s, quota_rewards = sequential("single_quota", config) if config is not None else (None, None)

    venv = gym.make_vec(
        env_id, num_envs=n, vectorization_mode="async", score_cache_dir=root / "vector",
        sandbox_config=config, **common,
    )  # fmt: skip
    t = time.perf_counter()
    venv.reset(seed=0)  # env i gets seed i
    plans = [plan(i, a) for i in range(n)]
    vector_rewards: list = [None] * n
    for k in range(len(plans[0])):
        _, rewards, terminated, truncated, infos = venv.step([pl[k] for pl in plans])
        for i in range(n):
            if (terminated[i] or truncated[i]) and vector_rewards[i] is None:
                vector_rewards[i] = (round(float(rewards[i]), 4), str(infos["status"][i]))
    vector_s = time.perf_counter() - t
    venv.close()
    shutil.rmtree(root, ignore_errors=True)

    per_hour_single = 3600 * n / single_s
    per_hour_vector = 3600 * n / vector_s
    print(f"workload per episode: {json.dumps(plan(0, a))}")
    print(
        f"1 env, {n} episodes in sequence: {single_s:.1f} s, {per_hour_single:.1f} episodes/hour "
        f"(rewards {single_rewards})"
    )
    if quota_s is not None:
        print(
            f"1 env with the vector's per-env config (cpus {a.cpus_per_env}), {n} episodes in sequence: "
            f"{quota_s:.1f} s, {3600 * n / quota_s:.1f} episodes/hour (rewards {quota_rewards})"
        )
    print(
        f"{n} async envs (cpus per env: {a.cpus_per_env or 'no quota'}), one episode each: "
        f"{vector_s:.1f} s, {per_hour_vector:.1f} episodes/hour (rewards {vector_rewards})"
    )
    print(
        f"throughput ratio {per_hour_vector / per_hour_single:.2f} against 1 env on all cores (goal >= 1.6)"
    )
    if quota_s is not None:
        print(f"throughput ratio {quota_s / vector_s:.2f} against 1 env with the same per-env config")


if __name__ == "__main__":
    main()
