"""Reference ("instruct-like") scores of the tiny grid: the leaderboard's weights.

PostTrainBench weighs each benchmark by ``1 / (instruct - base)``, the official instruct models'
score over the base models'. The tiny base models have no instruct siblings, so this script
makes one per grid cell: the cell's base model post-trained with a fixed recipe (the public
generator with the options that draw the test's structure, ``STRUCTURE_OPTIONS``; a step count,
not a time limit, so the figure does not depend on the machine's speed), scored on the hidden
test split like any checkpoint::

    python -m ptb_env.tasks.reference [--steps 300] [--tasks tiny-arith-v2/tiny-2m ...] [--out FILE]

It writes ``ptb_env/tasks/data/tiny_reference.json`` (the shipped file the leaderboard reads,
:func:`ptb_env.leaderboard.load_reference`): per benchmark the mean over models of base and
instruct scores, in percent, and each cell's figures. The same :func:`train_and_score` trains
the learning-rate table of ``tests/perf/grid_recipes.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb_env.leaderboard import TINY_REFERENCE_FILE


@dataclass(frozen=True)
class Recipe:
    """The reference recipe: full SFT on the generator's data drawn with the structure options."""

    steps: int = 300
    learning_rate: float = 2e-3
    batch_size: int = 32
    seed: int = 0


def train_and_score(task: str, recipe: Recipe, work: Path, split: str = "test") -> dict[str, Any]:
    """Train ``task``'s base model with ``recipe`` (in ``work``) and score it on ``split``.

    Returns ``{"task", "base", "score", "steps", "seconds"}`` (scores as fractions).
    """
    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.base import write_jsonl
    from ptb_env.inference import evaluate
    from ptb_env.tasks import get_task
    from ptb_env.training.sft import SFTConfig, train_sft

    spec = get_task(task)
    bench = get_benchmark(spec.benchmark)
    data = work / "train.jsonl"
    items = bench.generate(recipe.steps * recipe.batch_size, recipe.seed, **bench.STRUCTURE_OPTIONS)
    write_jsonl(data, (it.chat_example() for it in items))
    t0 = time.perf_counter()
    config = SFTConfig(
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        max_steps=recipe.steps,
        seed=recipe.seed,
        schedule="steps",
    )
    out = work / "model"
    train_sft(Path(spec.base_model), data, out, config, progress=False)
    seconds = time.perf_counter() - t0

    def score(model: Path) -> float:
        return evaluate(model, spec.benchmark, split, progress=False, backend="transformers").score

    return {
        "task": task,
        "base": score(Path(spec.base_model)),
        "score": score(out),
        "steps": recipe.steps,
        "seconds": round(seconds, 1),
    }


def summarise(cells: list[dict[str, Any]], recipe: Recipe) -> dict[str, Any]:
    """The reference file's content from each cell's :func:`train_and_score` result."""
    benchmarks: dict[str, Any] = {}
    for cell in cells:
        bench, _, model = cell["task"].partition("/")
        entry = benchmarks.setdefault(bench, {"models": {}})
        base, instruct = (round(100 * cell[k], 2) for k in ("base", "score"))
        entry["models"][model] = {"base": base, "instruct": instruct}
    for entry in benchmarks.values():
        for key in ("base", "instruct"):
            entry[key] = round(statistics.mean(m[key] for m in entry["models"].values()), 2)
    return {
        "source": (
            "python -m ptb_env.tasks.reference: each cell's base model after the reference recipe "
            f"({recipe}), on the hidden test split, in percent; base and instruct are means over models"
        ),
        "benchmarks": benchmarks,
    }


def main() -> None:
    import torch

    from ptb_env.cpus import available_cpus
    from ptb_env.tasks.tiny import GRID_TASKS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=Recipe.steps)
    p.add_argument("--tasks", nargs="+", default=[t.id for t in GRID_TASKS])
    p.add_argument("--out", type=Path, default=TINY_REFERENCE_FILE)
    a = p.parse_args()
    torch.set_num_threads(available_cpus())  # the CPUs this process may use, not torch's guess
    recipe = Recipe(steps=a.steps)
    cells = []
    for task in a.tasks:
        with tempfile.TemporaryDirectory(prefix="ptb-reference-") as work:
            cell = train_and_score(task, recipe, Path(work))
        cells.append(cell)
        print(json.dumps(cell), flush=True)
    a.out.write_text(json.dumps(summarise(cells, recipe), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
