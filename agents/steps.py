"""Building blocks of the scripted baselines: plans are generators that yield tool calls.

A plan yields an action and receives the observation it produced, with the step's
structured result (``info["result"]``, see ``ptb_env.tools.results``) added under
``"result"``; ``yield from`` composes these steps. Plans read results, never the
tools' text.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

Obs = dict[str, Any]
Plan = Generator[dict[str, Any], Obs, Obs]
"""A step of a plan: yields actions, receives observations, returns the last observation."""
Episode = Generator[dict[str, Any] | None, Obs, None]
"""A whole plan (``PlanAgent._steps``): its first ``yield None`` is the priming by ``reset``."""

STARTUP_S = 12.0
"""Seconds a training job spends starting (Python, torch, model load) before its clock runs."""


def with_result(obs: Obs, info: dict[str, Any] | None) -> Obs:
    """``obs`` with the step's structured result (``info["result"]``, ``{}`` if none) under ``"result"``."""
    return {**obs, "result": (info or {}).get("result", {})}


def seconds_left(obs: Obs, default: float = 300.0) -> float:
    """Budget seconds left in ``obs`` (``default`` when the budget has no time limit)."""
    left = float(obs["budget"]["seconds_left"])
    return left if left != float("inf") else default


def compute_reserve(compute: dict[str, float], evals: int, items: int, share: float = 0.03) -> float:
    """TFLOP to keep out of training on the compute budget: ``evals`` dev scores of ``items``
    items, and ``share`` of the budget for the agent's own commands."""
    return evals * items * compute["eval_tflop_per_item"] + share * compute["tflop"]


def generate_data(benchmark: str, n: int, seed: int, out: str = "data/train.jsonl") -> Plan:
    """Write ``n`` synthetic training examples of ``benchmark`` with the package's generator."""
    command = f"python -m ptb_env.benchmarks.generate {benchmark} --n {n} --seed {seed} --out {out}"
    return (yield {"tool": "bash", "args": {"command": command}})


def train_and_wait(train_args: dict[str, Any]) -> Generator[dict[str, Any], Obs, tuple[Obs, int | None]]:
    """Start a ``train`` job and wait until it ends; returns the last observation and the job id.

    If the job could not start (the observation carries an error), returns at once, job ``None``.
    """
    obs = yield {"tool": "train", "args": train_args}
    if not obs["result"].get("ok") or "job" not in obs["result"]:
        return obs, None
    job = int(obs["result"]["job"]["id"])
    obs = yield {"tool": "wait", "args": {"job_id": job}}
    while _running(obs, job):
        obs = yield {"tool": "wait", "args": {"job_id": job}}
    return obs, job


def _running(obs: Obs, job: int) -> bool:
    """Whether ``wait``'s result shows ``job`` still running (an error: not running, stop waiting)."""
    return any(j["id"] == job and j["state"] == "running" for j in obs["result"].get("jobs", ()))


def train_stats(job: int) -> Generator[dict[str, Any], Obs, dict[str, float] | None]:
    """Steps and training seconds of a finished ``train`` job, from the summary its log ends with."""
    obs = yield {"tool": "job_logs", "args": {"job_id": job, "chars": 2000}}
    steps = re.findall(r'"steps": (\d+)', obs["output"])
    seconds = re.findall(r'"train_seconds": ([0-9.]+)', obs["output"])
    if not steps or not seconds:
        return None
    return {"steps": float(steps[-1]), "train_seconds": float(seconds[-1])}


def evaluate(model: str, limit: int) -> Generator[dict[str, Any], Obs, float | None]:
    """Score ``model`` on ``limit`` dev items; ``None`` when it could not be scored."""
    obs = yield {"tool": "evaluate", "args": {"model": model, "limit": limit}}
    return float(obs["result"]["score"]) if obs["result"].get("ok") else None


class PlanAgent:
    """An agent whose episode is the plan generator ``_steps()``; it submits when the plan ends.

    ``reset`` sets ``benchmark`` and ``seed``, calls ``_start`` (per-episode state) and primes
    the plan, which then receives each observation.
    """

    name = "plan"

    def reset(self, obs: Obs, info: dict[str, Any], seed: int | None) -> None:
        self.benchmark = info.get("benchmark") or info["task"].split("/")[0]
        self.seed = 0 if seed is None else int(seed)
        self.compute: dict[str, float] | None = info.get("compute")
        """The compute budget's figures (``ptb_env.compute.describe``) when the episode runs on it:
        the plan is then sized in TFLOP, the same on every machine."""
        self._start()
        self._plan = self._steps()
        next(self._plan)

    def act(self, obs: Obs, info: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            action = self._plan.send(with_result(obs, info))
        except StopIteration:
            action = None
        return action if action is not None else {"tool": "submit", "args": {}}

    def _start(self) -> None:
        """Per-episode state, before the plan starts."""

    def _steps(self) -> Episode:
        raise NotImplementedError
