"""random: samples the env's action space (valid tool calls with random arguments)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class RandomAgent:
    """Draws every action from ``env.action_space`` (seeded at reset)."""

    name = "random"

    def __init__(self, env: gym.Env) -> None:
        self.space = env.action_space

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self.space.seed(seed)

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.space.sample()
