"""The tiny suite: the shipped tiny base model on each synthetic benchmark (2 CPU cores, minutes),
and the tiny grid: each benchmark with headroom (v2, and tiny-facts-v3) on each of the tiny base
models (``<benchmark>/<model>``)."""

from __future__ import annotations

import dataclasses

from ptb_env.compute import TINY_TFLOP_PER_S
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.tasks.spec import TaskSpec
from ptb_env.tiny.build import PRESETS

_GENERATE = (
    "Generate training data with `python -m ptb_env.benchmarks.generate {b} --n 4000 --seed 0 "
    "--out data/train.jsonl` (chat examples, one JSON object per line)."
)


def _tiny(benchmark: str, skill: str, structure: str = "") -> TaskSpec:
    hints = [_GENERATE.format(b=benchmark)]
    if structure:
        hints.append(
            f"{structure} See `python -m ptb_env.benchmarks.generate {benchmark} --help` for the "
            "generator's options."
        )
    hints.append(
        f"Two dev splits are in `data/`: `{benchmark}-dev-shift.jsonl` draws on names and wordings "
        "that the generator never uses, as the hidden test does with names and wordings of its "
        f"own{' and its structure' if structure else ''} (`evaluate` scores it); "
        f"`{benchmark}-dev.jsonl` draws on the generator's "
        '(`evaluate` with `"split": "dev"`).'
    )
    return TaskSpec(
        id=benchmark,
        benchmark=benchmark,
        base_model=str(TINY_MODEL_DIR),
        title=f"post-train the tiny base model for {benchmark}",
        goal=(
            f"Post-train the base model so that it scores as high as possible on {benchmark} "
            f"({skill}). The base model is pre-trained only: it has never seen a chat. Your "
            "score is the benchmark accuracy of `final_model/` on a hidden test split, minus "
            "the base model's."
        ),
        hints=tuple(hints),
        dev_split="dev-shift",
        compute_tflop=300.0 * TINY_TFLOP_PER_S,  # the 5 minutes' worth
    )


TINY_TASKS = (
    _tiny("tiny-arith", "word problems with one to three operations, answer after ####"),
    _tiny("tiny-tools", "turn a request into one JSON function call"),
    _tiny("tiny-facts", "multiple-choice questions about people of the tiny world"),
    _tiny(
        "tiny-arith-v2",
        "word problems with two to five operations, answer after ####",
        "The hidden test's problems are harder than the generator's default: two to five "
        "operations, and half of them have a sentence about someone else that does not change "
        "the answer.",
    ),
    _tiny(
        "tiny-arith-v3",
        "word problems with one to five operations, answer after ####",
        "Two in five of the hidden test's problems are harder than the generator's default: two "
        "to five operations, and half of them have a sentence about someone else that does not "
        "change the answer; the other three have the default structure.",
    ),
    _tiny(
        "tiny-tools-v2",
        "pick the right one of four to six functions and call it as JSON",
        "The hidden test's requests are harder than the generator's default: four to six "
        "candidate functions, and half of them have a sentence of chatter with a city, a person "
        "or a number that is not an argument.",
    ),
    _tiny(
        "tiny-facts-v2",
        "multiple-choice questions (four to six choices) about people of the tiny world",
        "The hidden test's questions are harder than the generator's default: four to six "
        "choices, and half of them follow a sentence that states the same kind of fact about "
        "someone else, whose value is one of the wrong choices.",
    ),
    _tiny(
        "tiny-facts-v3",
        "multiple-choice questions (four to six choices) about people of the tiny world, answered "
        "with the choice's text or its letter",
        "The hidden test's questions are harder than the generator's default: four to six "
        "choices, and half of them follow a sentence that states the same kind of fact about "
        "someone else, whose value is one of the wrong choices. The test asks about people whom "
        "no public split asks about; so does the dev-shift split, about people of its own.",
    ),
)

#: The tiny grid's base models: name -> model directory (``python -m ptb_env.tiny.build --preset
#: NAME`` builds each; ``tiny-2m`` is the default tasks' model).
TINY_MODELS = {name: cfg.out_dir for name, cfg in PRESETS.items()}
GRID_BENCHMARKS = ("tiny-arith-v2", "tiny-arith-v3", "tiny-tools-v2", "tiny-facts-v2", "tiny-facts-v3")
"""The benchmarks of the tiny grid (the versions with headroom; ``tiny-facts-v2``'s cells stay
registered, but every tuned model answers it with one letter: ``tiny-facts-v3`` is its successor)."""


def _grid() -> tuple[TaskSpec, ...]:
    by_id = {t.id: t for t in TINY_TASKS}
    return tuple(
        dataclasses.replace(
            by_id[bench],
            id=f"{bench}/{model}",
            base_model=str(path),
            title=f"post-train the tiny base model {model} for {bench}",
        )
        for bench in GRID_BENCHMARKS
        for model, path in TINY_MODELS.items()
    )


GRID_TASKS = _grid()
"""``<benchmark>/<model>`` for each of :data:`GRID_BENCHMARKS` x :data:`TINY_MODELS`."""

SHORT_TIME_S = 90.0
"""The short tasks' budget: seconds, or their worth in TFLOP on the compute budget."""
SHORT_TEST_LIMIT = 200
"""Hidden test items a short task grades (the first of the split: cheaper rewards for RL)."""
SHORT_TASKS = tuple(
    dataclasses.replace(
        t,
        id=f"{t.id}-short",
        title=f"{t.title} in 90 seconds",
        time_limit_s=SHORT_TIME_S,
        compute_tflop=SHORT_TIME_S * TINY_TFLOP_PER_S,
        max_steps=50,
        max_dev_evals=5,
        test_limit=SHORT_TEST_LIMIT,
    )
    for t in TINY_TASKS
    if t.id == "tiny-arith"
)
"""Short-episode variants for RL (issue "Meta-agent RL that learns"): ``tiny-arith-short``, the
default task in 90 s (or 3.6 TFLOP), grading the first 200 hidden test items."""

SHORT_RECIPE_LEVELS: dict[str, tuple[float, ...]] = {
    "data_levels": (500, 4000),
    "lr_levels": (5e-4, 2e-3, 8e-3),
    "steps_levels": (10, 30, 60),
}
"""The recipe wrapper's levels on a short task (``PostTrainRecipe-tiny-arith-short-v0``): 3.6
TFLOP pay for about 70 optimizer steps of 32 examples, so the default levels (50/150/400 steps)
would be cut to the same round; these 18 recipes span a useless round (10 steps) to the best
(see ``tests/perf/reward_landscape.py`` and ``docs/rl.md``)."""
