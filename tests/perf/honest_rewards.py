"""Honest-agent rewards, fixed work: scripted-SFT with a fixed number of optimizer steps.

    python tests/perf/honest_rewards.py [--seeds 0 1 2] [--steps 300]

The default scripted-SFT sizes its run to the wall clock, so its reward depends on the
machine's load. With ``max_steps`` fixed and a generous time limit the episode does the
same work everywhere: run this on two versions of the package to check that a change
leaves honest agents' rewards alone (the note of the "Integrity under attack" issue
compares the release before and after). Prints one line per seed and the mean.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--task", default="tiny-arith")
    p.add_argument("--time-limit", type=float, default=3600.0)
    p.add_argument(
        "--pass-env", nargs="*", default=["PYTHONPATH"],
        help="host variables the sandbox passes on (PYTHONPATH: run another checkout's package inside too)",
    )  # fmt: skip
    a = p.parse_args()
    from ptb_agents import ScriptedSFTAgent, ScriptedSFTArgs, run_episode
    from ptb_env.env import PostTrainEnv
    from ptb_env.sandbox import SandboxConfig
    from ptb_env.tasks import get_task

    task = get_task(a.task)
    config = SandboxConfig(memory_mb=task.memory_mb, pass_env=tuple(a.pass_env))

    rewards = []
    for seed in a.seeds:
        env = PostTrainEnv(a.task, time_limit_s=a.time_limit, sandbox_config=config)
        t0 = time.perf_counter()
        try:
            r = run_episode(env, ScriptedSFTAgent(ScriptedSFTArgs(max_steps=a.steps)), seed=seed)
        finally:
            env.close()
        rewards.append(r.reward)
        took = time.perf_counter() - t0
        print(f"seed {seed}: reward {r.reward:+.4f} status {r.status} ({took:.0f} s)", flush=True)
    print(f"mean reward {statistics.mean(rewards):+.4f} over seeds {a.seeds} ({a.steps} steps each)")


if __name__ == "__main__":
    main()
