"""scripted-sft: generate training data, run the reference SFT recipe, check dev, submit.

The script sizes the run to the budget: it keeps ``reserve_s`` seconds for the dev
check and grading, plans ``steps_per_second`` optimizer steps per second of the
rest, and generates one epoch of examples for those steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptb_agents.steps import (
    STARTUP_S,
    Episode,
    PlanAgent,
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
        train_s = max(10.0, seconds_left(obs) - a.reserve_s - STARTUP_S)
        steps = a.max_steps or max(10, int(a.steps_per_second * train_s))
        n = min(a.max_examples, steps * a.batch_size)
        obs = yield from generate_data(self.benchmark, n, self.seed)
        max_seconds = max(5.0, seconds_left(obs) - a.reserve_s - STARTUP_S)
        train_args = {
            "data": "data/train.jsonl",
            "out": "final_model",
            "learning_rate": a.learning_rate,
            "batch_size": a.batch_size,
            "max_steps": steps,
            "max_seconds": max_seconds,
            "seed": self.seed,
        }
        yield from train_and_wait(train_args)
        yield from evaluate("final_model", a.dev_limit)
        yield {"tool": "submit", "args": {}}
