"""The agent protocol and the episode loop shared by the baselines and the CLI."""

from __future__ import annotations

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


def run_episode(
    env: gym.Env,
    agent: Agent,
    seed: int | None = None,
    on_step: Callable[[int, Any, dict[str, Any], dict[str, Any]], None] | None = None,
) -> EpisodeResult:
    """Run one episode of ``agent`` in ``env``; ``on_step(i, action, obs, info)`` sees each step."""
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info, seed)
    reward, steps, terminated, truncated = 0.0, 0, False, False
    while not (terminated or truncated):
        action = agent.act(obs, info)
        obs, r, terminated, truncated, info = env.step(action)
        reward += r
        steps += 1
        if on_step is not None:
            on_step(steps, action, obs, info)
    return EpisodeResult(
        agent=agent.name,
        task=env.unwrapped.task.id,
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
