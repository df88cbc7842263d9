"""The rollout: the agent protocol, the episode loop and the record of an episode's outcome.

Any agent that follows :class:`Agent` runs with :func:`run_episode`; the baselines
(``ptb_agents``) are such agents, and the CLI and the distributed runner drive every agent
through this loop. Agents are made by name from :mod:`ptb_env.registry`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


@dataclass
class EpisodeResult:
    """The outcome of one episode."""

    agent: str
    task: str
    seed: int | None
    reward: float
    status: str
    score: float
    base_score: float
    steps: int
    seconds: float
    terminated: bool
    truncated: bool
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict, repr=False)


def _budget_text(obs: dict[str, Any]) -> str:
    """The budget left in ``obs`` as a short text (unlimited ledgers are left out)."""
    b = obs["budget"]
    parts = [
        f"{value:.0f}{unit} left"
        for key, unit in (("seconds_left", " s"), ("dev_evals_left", " dev evals"))
        if math.isfinite(value := float(b[key]))
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
    return EpisodeResult(
        agent=agent.name,
        task=_task_id(env),
        seed=seed,
        reward=reward,
        status=info.get("status", ""),
        score=info.get("score", float("nan")),
        base_score=info.get("base_score", float("nan")),
        steps=steps,
        seconds=time.perf_counter() - t0,
        terminated=terminated,
        truncated=truncated,
        reason=info.get("reason", ""),
        info=info,
    )


__all__ = ["Agent", "EpisodeResult", "run_episode"]


def _task_id(env: gym.Env) -> str:
    """The task id of a PostTrain env (or of the one a wrapper wraps)."""
    inner: Any = env.unwrapped
    return str(inner.task.id)
