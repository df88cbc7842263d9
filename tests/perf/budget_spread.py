"""Reward spread of one agent and seed, quiet and beside a busy process, on both budgets.

    python tests/perf/budget_spread.py [--agent scripted-sft] [--task tiny-arith] [--seed 0]
                                       [--runs 3] [--time-limit 120] [--json OUT]

Plays the same agent with the same seed ``--runs`` times on a quiet machine and ``--runs``
times beside one busy neighbour process (a Python loop that never sleeps), first on the
wall-clock budget (``--time-limit`` seconds), then on the compute budget of the same size
(``--time-limit`` x ``ptb_env.compute.TINY_TFLOP_PER_S`` TFLOP, ``budget="compute"``). Prints
each episode's reward, steps and wall time, then per budget the rewards' spread (max - min)
over all its runs, quiet and loaded together: the compute budget's goal is <= 0.02, against
the wall clock's in the same run (issue "Meta-agent RL that learns", item 0). Run it alone
on the machine: "quiet" means nothing else runs. Hidden test: the whole split.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def neighbour(busy: bool) -> Iterator[None]:
    """A process that burns one CPU for as long as the block runs (nothing when not ``busy``)."""
    if not busy:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", default="scripted-sft")
    p.add_argument("--task", default="tiny-arith")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, default=3, help="episodes per budget and load")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds; the compute budget is its worth")
    p.add_argument("--budgets", nargs="+", default=["time", "compute"], choices=["time", "compute"])
    p.add_argument("--json", type=Path, help="write every episode's record here")
    a = p.parse_args()
    os.environ.pop("PTB_ENV_TEST_LIMIT", None)

    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers PostTrain-v0
    from ptb_env.compute import TINY_TFLOP_PER_S
    from ptb_env.registry import make_agent
    from ptb_env.rollout import run_episode

    tflop = a.time_limit * TINY_TFLOP_PER_S
    records: list[dict] = []
    for budget in a.budgets:
        kwargs = {"budget": "compute", "compute_tflop": tflop} if budget == "compute" else {}
        for load in ("quiet", "busy"):
            for run in range(a.runs):
                env = gym.make("PostTrain-v0", task=a.task, time_limit_s=a.time_limit, **kwargs)
                try:
                    with neighbour(load == "busy"):
                        r = run_episode(env, make_agent(a.agent, env), seed=a.seed)
                finally:
                    env.close()
                row = {"budget": budget, "load": load, "run": run, **r.to_dict()}
                records.append(row)
                print(
                    f"{budget:7s} {load:5s} run {run}: reward {r.reward:+.4f} ({r.status}, {r.steps} steps, "
                    f"{r.seconds:.0f} s)",
                    flush=True,
                )
                if a.json:
                    a.json.write_text(json.dumps(records, indent=1, default=str))
    budget_size = {"time": f"{a.time_limit:g} s", "compute": f"{tflop:g} TFLOP"}
    print(f"\n{a.agent} on {a.task}, seed {a.seed}, {a.runs} runs per budget and load")
    print("| budget | quiet rewards | busy rewards | mean | spread (max - min) |")
    print("|---|---|---|---|---|")
    for budget in a.budgets:
        rows = [r for r in records if r["budget"] == budget]
        rewards = [r["reward"] for r in rows]
        shown = {
            load: ", ".join(f"{r['reward']:+.3f}" for r in rows if r["load"] == load)
            for load in ("quiet", "busy")
        }
        print(
            f"| {budget} ({budget_size[budget]}) | {shown['quiet']} | {shown['busy']} | "
            f"{statistics.mean(rewards):+.3f} | {max(rewards) - min(rewards):.3f} |"
        )


if __name__ == "__main__":
    main()
