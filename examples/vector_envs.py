"""Vector envs: N PostTrain-v0 episodes at once, one baseline agent per env.

    python examples/vector_envs.py --num-envs 2 --agents scripted-sft,noop --train-steps 100

Each env runs in its own process (``AsyncVectorEnv``) with its own workspace and
sandbox; the score cache on disk is shared. A batched action is a list of per-env tool
calls; ``iterate`` splits a batched observation into per-env observations. Gymnasium's
default autoreset (``NEXT_STEP``) resets an env on the step after its episode ended and
ignores that step's action; this script runs one episode per env and gives a finished env
a cheap ``bash true`` until all are done.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import iterate

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_agents import ScriptedSFTArgs, make_agent
from ptb_env.sandbox import SandboxConfig

IDLE = {"tool": "bash", "args": {"command": "true"}}


@dataclass(frozen=True)
class Args:
    num_envs: int = 2
    """Envs (processes) running at once."""
    agents: str = "scripted-sft,noop"
    """Comma-separated baseline agents, assigned to the envs in turn."""
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    time_limit_s: float = 300.0
    """Wall-clock budget of each episode."""
    train_steps: int = 100
    """Optimizer steps of scripted-sft's `train` call."""
    dev_limit: int = 50
    """Dev items scripted-sft scores before submitting."""
    cpus_per_env: float = 0.0
    """CPU quota of each env's sandbox (also its threads); 0: the host's cores divided by num_envs."""
    seed: int = 0
    """Env i gets seed + i."""


def env_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Env ``i``'s ``info`` out of a vector env's batched infos (``key`` / ``_key`` mask pairs)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_") or not infos.get("_" + key, np.ones(i + 1, bool))[i]:
            continue
        out[key] = env_info(value, i) if isinstance(value, dict) else value[i]
    return out


def main(args: Args) -> list[float]:
    n = args.num_envs
    cpus = args.cpus_per_env or max(1.0, (os.cpu_count() or 1) // n)
    venv = gym.make_vec(
        f"PostTrain-{args.task}-v0",
        num_envs=n,
        vectorization_mode="async",
        time_limit_s=args.time_limit_s,
        sandbox_config=SandboxConfig(cpus=cpus),
    )
    names = [args.agents.split(",")[i % len(args.agents.split(","))] for i in range(n)]
    sft = ScriptedSFTArgs(max_steps=args.train_steps, dev_limit=args.dev_limit)
    agents = [
        make_agent(name, None, args=sft) if name == "scripted-sft" else make_agent(name, None)
        for name in names
    ]
    obs, infos = venv.reset(seed=args.seed)
    per_obs = list(iterate(venv.observation_space, obs))
    for i, agent in enumerate(agents):
        agent.reset(per_obs[i], env_info(infos, i), args.seed + i)
    per_info = [env_info(infos, i) for i in range(n)]
    results: list[dict[str, Any] | None] = [None] * n
    try:
        while any(r is None for r in results):
            actions = [IDLE if results[i] else agents[i].act(per_obs[i], per_info[i]) for i in range(n)]
            obs, rewards, terminated, truncated, infos = venv.step(actions)
            per_obs = list(iterate(venv.observation_space, obs))
            per_info = [env_info(infos, i) for i in range(n)]
            for i in range(n):
                if results[i] is None and (terminated[i] or truncated[i]):
                    results[i] = {"reward": float(rewards[i]), **per_info[i]}
    finally:
        venv.close()
    for i, r in enumerate(results):
        assert r is not None
        print(
            f"env {i} ({names[i]}): reward {r['reward']:+.4f} "
            f"(status {r.get('status')}, score {r.get('score', float('nan')):.3f})"
        )
    return [r["reward"] for r in results if r is not None]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
