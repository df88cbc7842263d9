"""Quickstart: one PostTrain-v0 episode driven by hand-written tool calls.

    python examples/quickstart.py --train-steps 300

Generates training data in the sandbox, fine-tunes the base model with the
`train` tool, checks the dev split, submits, and prints the reward (the uplift
of `final_model/` over the base model on the hidden test split).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gymnasium as gym

import ptb_env  # noqa: F401 - registers PostTrain-v0


@dataclass(frozen=True)
class Args:
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    train_steps: int = 300
    """Optimizer steps of the `train` call."""
    examples: int = 6000
    """Generated training examples."""
    seed: int = 0


def main(args: Args) -> float:
    env = gym.make(f"PostTrain-{args.task}-v0")
    obs, info = env.reset(seed=args.seed)
    print(info["task_card"].splitlines()[0], f"(base score {info['base_score']:.3f})")
    gen = (
        f"python -m ptb_env.benchmarks.generate {args.task} --n {args.examples} "
        f"--seed {args.seed} --out data/train.jsonl"
    )
    plan = [
        {"tool": "bash", "args": {"command": gen}},
        {"tool": "train", "args": {"data": "data/train.jsonl", "max_steps": args.train_steps}},
        {"tool": "wait", "args": {"job_id": 1}},
        {"tool": "evaluate", "args": {"limit": 50}},
        {"tool": "submit"},
    ]
    for action in plan:
        obs, reward, terminated, truncated, info = env.step(action)
        print(f"{action['tool']:9s} -> {(obs['error'] or obs['output']).strip().splitlines()[-1][:100]}")
        if terminated or truncated:
            break
    env.close()
    score = info.get("score", float("nan"))
    print(f"reward {reward:+.4f} (status {info.get('status')}, test score {score:.3f})")
    return reward


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
