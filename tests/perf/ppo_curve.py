"""Does classic RL learn on the env? MaskablePPO against a uniform-random policy (and a UCB bandit).

    python tests/perf/ppo_curve.py --policy ppo --episodes 120 --envs 2 --json runs/ppo.json
    python tests/perf/ppo_curve.py --policy random --episodes 40 --json runs/random.json
    python tests/perf/ppo_curve.py --policy ucb --episodes 40 --json runs/ucb.json
    python tests/perf/ppo_curve.py --report runs/ppo.json runs/random.json [runs/ucb.json]
                                   [--last 30] [--plot docs/img/ppo_curve.png]

Every episode is a real one of ``PostTrainRecipe-<task>-v0`` (default ``tiny-arith-short``: 18
recipes of data x learning rate x steps, ``evaluate`` and ``submit``) on the compute budget, so
the rewards do not depend on the machine's load and several runs may share the cores.

- ``ppo``: sb3-contrib's ``MaskablePPO`` (masks from the wrapper's ``action_masks()``) over
  ``--envs`` environments in subprocesses (``SubprocVecEnv``); each env draws the data and
  training seed of every episode from its own generator (fresh seeds, never repeated).
- ``random``: uniform over the valid actions (the same mask), one env, seeds ``10_000 + i``.
- ``ucb``: the yardstick of a bandit: UCB1 over the ``train`` recipes, one round each then
  ``submit``, seeds ``20_000 + i``.

``--report`` prints each run's mean +- SEM (PPO: its last ``--last`` episodes), the difference
of PPO's last episodes and random's in SEMs (goal of the issue "Meta-agent RL that learns":
> 2), and draws the smoothed learning curves with ``--plot``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


ENV_KWARGS: dict[str, Any] = {"budget": "compute"}
"""``gym.make`` keywords of every episode."""


def save(args: argparse.Namespace, rows: list[dict[str, Any]], seconds: float) -> None:
    """Write the run so far to ``--json`` (after every episode: a run cut short keeps its episodes)."""
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json", "report", "plot")}
        out = {
            "policy": args.policy,
            "task": args.task,
            "settings": settings,
            "seconds": seconds,
            "episodes": rows,
        }
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1, default=str))
        tmp.replace(args.json)


def episode_row(i: int, reward: float, info: dict[str, Any], actions: list[str], t0: float) -> dict[str, Any]:
    """One finished episode, as the JSON keeps it; also printed."""
    row = {
        "episode": i, "reward": float(reward), "status": info.get("status"), "actions": actions,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    print(f"episode {i} reward {reward:+.3f} ({row['status']}; {' > '.join(actions)})", flush=True)
    return row


def run_ppo(args: argparse.Namespace) -> list[dict[str, Any]]:
    """MaskablePPO over ``args.envs`` subprocess envs until ``args.episodes`` episodes ended."""
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from ptb_env.registration import recipe_id

    torch.set_num_threads(1)
    env_id = recipe_id(args.task)

    def make() -> Any:  # in the subprocess, which has not imported ptb_env (so the id is unknown)
        import gymnasium as gym

        import ptb_env  # noqa: F401 - registers the ids

        return gym.make(env_id, **ENV_KWARGS)

    vec = make_vec_env(make, n_envs=args.envs, seed=args.seed, vec_env_cls=SubprocVecEnv)
    names = list(vec.get_attr("action_names")[0])
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()

    class Episodes(BaseCallback):
        """Records each finished episode and stops after ``args.episodes``."""

        def __init__(self) -> None:
            super().__init__()
            self.actions: list[list[str]] = [[] for _ in range(args.envs)]
            self.t0 = [time.perf_counter()] * args.envs

        def _on_step(self) -> bool:
            for k, (action, done, info) in enumerate(
                zip(self.locals["actions"], self.locals["dones"], self.locals["infos"], strict=True)
            ):
                self.actions[k].append(names[int(action)])
                if done:
                    reward = float(info["episode"]["r"])  # the Monitor that make_vec_env adds
                    rows.append(episode_row(len(rows), reward, info, self.actions[k], self.t0[k]))
                    self.actions[k], self.t0[k] = [], time.perf_counter()
                    save(args, rows, time.perf_counter() - start)
            return len(rows) < args.episodes

    model = MaskablePPO(
        "MlpPolicy",
        vec,
        n_steps=args.n_steps,
        batch_size=args.n_steps * args.envs,
        n_epochs=args.n_epochs,
        learning_rate=args.lr,
        gamma=1.0,
        gae_lambda=1.0,
        ent_coef=args.ent_coef,
        policy_kwargs={"net_arch": [64, 64]},
        seed=args.seed,
        device="cpu",
    )
    try:
        model.learn(total_timesteps=args.episodes * 60, callback=Episodes())
    finally:
        vec.close()
    return rows[: args.episodes]


def run_simple(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The random policy or the UCB bandit, one env, sequential episodes."""
    import gymnasium as gym
    import numpy as np

    import ptb_env  # noqa: F401 - registers the ids
    from ptb_env.registration import recipe_id

    env = gym.make(recipe_id(args.task), **ENV_KWARGS)
    names = list(env.get_wrapper_attr("action_names"))
    train = [i for i, n in enumerate(names) if n.startswith("train")]
    submit = names.index("submit")
    rng = np.random.default_rng(args.seed)
    pulls = {i: 0 for i in train}
    sums = {i: 0.0 for i in train}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    base = 10_000 if args.policy == "random" else 20_000
    try:
        for i in range(args.episodes):
            t0 = time.perf_counter()
            _, info = env.reset(seed=base + i)
            done, total, actions = False, 0.0, []
            if args.policy == "ucb":
                n = sum(pulls.values())
                untried = [a for a in train if pulls[a] == 0]

                def ucb(a: int, n: int = n) -> float:
                    return sums[a] / pulls[a] + args.ucb_c * math.sqrt(2 * math.log(n) / pulls[a])

                arm = untried[0] if untried else max(train, key=ucb)
                plan = iter([arm, submit])
            while not done:
                if args.policy == "ucb":
                    action = next(plan, submit)
                else:
                    valid = np.flatnonzero(info["action_mask"])
                    action = int(rng.choice(valid))
                actions.append(names[action])
                _, r, term, trunc, info = env.step(action)
                total += float(r)
                done = term or trunc
            if args.policy == "ucb":
                pulls[arm] += 1
                sums[arm] += total
            rows.append(episode_row(i, total, info, actions, t0))
            save(args, rows, time.perf_counter() - start)
    finally:
        env.close()
    return rows


def sem(values: list[float]) -> float:
    """Standard error of the mean (0 for fewer than two values)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average."""
    return [statistics.mean(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]


def report(paths: list[Path], last: int, window: int, plot: Path | None) -> None:
    """Mean +- SEM per run, PPO's last episodes against random in SEMs, the curves."""
    runs = {(d := json.loads(p.read_text()))["policy"]: d for p in paths}
    print(f"| policy | episodes | mean reward +- SEM | last {last} +- SEM |\n|---|---|---|---|")
    summary: dict[str, tuple[float, float]] = {}
    for name, d in runs.items():
        rewards = [r["reward"] for r in d["episodes"]]
        tail = rewards[-last:]
        summary[name] = (
            (statistics.mean(tail), sem(tail)) if name == "ppo" else (statistics.mean(rewards), sem(rewards))
        )
        print(
            f"| {name} | {len(rewards)} | {statistics.mean(rewards):+.3f} +- {sem(rewards):.3f} "
            f"| {statistics.mean(tail):+.3f} +- {sem(tail):.3f} |"
        )
    if "ppo" in summary and "random" in summary:
        (m1, s1), (m0, s0) = summary["ppo"], summary["random"]
        z = (m1 - m0) / math.hypot(s1, s0) if (s1 or s0) else float("inf")
        print(f"\nPPO's last {last} episodes - random: {m1 - m0:+.3f} = {z:.1f} SEM (goal: > 2)")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, d in runs.items():
            rewards = [r["reward"] for r in d["episodes"]]
            if name == "ppo":
                ax.plot(range(1, len(rewards) + 1), rewards, ".", alpha=0.25, color="C0")
                ax.plot(
                    range(1, len(rewards) + 1),
                    smooth(rewards, window),
                    color="C0",
                    label=f"MaskablePPO ({window}-episode mean)",
                )
            else:
                m, s = statistics.mean(rewards), sem(rewards)
                color = "C1" if name == "random" else "C2"
                ax.axhline(m, color=color, label=f"{name} (mean of {len(rewards)} +- SEM)")
                ax.axhspan(m - s, m + s, color=color, alpha=0.15)
        ax.set_xlabel("episode")
        ax.set_ylabel("reward (test uplift)")
        ax.set_title(f"{next(iter(runs.values()))['task']} (compute budget)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        print(f"plot: {plot}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", choices=["ppo", "random", "ucb"], default="ppo")
    p.add_argument("--task", default="tiny-arith-short")
    p.add_argument("--episodes", type=int, default=120)
    p.add_argument("--envs", type=int, default=2, help="PPO's envs in parallel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-steps", type=int, default=8, help="PPO's rollout length per env")
    p.add_argument("--n-epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--ucb-c", type=float, default=0.5, help="UCB's exploration weight (rewards are ~0..0.4)")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", type=Path, nargs="+", help="summarise these runs' JSON instead of running")
    p.add_argument("--last", type=int, default=30)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--plot", type=Path)
    a = p.parse_args()
    if a.report:
        report(a.report, a.last, a.window, a.plot)
        return
    os.environ.pop("PTB_ENV_TEST_LIMIT", None)
    t0 = time.perf_counter()
    rows = run_ppo(a) if a.policy == "ppo" else run_simple(a)
    took = time.perf_counter() - t0
    rewards = [r["reward"] for r in rows]
    print(f"{a.policy}: {len(rows)} episodes in {took:.0f} s, mean reward {statistics.mean(rewards):+.3f}")
    save(a, rows, took)


if __name__ == "__main__":
    main()
