"""Train Stable-Baselines3 PPO to pick post-training recipes on PostTrainRecipe-v0.

    python examples/ppo_recipes.py --episodes 20 --time-limit 300

Each action of the policy is one macro action of the recipe wrapper: a training round
(data amount x learning rate x optimizer steps), a dev evaluation, or submit. The reward
is the uplift of the submitted checkpoint on the hidden test split. Prints one line per
finished episode and a summary line.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes

import ptb_env  # noqa: F401 - registers PostTrainRecipe-v0


@dataclass(frozen=True)
class Args:
    task: str = "tiny-arith"
    """Tiny task id (PostTrainRecipe-<task>-v0)."""
    episodes: int = 4
    """Episodes to train for."""
    time_limit: float = 300.0
    """Wall-clock budget of one episode in seconds."""
    max_steps: int = 200
    """Inner tool calls per episode."""
    data_levels: str = "500,2000,8000"
    """Training examples a round can generate (comma-separated levels)."""
    lr_levels: str = "5e-4,2e-3"
    """Learning rates a round can use."""
    steps_levels: str = "50,150,400"
    """Optimizer steps a round can run."""
    batch_size: int = 32
    """Examples per optimizer step."""
    eval_limit: int = 50
    """Dev items scored per evaluate."""
    reserve_s: float = 30.0
    """Seconds a round leaves for evaluating and submitting."""
    data_seed: int = -1
    """Seed of data and training runs (-1: drawn per episode from the PPO seed)."""
    n_steps: int = 8
    """PPO rollout length (macro actions per update)."""
    seed: int = 0


class PrintEpisodes(BaseCallback):
    """Prints each finished episode: reward, grading status, macro actions."""

    def __init__(self) -> None:
        super().__init__()
        self.rewards: list[float] = []
        self.actions = 0
        self.t0 = time.perf_counter()

    def _on_step(self) -> bool:
        self.actions += 1
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done:
                reward = info["episode"]["r"]  # from the Monitor that SB3 puts around the env
                self.rewards.append(reward)
                print(
                    f"episode {len(self.rewards)} reward {reward:+.3f} (status {info.get('status')}, "
                    f"{self.actions} actions, {time.perf_counter() - self.t0:.0f} s)",
                    flush=True,
                )
                self.actions, self.t0 = 0, time.perf_counter()
        return True


def main(args: Args) -> list[float]:
    def levels(text: str, kind: type) -> tuple:
        return tuple(kind(v) for v in text.split(",") if v.strip())

    env = gym.make(
        f"PostTrainRecipe-{args.task}-v0",
        time_limit_s=args.time_limit,
        max_steps=args.max_steps,
        data_levels=levels(args.data_levels, int),
        lr_levels=levels(args.lr_levels, float),
        steps_levels=levels(args.steps_levels, int),
        batch_size=args.batch_size,
        eval_limit=args.eval_limit,
        reserve_s=args.reserve_s,
        data_seed=None if args.data_seed < 0 else args.data_seed,
    )
    print("actions:", ", ".join(env.get_wrapper_attr("action_names")))
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=args.n_steps,
        batch_size=args.n_steps,
        n_epochs=4,
        seed=args.seed,
        device="cpu",
    )
    printer = PrintEpisodes()
    # A bound on macro actions; training stops after `episodes` episodes.
    model.learn(
        total_timesteps=args.episodes * args.max_steps,
        callback=[printer, StopTrainingOnMaxEpisodes(max_episodes=args.episodes)],
    )
    env.close()
    rewards = printer.rewards
    mean = sum(rewards) / len(rewards) if rewards else float("nan")
    print(f"done: {len(rewards)} episodes, mean reward {mean:+.3f}")
    return rewards


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
