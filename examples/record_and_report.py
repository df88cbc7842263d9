"""Record episodes of baseline agents as trajectory files, then build the HTML report.

    python examples/record_and_report.py --agents noop,scripted-sft --seeds 0,1 --train-steps 30

Each episode runs in ``RecordTrajectory``, which writes one JSON Lines file per episode
into ``--runs-dir``; the report (``ptb_env.report``; the same as ``ptb-env report RUNS_DIR``)
reads them back: per episode the dev score over time, budget burn-down, time per tool and
the grade, and across episodes a table per task and agent with mean ± SEM over seeds.
The last line printed is the report's path; open it in any browser (it loads nothing).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents import ScriptedSFTArgs, make_agent, run_episode
from ptb_env.report import write_report
from ptb_env.tasks import gym_id
from ptb_env.wrappers.record import RecordTrajectory


@dataclass(frozen=True)
class Args:
    agents: str = "noop,scripted-sft"
    """Comma-separated baseline agents (see `ptb-env run --help`)."""
    seeds: str = "0,1"
    """Comma-separated seeds: one episode per agent and seed."""
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    time_limit_s: float = 180.0
    """Wall-clock budget of each episode."""
    train_steps: int = 30
    """Optimizer steps of scripted-sft's training run."""
    dev_limit: int = 20
    """Dev items scripted-sft evaluates before it submits."""
    runs_dir: str = "runs"
    """Where the trajectory files go (shared by every episode)."""
    out: str = ""
    """The report's path (default: <runs-dir>/report.html)."""


def main(args: Args) -> Path:
    for name in args.agents.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            env = RecordTrajectory(
                gym.make(gym_id(args.task), time_limit_s=args.time_limit_s), args.runs_dir, agent=name
            )
            kwargs = {}
            if name == "scripted-sft":
                kwargs["args"] = ScriptedSFTArgs(max_steps=args.train_steps, dev_limit=args.dev_limit)
            agent = make_agent(name, env, **kwargs)
            try:
                r = run_episode(env, agent, seed=seed)
            finally:
                env.close()
            print(f"{name} seed {seed}: reward {r.reward:+.4f} (status {r.status}) -> {env.path}")
    out = write_report(args.runs_dir, args.out or Path(args.runs_dir) / "report.html")
    print(f"report {out}")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
