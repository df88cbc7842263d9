"""Is the reward learnable? The recipe landscape of a task and the reward-vs-budget curve.

    python tests/perf/reward_landscape.py [--task tiny-arith-short] [--seeds 0 1 2]
                                          [--budget compute] [--recipes 0 5 ...]
                                          [--agents scripted-sft expert] [--budgets 30 60 120 300]
                                          [--json OUT] [--plot OUT.png]
    python tests/perf/reward_landscape.py --report RUN.json [RUN2.json ...] [--plot OUT.png]

Part 1, the landscape: every ``train`` macro action of ``PostTrainRecipe-<task>-v0`` (or the
indices given by ``--recipes``), each as a one-round episode (train, then submit), for each
seed. Prints each recipe's reward, mean +- std over the seeds, and the signal-to-noise ratio:
the spread (std) of the recipe means over the mean of the per-recipe seed stds. The goal of the
issue "Meta-agent RL that learns": the best recipe earns >= +0.15 with SNR >= 3 in <= 90 s
per episode.

Part 2, the curve: each agent of ``--agents`` on ``PostTrain-<task>-v0`` with a budget of
each of ``--budgets`` seconds (or their worth in TFLOP on ``--budget compute``), each seed;
prints mean +- std per budget and, with ``--plot``, draws reward against budget.

``--report`` prints (and plots) the saved JSON of one or more runs together, e.g. a landscape
run and a curve run made separately.

``--budget compute`` (the default) runs every episode on the compute budget
(``ptb_env.compute``), so the figures do not depend on the machine's load; ``time`` on the wall
clock (then run it alone on the machine). The hidden test items graded are the task's
(``tiny-arith-short``: the first 200).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def budget_kwargs(budget: str, seconds: float | None) -> dict[str, Any]:
    """``gym.make`` keywords of a budget of ``seconds`` (``None``: the task's) in that unit."""
    from ptb_env.compute import TINY_TFLOP_PER_S

    kwargs: dict[str, Any] = {} if seconds is None else {"time_limit_s": seconds}
    if budget == "compute":
        kwargs["budget"] = "compute"
        if seconds is not None:
            kwargs["compute_tflop"] = seconds * TINY_TFLOP_PER_S
    return kwargs


def landscape(task: str, seeds: list[int], budget: str, recipes: list[int] | None) -> list[dict[str, Any]]:
    """One-round episodes of every ``train`` macro action (or those given), per seed."""
    import gymnasium as gym

    from ptb_env.registration import recipe_id

    rows: list[dict[str, Any]] = []
    probe = gym.make(recipe_id(task), **budget_kwargs(budget, None))
    names = list(probe.get_wrapper_attr("action_names"))
    probe.close()
    train = [i for i, n in enumerate(names) if n.startswith("train")]
    submit = names.index("submit")
    for index in recipes if recipes is not None else train:
        for seed in seeds:
            env = gym.make(recipe_id(task), **budget_kwargs(budget, None))
            t0 = time.perf_counter()
            try:
                env.reset(seed=seed)
                reward, done, info = 0.0, False, {}
                for action in (index, submit):
                    _, r, term, trunc, info = env.step(action)
                    reward += float(r)
                    if term or trunc:
                        done = True
                        break
            finally:
                env.close()
            row = {
                "recipe": names[index], "index": index, "seed": seed, "reward": reward, "done": done,
                "status": info.get("status"), "seconds": time.perf_counter() - t0,
            }  # fmt: skip
            rows.append(row)
            took = row["seconds"]
            shown = f"reward {reward:+.3f} ({row['status']}, {took:.0f} s)"
            print(f"{names[index]} seed {seed}: {shown}", flush=True)
    return rows


def curve(task: str, seeds: list[int], budget: str, agents: list[str], budgets: list[float]) -> list[dict]:
    """Each agent at each budget, per seed."""
    import gymnasium as gym

    from ptb_env.registry import make_agent
    from ptb_env.rollout import run_episode
    from ptb_env.tasks import gym_id

    rows: list[dict[str, Any]] = []
    for seconds in budgets:  # budgets outermost: a cut-short run still has every agent's short budgets
        for agent in agents:
            for seed in seeds:
                env = gym.make(gym_id(task), **budget_kwargs(budget, seconds))
                try:
                    r = run_episode(env, make_agent(agent, env), seed=seed)
                finally:
                    env.close()
                rows.append({"agent": agent, "budget_s": seconds, **r.to_dict()})
                shown = f"reward {r.reward:+.3f} ({r.status}, {r.seconds:.0f} s)"
                print(f"{agent} {seconds:g} s seed {seed}: {shown}", flush=True)
    return rows


def report_landscape(rows: list[dict[str, Any]], n_seeds: int) -> dict[str, float]:
    """The recipe table, the best mean and the SNR (also over the recipes whose seeds differ)."""
    by_recipe: dict[str, list[float]] = {}
    for r in rows:
        by_recipe.setdefault(r["recipe"], []).append(r["reward"])
    stats = {name: mean_sd(v) for name, v in by_recipe.items()}
    print(f"\n| recipe | rewards ({n_seeds} seeds) | mean +- std |\n|---|---|---|")
    for name, (m, s) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {', '.join(f'{x:+.3f}' for x in by_recipe[name])} | {m:+.3f} +- {s:.3f} |")
    if len(stats) < 2:
        return {}
    means = [m for m, _ in stats.values()]
    spread = statistics.stdev(means)
    noise = statistics.mean(s for _, s in stats.values())
    noisy = [s for _, s in stats.values() if s > 0]
    out = {"best": max(means), "snr": spread / noise if noise > 0 else float("inf")}
    # recipes that score 0 on every seed have no noise and lift the SNR: also without them
    out["snr_noisy"] = spread / statistics.mean(noisy) if noisy else float("inf")
    seconds = [r["seconds"] for r in rows]
    print(
        f"\nbest recipe mean {out['best']:+.3f}; SNR (std of recipe means / mean seed std) {out['snr']:.2f}; "
        f"{out['snr_noisy']:.2f} over the {len(noisy)} recipes whose seeds differ\n"
        f"episode wall time: median {statistics.median(seconds):.0f} s, max {max(seconds):.0f} s"
    )
    return out


def report_curve(rows: list[dict[str, Any]], task: str, budget: str, plot: Path | None) -> None:
    """Mean +- std per agent and budget; with ``plot``, reward against budget."""
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    budgets = sorted({float(r["budget_s"]) for r in rows})
    print("\n| agent | budget (s or its TFLOP) | rewards | mean +- std |\n|---|---|---|---|")
    points: dict[str, list[tuple[float, float, float]]] = {}
    for agent in agents:
        for seconds in budgets:
            mine = [r["reward"] for r in rows if r["agent"] == agent and float(r["budget_s"]) == seconds]
            if not mine:
                continue
            m, s = mean_sd(mine)
            points.setdefault(agent, []).append((seconds, m, s))
            shown = ", ".join(f"{x:+.3f}" for x in mine)
            print(f"| {agent} | {seconds:g} | {shown} | {m:+.3f} +- {s:.3f} |")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for agent, pts in points.items():
            xs, ms, ss = zip(*pts, strict=True)
            ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=agent)
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.minorticks_off()
        unit = "; on the compute budget x 0.04 TFLOP" if budget == "compute" else ""
        ax.set_xlabel(f"budget (s{unit})")
        ax.set_ylabel("reward (test uplift)")
        ax.set_title(f"{task}: reward vs budget")
        ax.legend()
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        print(f"plot: {plot}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="tiny-arith-short")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", default="compute", choices=["compute", "time"])
    p.add_argument("--recipes", type=int, nargs="*", default=None, help="macro actions (default: all train)")
    p.add_argument("--agents", nargs="*", default=["scripted-sft", "expert"])
    p.add_argument("--budgets", type=float, nargs="*", default=[30, 60, 120, 300])
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path, help="draw the reward-vs-budget curve here (PNG)")
    p.add_argument(
        "--report", type=Path, nargs="+", help="report these runs' JSON together instead of running"
    )
    a = p.parse_args()
    if a.report:
        runs = [json.loads(path.read_text()) for path in a.report]
        landscape_rows = [r for run in runs for r in run.get("landscape", [])]
        if landscape_rows:
            report_landscape(landscape_rows, len({r["seed"] for r in landscape_rows}))
        curve_rows = [r for run in runs for r in run.get("curve", [])]
        if curve_rows:
            report_curve(curve_rows, runs[0]["task"], runs[0]["budget"], a.plot)
        return
    os.environ.pop("PTB_ENV_TEST_LIMIT", None)
    import ptb_env  # noqa: F401 - registers the ids

    out: dict[str, Any] = {"task": a.task, "budget": a.budget, "seeds": a.seeds}
    rows = landscape(a.task, a.seeds, a.budget, a.recipes)  # `--recipes` with no index: skipped
    out["landscape"] = rows
    out.update(report_landscape(rows, len(a.seeds)))
    if a.agents and a.budgets:
        out["curve"] = curve(a.task, a.seeds, a.budget, a.agents, a.budgets)
        report_curve(out["curve"], a.task, a.budget, a.plot)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
