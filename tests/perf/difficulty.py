"""The difficulty table of the tiny tasks: noop / base / scripted-sft / expert, seeds, mean +- std.

    python tests/perf/difficulty.py [--task tiny-arith-v2 ...] [--agent scripted-sft expert]
                                    [--seeds 0 1 2] [--json OUT]

Plays each agent on each task at the task's default budget (5 minutes; run it on a quiet
2-core machine: the agents size their work to the wall clock) through ``gym.make``, like
``ptb-env run``. Prints one line per episode as it ends, then per task: the base model's test
score, and per agent the reward (uplift over the base model) and the test score, mean +- std
over the seeds, with the episodes' statuses. Hidden test: the whole split (no
``PTB_ENV_TEST_LIMIT``).

Goals (issue "Tiny world v2"): noop 0 exactly, base <= 5%, scripted-sft about +0.25..+0.45,
expert >= scripted-sft + 0.15 and test score <= 0.85.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mean_sd(values: list[float]) -> str:
    """``mean +- sd`` (sd 0 for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):+.3f} +- {sd:.3f}"


def main() -> None:
    from ptb_env.benchmarks import TINY_BENCHMARKS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", nargs="+", default=list(TINY_BENCHMARKS))
    p.add_argument("--agent", nargs="+", default=["noop", "scripted-sft", "expert"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--json", type=Path, help="write every episode's record here")
    a = p.parse_args()
    os.environ.pop("PTB_ENV_TEST_LIMIT", None)

    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers PostTrain-v0
    from ptb_env.registry import make_agent
    from ptb_env.rollout import run_episode

    records: list[dict] = []
    for task in a.task:
        for agent_name in a.agent:
            for seed in a.seeds:
                env = gym.make("PostTrain-v0", task=task)
                try:
                    result = run_episode(env, make_agent(agent_name, env), seed=seed)
                finally:
                    env.close()
                row = result.to_dict()
                records.append(row)
                print(
                    f"{task} {agent_name} seed {seed}: reward {result.reward:+.3f} score "
                    f"{result.score:.3f} base {result.base_score:.3f} ({result.status}, "
                    f"{result.steps} steps, {result.seconds:.0f} s)",
                    flush=True,
                )
        if a.json:
            a.json.write_text(json.dumps(records, indent=1, default=str))
    print("\n| task | base test score | agent | reward (mean +- std) | test score | statuses |")
    print("|---|---|---|---|---|---|")
    for task in a.task:
        rows = [r for r in records if r["task"] == task]
        base = rows[0]["base_score"] if rows else float("nan")
        for agent_name in a.agent:
            mine = [r for r in rows if r["agent"] == agent_name]
            statuses = ", ".join(sorted({r["status"] for r in mine}))
            print(
                f"| {task} | {base:.3f} | {agent_name} | {mean_sd([r['reward'] for r in mine])} | "
                f"{mean_sd([r['score'] for r in mine])} | {statuses} ({len(mine)} seeds) |"
            )


if __name__ == "__main__":
    main()
