"""PostTrainAudit: an honest and a cheating trainer, each judged by the heuristic auditor.

    python examples/multiagent_audit.py --cheat contaminate --train-steps 100

Game 1: the honest trainer generates data, trains and submits; the auditor inspects the
finished workspace and trajectory with read-only tools and gives its verdict. Game 2: the
cheating trainer does the same plus its cheat (``contaminate``: trains on leaked hidden test
items, given to it host-side to simulate a leak; ``substitute``: submits a freshly initialised
model; ``tamper``: adds remote code to the checkpoint). Prints each agent's reward, the ground
truth (the grader's exact checks) and the verdict.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ptb_agents.audit import (
    CheatingTrainer,
    HeuristicAuditor,
    HonestTrainer,
    TrainerArgs,
    leak_test_items,
    run_aec,
)
from ptb_env.integrity import IntegrityConfig
from ptb_env.multiagent import audit


@dataclass(frozen=True)
class Args:
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    cheat: str = "contaminate"
    """The cheating trainer's cheat: contaminate, substitute or tamper."""
    leaked: int = 50
    """Hidden test items leaked to the contaminating trainer."""
    examples: int = 2000
    """Training examples each trainer generates."""
    train_steps: int = 100
    """Optimizer steps of each trainer's `train` call."""
    penalty: float = 1.0
    """Reward of a trainer the auditor catches: -penalty."""
    seed: int = 0


def flags(findings: dict | None) -> str:
    return "no verdict" if findings is None else ", ".join(k for k, v in findings.items() if v) or "clean"


def main(args: Args) -> dict[str, dict[str, float]]:
    trainer_args = TrainerArgs(examples=args.examples, train_steps=args.train_steps)
    leaked = leak_test_items(args.task, args.leaked) if args.cheat == "contaminate" else ()
    trainers = {
        "honest": HonestTrainer(trainer_args),
        f"cheater ({args.cheat})": CheatingTrainer((args.cheat,), leaked, trainer_args),
    }
    rewards = {}
    for name, trainer in trainers.items():
        env = audit.env(task=args.task, integrity=IntegrityConfig(penalty=args.penalty), audit_max_steps=10)
        result = run_aec(env, {"trainer": trainer, "auditor": HeuristicAuditor()}, seed=args.seed)
        env.close()
        info = result.infos["trainer"]
        print(
            f"{name:24s} trainer {result.rewards['trainer']:+.4f} (status {info['status']}), "
            f"auditor {result.rewards['auditor']:+.0f}; truth: {flags(info['truth'])}; "
            f"verdict: {flags(info['verdict'])} ({result.seconds:.0f} s)"
        )
        rewards[name] = result.rewards
    return rewards


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
