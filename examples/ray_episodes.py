"""Ray: a grid of baseline episodes (agent x seed), one Ray actor per episode.

    python examples/ray_episodes.py --agents scripted-sft,noop --seeds 4 --train-steps 40
    python examples/ray_episodes.py --address auto --cpus-per-episode 4   # on a cluster (ray start)

Without ``--address`` the script starts a local Ray instance of ``--num-cpus`` CPUs; each
episode's actor holds ``--cpus-per-episode`` of them (also its sandbox's CPU quota and thread
count), so ``num_cpus / cpus_per_episode`` episodes run at once. ``--serial`` runs the same
episodes one after another in this process instead, for comparison. Needs Ray:
``pip install "ptb-env[ray]"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

from ptb_agents import ScriptedSFTArgs
from ptb_env.distributed import EpisodeSpec, run_episodes, run_serial


@dataclass(frozen=True)
class Args:
    agents: str = "scripted-sft,noop"
    """Comma-separated baseline agents (noop, random, scripted-sft, search)."""
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    seeds: int = 2
    """Episodes per agent, seeds 0 .. seeds-1."""
    time_limit_s: float = 600.0
    """Wall-clock budget of each episode."""
    train_steps: int = 40
    """Optimizer steps of scripted-sft (a fixed number: the same seed gives the same reward)."""
    dev_limit: int = 20
    """Dev items scripted-sft scores before submitting."""
    cpus_per_episode: float = 1.0
    """CPUs each episode's actor holds."""
    gpus_per_episode: float = 0.0
    """GPUs each episode's actor holds (the PostTrainBench suite: 1)."""
    num_cpus: int = 0
    """CPUs of the local Ray instance (0: all of this machine's); ignored with --address."""
    address: str = ""
    """Ray cluster to join: "auto" (this machine ran `ray start`) or "ray://head:10001"; "": local."""
    trajectories_dir: str = ""
    """Write each episode's JSONL trajectory into this directory ("": none)."""
    json: str = ""
    """Also write the result rows to this JSON file."""
    serial: bool = False
    """Run the episodes one after another in this process (no Ray)."""


def main(args: Args) -> list[dict]:
    sft = ScriptedSFTArgs(max_steps=args.train_steps, dev_limit=args.dev_limit)
    specs = [
        EpisodeSpec(
            agent,
            args.task,
            seed,
            time_limit_s=args.time_limit_s,
            agent_kwargs={"args": sft} if agent == "scripted-sft" else {},
        )
        for agent in args.agents.split(",")
        for seed in range(args.seeds)
    ]
    t0 = time.perf_counter()
    if args.serial:
        rows = run_serial(
            specs, num_cpus_per_episode=args.cpus_per_episode, trajectories_dir=args.trajectories_dir or None
        )
    else:
        rows = run_episodes(
            specs,
            num_cpus_per_episode=args.cpus_per_episode,
            num_gpus_per_episode=args.gpus_per_episode,
            address=args.address or None,
            trajectories_dir=args.trajectories_dir or None,
            init_kwargs={"num_cpus": args.num_cpus} if args.num_cpus and not args.address else None,
        )
    wall = time.perf_counter() - t0
    header = ("agent", "task", "seed", "status", "reward", "steps", "wall s", "node")
    print("{:13s} {:12s} {:>4s} {:18s} {:>8s} {:>5s} {:>7s} {}".format(*header))
    for r in rows:
        print(
            f"{r['agent']:13s} {r['task']:12s} {r['seed']!s:>4s} {r['status']:18s} {r['reward']:+8.4f} "
            f"{r['steps']:5d} {r['seconds']:7.1f} {r['node']}"
            + (f"\n    {r['reason']}" if r["status"] == "infra_error" else "")
        )
    for agent in args.agents.split(","):
        rewards = [r["reward"] for r in rows if r["agent"] == agent and r["status"] == "ok"]
        if len(rewards) > 1:
            print(f"{agent}: mean reward {statistics.mean(rewards):+.4f} over {len(rewards)} episodes")
    print(f"{len(rows)} episodes in {wall:.1f} s ({'serial' if args.serial else 'Ray'})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                [{k: v for k, v in r.items() if k not in ("grade", "integrity")} for r in rows], f, indent=2
            )
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        if isinstance(default, bool):
            p.add_argument("--" + name.replace("_", "-"), action="store_true")
        else:
            p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
