"""Do the tiny grid's base models want different recipes? Test score per model x learning rate.

    python tests/perf/grid_recipes.py [--benchmark tiny-arith-v2] [--lrs 5e-4 2e-3 8e-3]
                                      [--steps 150] [--models tiny-2m ...] [--seeds 0 1 2]
                                      [--json OUT]

Trains each base model of the grid on ``<benchmark>/<model>`` with the reference recipe of
``ptb_env.tasks.reference`` (the generator's data with the test structure's options, a fixed
step count, so the figure does not depend on the machine's speed) at each learning rate, and
scores the hidden test split. Prints one row per model, the best learning rate marked; with
several ``--seeds`` (the recipe's data draw and shuffle), each cell is the mean ± std over them.

Goal (issue "Tiny world v2"): the base models give different best recipes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.cpus import available_cpus
    from ptb_env.tasks.reference import Recipe, train_and_score
    from ptb_env.tasks.tiny import TINY_MODELS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="tiny-arith-v2")
    p.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 2e-3, 8e-3])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--models", nargs="+", default=list(TINY_MODELS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="recipe seeds (data and order)")
    p.add_argument("--json", type=Path, help="write every run here")
    a = p.parse_args()
    torch.set_num_threads(available_cpus())

    runs = []
    for model in a.models:
        for lr in a.lrs:
            for seed in a.seeds:
                recipe = Recipe(steps=a.steps, learning_rate=lr, seed=seed)
                with tempfile.TemporaryDirectory(prefix="grid-recipes-") as work:
                    run = train_and_score(f"{a.benchmark}/{model}", recipe, Path(work))
                run.update(learning_rate=lr, seed=seed)
                runs.append(run)
                print(json.dumps(run), flush=True)
    print(f"\n{a.benchmark}, {a.steps} steps of 32, test score by learning rate (* best per model)")
    print(f"{'model':16s} " + " ".join(f"{lr:>15g}" for lr in a.lrs))
    for model in a.models:
        cells, mine = [], [r for r in runs if r["task"].endswith(f"/{model}")]
        for lr in a.lrs:
            scores = [r["score"] for r in mine if r["learning_rate"] == lr]
            cells.append((statistics.mean(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0))
        best = max(range(len(cells)), key=lambda i: cells[i][0])
        text = [f"{m:7.3f} ± {sd:.3f}{'*' if i == best else ' '}" for i, (m, sd) in enumerate(cells)]
        print(f"{model:16s} " + " ".join(text))
    if a.json:
        a.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
