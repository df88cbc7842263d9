"""Building blocks of the scripted baselines: plans are generators that yield tool calls.

A plan yields an action and receives the observation it produced; ``yield from``
composes these steps.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

Obs = dict[str, Any]
Plan = Generator[dict[str, Any], Obs, Obs]

STARTUP_S = 12.0
"""Seconds a training job spends starting (Python, torch, model load) before its clock runs."""


def seconds_left(obs: Obs, default: float = 300.0) -> float:
    """Budget seconds left in ``obs`` (``default`` when the budget has no time limit)."""
    left = float(obs["budget"]["seconds_left"])
    return left if left != float("inf") else default


def generate_data(benchmark: str, n: int, seed: int, out: str = "data/train.jsonl") -> Plan:
    """Write ``n`` synthetic training examples of ``benchmark`` with the package's generator."""
    command = f"python -m ptb_env.benchmarks.generate {benchmark} --n {n} --seed {seed} --out {out}"
    return (yield {"tool": "bash", "args": {"command": command}})


def train_and_wait(train_args: dict[str, Any]) -> Generator[dict[str, Any], Obs, tuple[Obs, int | None]]:
    """Start a ``train`` job and wait until it ends; returns the last observation and the job id.

    If the job could not start (the observation carries an error), returns at once, job ``None``.
    """
    obs = yield {"tool": "train", "args": train_args}
    m = re.search(r'"job_id": (\d+)', obs["output"])
    if m is None:
        return obs, None
    job = int(m.group(1))
    obs = yield {"tool": "wait", "args": {"job_id": job}}
    while "running" in obs["output"].split("\n", 1)[0]:
        obs = yield {"tool": "wait", "args": {"job_id": job}}
    return obs, job


def train_stats(job: int) -> Generator[dict[str, Any], Obs, dict[str, float] | None]:
    """Steps and training seconds of a finished ``train`` job, from the summary its log ends with."""
    obs = yield {"tool": "job_logs", "args": {"job_id": job, "chars": 2000}}
    steps = re.findall(r'"steps": (\d+)', obs["output"])
    seconds = re.findall(r'"train_seconds": ([0-9.]+)', obs["output"])
    if not steps or not seconds:
        return None
    return {"steps": float(steps[-1]), "train_seconds": float(seconds[-1])}


_DEV = re.compile(r"dev score of .*?: ([0-9.]+) on (\d+) items")


def evaluate(model: str, limit: int) -> Generator[dict[str, Any], Obs, float | None]:
    """Score ``model`` on ``limit`` dev items; ``None`` when it could not be scored."""
    obs = yield {"tool": "evaluate", "args": {"model": model, "limit": limit}}
    m = _DEV.search(obs["output"])
    return float(m.group(1)) if m else None


class PlanAgent:
    """An agent whose episode is the plan generator ``_steps()``; it submits when the plan ends.

    ``reset`` sets ``benchmark`` and ``seed``, calls ``_start`` (per-episode state) and primes
    the plan, which then receives each observation.
    """

    name = "plan"

    def reset(self, obs: Obs, info: dict[str, Any], seed: int | None) -> None:
        self.benchmark = info["task"].split("/")[0]
        self.seed = 0 if seed is None else int(seed)
        self._start()
        self._plan = self._steps()
        next(self._plan)

    def act(self, obs: Obs, info: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self._plan.send(obs)
        except StopIteration:
            return {"tool": "submit", "args": {}}

    def _start(self) -> None:
        """Per-episode state, before the plan starts."""

    def _steps(self) -> Plan:
        raise NotImplementedError
