"""The rollout: the agent protocol, the episode loop and the record of an episode's outcome.

Any agent that follows :class:`Agent` runs with :func:`run_episode`; the baselines
(``ptb_agents``) are such agents, and the CLI and the distributed runner drive every agent
through this loop. Agents are made by name from :mod:`ptb_env.registry`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeVar

import gymnasium as gym


class Agent(Protocol):
    """What ``run_episode`` drives: ``reset`` once per episode, then ``act`` until it ends.

    ``act`` gets the observation and the ``info`` of the step that produced it (at the
    first call, the reset's ``info``: task card, tool schemas, base score) and returns a
    tool call, as a dict or a JSON string.
    """

    name: str

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None: ...

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any] | str: ...


_R = TypeVar("_R", bound="EpisodeResult")


@dataclass
class EpisodeResult:
    """The outcome of one episode: the one record of it (rollouts, Ray rows, GRPO rewards).

    Built from the last step's ``info`` by :meth:`from_info`, serialised by :meth:`to_dict`;
    the distributed runner's rows and the TRL adapter's records are this record with a few
    fields of their own added.

    Attributes:
        agent: The agent's name.
        task: The task id.
        seed: The seed of ``env.reset``.
        status: ``ok``, ``invalid_checkpoint``, ``disqualified`` or ``infra_error``.
        reward: The episode's return (the uplift, plus shaping and penalties if the env adds them).
        uplift: Test score minus base score (0 when the checkpoint is invalid).
        score: Test score of the checkpoint (the base score when invalid).
        base_score: Test score of the base model.
        steps: Steps the episode took.
        seconds: Wall time of the episode.
        terminated: The agent submitted.
        truncated: The budget ran out.
        reason: Why the checkpoint is invalid, or the error of an ``infra_error``.
        checkpoint: The grader's fingerprint of the scored checkpoint ("" when not scored).
        grade: The grade (``Grade.to_info()``), ``{}`` when the episode was not graded.
        integrity: Each integrity check's verdict, by check name.
        info: The last step's ``info`` (not serialised).
    """

    agent: str
    task: str
    seed: int | None
    status: str
    reward: float
    uplift: float = math.nan
    score: float = math.nan
    base_score: float = math.nan
    steps: int = 0
    seconds: float = 0.0
    terminated: bool = False
    truncated: bool = False
    reason: str = ""
    checkpoint: str = ""
    grade: dict[str, Any] = field(default_factory=dict)
    integrity: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_info(
        cls: type[_R],
        info: Mapping[str, Any],
        *,
        agent: str,
        task: str,
        seed: int | None,
        reward: float,
        **run: Any,
    ) -> _R:
        """The record of an episode whose last step returned ``info`` (``run``: steps, seconds, ...)."""
        grade = dict(info.get("grade") or {})
        return cls(
            agent=agent,
            task=task,
            seed=seed,
            reward=float(reward),
            status=str(info.get("status", "")),
            uplift=float(info.get("uplift", math.nan)),
            score=float(info.get("score", math.nan)),
            base_score=float(info.get("base_score", math.nan)),
            reason=str(info.get("reason", "")),
            checkpoint=str(grade.get("checkpoint", "")),
            grade=grade,
            integrity=dict(info.get("integrity") or {}),
            info=dict(info),
            **run,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field but ``info``, in order (what a result row or a JSON line holds)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "info"}


OUTCOME_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EpisodeResult) if f.name != "info")
"""The keys of :meth:`EpisodeResult.to_dict`, in order."""


def _budget_text(obs: dict[str, Any]) -> str:
    """The budget left in ``obs`` as a short text (unlimited ledgers are left out)."""
    b = obs["budget"]
    shown = (
        ("compute_left", ".3g", " TFLOP"),
        ("seconds_left", ".0f", " s"),
        ("dev_evals_left", ".0f", " dev evals"),
    )
    parts = [
        f"{value:{fmt}}{unit} left"
        for key, fmt, unit in shown
        if math.isfinite(value := float(b.get(key, math.inf)))
    ]
    return ", ".join(parts)


def run_episode(
    env: gym.Env,
    agent: Agent,
    seed: int | None = None,
    on_step: Callable[[int, Any, dict[str, Any], dict[str, Any]], None] | None = None,
    *,
    progress: bool = False,
) -> EpisodeResult:
    """Run one episode of ``agent`` in ``env``; ``on_step(i, action, obs, info)`` sees each step.

    Args:
        env: The environment (``PostTrain-v0`` or a wrapper of it).
        agent: The agent; ``reset`` once, then ``act`` until the episode ends.
        seed: Seed of ``env.reset`` and of the agent.
        on_step: Called after each step with its number, the action, observation and info.
        progress: Show a progress bar (tqdm, on stderr, only on a terminal) over the steps, with
            the time and dev evaluations left; its total is the step budget when it has one.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info, seed)
    steps_left = float(obs["budget"]["steps_left"])
    bar = tqdm(
        total=int(steps_left) if math.isfinite(steps_left) else None,
        desc=f"{agent.name} seed={seed}",
        unit="step",
        disable=None if progress else True,
    )
    bar.set_postfix_str(_budget_text(obs))
    reward, steps, terminated, truncated = 0.0, 0, False, False
    try:
        while not (terminated or truncated):
            action = agent.act(obs, info)
            obs, r, terminated, truncated, info = env.step(action)
            reward += float(r)
            steps += 1
            bar.set_postfix_str(_budget_text(obs), refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(steps, action, obs, info)
    finally:
        bar.close()
    return EpisodeResult.from_info(
        info,
        agent=agent.name,
        task=_task_id(env),
        seed=seed,
        reward=reward,
        steps=steps,
        seconds=time.perf_counter() - t0,
        terminated=terminated,
        truncated=truncated,
    )


__all__ = ["OUTCOME_FIELDS", "Agent", "EpisodeResult", "run_episode"]


def _task_id(env: gym.Env) -> str:
    """The task id of a PostTrain env (or of the one a wrapper wraps)."""
    inner: Any = env.unwrapped
    return str(inner.task.id)
