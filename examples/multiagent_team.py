"""PostTrainTeam: a curator, a trainer and an evaluator share one episode, budget and reward.

    python examples/multiagent_team.py --train-steps 100

Each round every agent makes one tool call or passes; the calls run one after another in a
rotating turn order, and each agent sees what its teammates did last round. The scripted
curator generates data, the trainer trains once the data is there and waits for the job, the
evaluator checks the dev split once the job is over and submits. Prints every round, then the
joint reward (the uplift, the same for every agent).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ptb_agents.team import TeamArgs, scripted_team
from ptb_env.multiagent import team


@dataclass(frozen=True)
class Args:
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    examples: int = 2000
    """Training examples the curator generates."""
    train_steps: int = 100
    """Optimizer steps of the trainer's `train` call."""
    dev_limit: int = 50
    """Dev items the evaluator scores before submitting."""
    seed: int = 0


def main(args: Args) -> dict[str, float]:
    env = team.parallel_env(task=args.task, roles=("curator", "trainer", "evaluator"))
    policies = scripted_team(TeamArgs(args.examples, args.train_steps, dev_limit=args.dev_limit))
    observations, infos = env.reset(seed=args.seed)
    for agent in env.agents:
        policies[agent].reset(observations[agent], infos[agent], args.seed)
    total = dict.fromkeys(env.agents, 0.0)
    round_no = 0
    while env.agents:
        calls = {a: policies[a].act(observations[a], infos[a]) for a in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(calls)
        round_no += 1
        acted = {a: c["tool"] for a, c in calls.items() if c["tool"] != "pass"}
        print(f"round {round_no}: {acted or 'everyone passed'}")
        for agent, reward in rewards.items():
            total[agent] += reward
    env.close()
    info = next(iter(infos.values()))
    print(f"joint reward {total} (status {info['status']}, test score {info['score']:.3f})")
    return total


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
