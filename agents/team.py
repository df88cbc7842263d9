"""Scripted teammates of PostTrainTeam: a data curator, a trainer and an evaluator.

Each reacts to its observation, ``teammates`` included (what the others did last round), and
passes (``{"tool": "pass"}``, free) when it has nothing to do:

- curator: generates the training data in its first round, then passes;
- trainer: once a teammate reports training data written, starts a ``train`` job, then waits
  for it (one ``wait`` call that returns when the job ends), then passes;
- evaluator: once a teammate reports the training job finished, evaluates ``final_model/`` on
  the dev split, then submits for the team.

:func:`run_parallel` plays one episode of any PettingZoo parallel env with one ``Agent`` per id.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ptb_agents.audit import GameResult
from ptb_agents.base import Agent

PASS = {"tool": "pass", "args": {}}


@dataclass(frozen=True)
class TeamArgs:
    """Settings of the scripted team."""

    examples: int = 4000
    """Training examples the curator generates."""
    train_steps: int = 300
    """Optimizer steps of the trainer's ``train`` call."""
    batch_size: int = 32
    """Examples per step."""
    learning_rate: float = 2e-3
    """Peak learning rate."""
    dev_limit: int = 100
    """Dev items the evaluator scores before submitting."""


class _Teammate:
    """Base of the scripted teammates: per-episode state in ``reset``, a decision per round."""

    name = "teammate"

    def __init__(self, args: TeamArgs = TeamArgs()) -> None:
        self.args = args

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self.benchmark = info.get("benchmark") or info["task"].split("/")[0]
        self.seed = 0 if seed is None else int(seed)
        self.stage = 0

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError


class CuratorAgent(_Teammate):
    """Generates ``examples`` training examples into ``data/train.jsonl``, then passes."""

    name = "curator"

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.stage > 0:
            return PASS
        self.stage = 1
        command = (
            f"python -m ptb_env.benchmarks.generate {self.benchmark} --n {self.args.examples} "
            f"--seed {self.seed} --out data/train.jsonl"
        )
        return {"tool": "bash", "args": {"command": command}}


class TeamTrainerAgent(_Teammate):
    """Trains on ``data/train.jsonl`` once a teammate reports it written, waits for the job, passes."""

    name = "team-trainer"

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        a = self.args
        if self.stage == 0 and any(_wrote_data(t) for t in (info or {}).get("teammates", ())):
            self.stage = 1
            train = {
                "data": "data/train.jsonl",
                "out": "final_model",
                "max_steps": a.train_steps,
                "batch_size": a.batch_size,
                "learning_rate": a.learning_rate,
                "seed": self.seed,
            }
            return {"tool": "train", "args": train}
        if self.stage == 1:
            job = (info or {}).get("result", {}).get("job")
            if job is None:  # the job did not start: try again next round
                self.stage = 0
                return PASS
            self.stage = 2
            return {"tool": "wait", "args": {"job_id": job["id"]}}
        return PASS


def _wrote_data(turn: Mapping[str, Any]) -> bool:
    """Whether a teammate's turn wrote ``data/train.jsonl`` successfully (a ``bash`` call that named it)."""
    result = turn.get("result", {})
    command = str(turn.get("args", {}).get("command", ""))
    return turn.get("tool") == "bash" and result.get("exit_code") == 0 and "data/train.jsonl" in command


def _job_exited(turn: Mapping[str, Any]) -> bool:
    """Whether a teammate's turn reports a job that exited (e.g. its ``wait`` for the training job)."""
    jobs = turn.get("result", {}).get("jobs") or []
    return any(j.get("state") == "exited" for j in jobs)


class EvaluatorAgent(_Teammate):
    """Once a teammate reports the training job over, scores ``final_model/`` on dev, then submits."""

    name = "evaluator"

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.stage == 0 and any(_job_exited(t) for t in (info or {}).get("teammates", ())):
            self.stage = 1
            return {"tool": "evaluate", "args": {"model": "final_model", "limit": self.args.dev_limit}}
        if self.stage == 1:
            self.stage = 2
            return {"tool": "submit", "args": {}}
        return PASS


def scripted_team(args: TeamArgs = TeamArgs()) -> dict[str, Agent]:
    """The scripted curator, trainer and evaluator, by the ids of the default roles."""
    return {
        "curator_0": CuratorAgent(args),
        "trainer_1": TeamTrainerAgent(args),
        "evaluator_2": EvaluatorAgent(args),
    }


def run_parallel(env: Any, policies: Mapping[str, Agent], seed: int | None = None) -> GameResult:
    """Play one episode of a parallel env; ``policies[agent]`` gets ``reset`` first."""
    t0 = time.perf_counter()
    observations, infos = env.reset(seed=seed)
    for agent in env.agents:
        policies[agent].reset(observations[agent], infos[agent], seed)
    totals: dict[str, float] = defaultdict(float)
    actions: dict[str, int] = defaultdict(int)
    last: dict[str, dict[str, Any]] = {}
    while env.agents:
        calls = {a: policies[a].act(observations[a], infos[a]) for a in env.agents}
        for a, call in calls.items():
            actions[a] += not (isinstance(call, dict) and call.get("tool") == "pass")
        observations, rewards, terminations, truncations, infos = env.step(calls)
        for a, r in rewards.items():
            totals[a] += float(r)
            last[a] = infos[a]
    return GameResult(
        dict(totals), last, dict(actions), time.perf_counter() - t0, {a: p.name for a, p in policies.items()}
    )


__all__ = [
    "CuratorAgent", "EvaluatorAgent", "TeamArgs", "TeamTrainerAgent", "run_parallel", "scripted_team",
]  # fmt: skip
