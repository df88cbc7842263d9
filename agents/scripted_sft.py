"""scripted-sft: generate training data, run the reference SFT recipe, check dev, submit.

The script sizes the run to the budget: it keeps ``reserve_s`` seconds for the dev
check and grading, plans ``steps_per_second`` optimizer steps per second of the
rest, and generates one epoch of examples for those steps. On the compute budget
(``budget="compute"``) it generates ``max_examples`` examples and lets the ``train``
tool fit the steps to the TFLOP left but one dev check's and a margin's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ptb_agents.steps import (
    STARTUP_S,
    Episode,
    PlanAgent,
    compute_reserve,
    evaluate,
    generate_data,
    seconds_left,
    train_and_wait,
)


@dataclass(frozen=True)
class ScriptedSFTArgs:
    """Settings of the scripted SFT baseline."""

    learning_rate: float = 2e-3
    """Peak learning rate of the reference recipe."""
    batch_size: int = 32
    """Examples per optimizer step."""
    steps_per_second: float = 2.5
    """Planned optimizer steps per second of training (2 CPU cores, tiny model)."""
    max_examples: int = 20_000
    """Most training examples generated."""
    reserve_s: float = 30.0
    """Seconds kept after training for the dev check and grading."""
    dev_limit: int = 100
    """Dev items scored before submitting."""
    max_steps: int | None = None
    """Train exactly this many steps (time permitting) instead of fitting the steps to the budget."""


class ScriptedSFTAgent(PlanAgent):
    """A fixed plan, driven by observations: data → train → wait → evaluate → submit."""

    name = "scripted-sft"

    def __init__(self, args: ScriptedSFTArgs = ScriptedSFTArgs()) -> None:
        self.args = args

    def _steps(self) -> Episode:
        a = self.args
        obs = yield None  # primed by reset
        train_args: dict[str, Any] = {
            "data": "data/train.jsonl",
            "out": "final_model",
            "learning_rate": a.learning_rate,
            "batch_size": a.batch_size,
            "seed": self.seed,
        }
        if self.compute is not None:  # the compute budget: the tool fits the steps to max_tflop
            obs = yield from generate_data(self.benchmark, a.max_examples, self.seed)
            train_args["max_tflop"] = self.compute["tflop"] - compute_reserve(self.compute, 1, a.dev_limit)
            train_args["epochs"] = 100.0
            if a.max_steps:
                train_args["max_steps"] = a.max_steps
        else:
            train_s = max(10.0, seconds_left(obs) - a.reserve_s - STARTUP_S)
            steps = a.max_steps or max(10, int(a.steps_per_second * train_s))
            n = min(a.max_examples, steps * a.batch_size)
            obs = yield from generate_data(self.benchmark, n, self.seed)
            train_args["max_steps"] = steps
            train_args["max_seconds"] = max(5.0, seconds_left(obs) - a.reserve_s - STARTUP_S)
        yield from train_and_wait(train_args)
        yield from evaluate("final_model", a.dev_limit)
        yield {"tool": "submit", "args": {}}
