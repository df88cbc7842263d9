"""scripted-sft: generate training data, run the reference SFT recipe, check dev, submit.

The script sizes the run to the budget: it keeps ``reserve_s`` seconds for the dev
check and grading, plans ``steps_per_second`` optimizer steps per second of the
rest, and generates one epoch of examples for those steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

STARTUP_S = 12.0
"""Seconds the training job spends starting (Python, torch, model load) before its clock runs."""


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


class ScriptedSFTAgent:
    """A fixed plan, driven by observations: data → train → wait → evaluate → submit."""

    name = "scripted-sft"

    def __init__(self, args: ScriptedSFTArgs = ScriptedSFTArgs()) -> None:
        self.args = args

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self.benchmark = info["task"] if "/" not in info["task"] else info["task"].split("/")[0]
        self.seed = 0 if seed is None else int(seed)
        self._plan = self._steps()
        self._obs = obs
        next(self._plan)

    def act(self, obs: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._plan.send(obs)
        except StopIteration:
            return {"tool": "submit", "args": {}}

    def _steps(self) -> Iterator[dict[str, Any]]:
        a = self.args
        obs = yield  # primed by reset
        left = float(obs["budget"]["seconds_left"])
        train_s = max(10.0, (left if left != float("inf") else 300.0) - a.reserve_s - STARTUP_S)
        steps = a.max_steps or max(10, int(a.steps_per_second * train_s))
        n = min(a.max_examples, steps * a.batch_size)
        gen = (
            f"python -m ptb_env.benchmarks.generate {self.benchmark} --n {n} --seed {self.seed} "
            "--out data/train.jsonl"
        )
        obs = yield {"tool": "bash", "args": {"command": gen}}
        left = float(obs["budget"]["seconds_left"])
        max_seconds = max(5.0, (left if left != float("inf") else 300.0) - a.reserve_s - STARTUP_S)
        train_args = {
            "data": "data/train.jsonl",
            "out": "final_model",
            "learning_rate": a.learning_rate,
            "batch_size": a.batch_size,
            "max_steps": steps,
            "max_seconds": max_seconds,
            "seed": self.seed,
        }
        obs = yield {"tool": "train", "args": train_args}
        job = json.loads(obs["output"].split("wait for it with ", 1)[1])["args"]["job_id"]
        obs = yield {"tool": "wait", "args": {"job_id": job}}
        while "running" in obs["output"].split("\n", 1)[0]:
            obs = yield {"tool": "wait", "args": {"job_id": job}}
        obs = yield {"tool": "evaluate", "args": {"limit": a.dev_limit}}
        yield {"tool": "submit", "args": {}}
