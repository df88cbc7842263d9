"""Baseline agents for PostTrain-v0 (installed as ``ptb_agents``, never as ``agents``).

>>> sorted(AGENTS)
['noop', 'random', 'scripted-sft']
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from ptb_agents.base import Agent, EpisodeResult, run_episode
from ptb_agents.noop import NoopAgent
from ptb_agents.random_agent import RandomAgent
from ptb_agents.scripted_sft import ScriptedSFTAgent, ScriptedSFTArgs

AGENTS = {"noop": NoopAgent, "random": RandomAgent, "scripted-sft": ScriptedSFTAgent}


def make_agent(name: str, env: gym.Env, **kwargs: Any) -> Agent:
    """A baseline agent by name (``random`` needs the env for its action space)."""
    if name not in AGENTS:
        import difflib

        hint = difflib.get_close_matches(name, list(AGENTS), n=1)
        maybe = f" Did you mean: {hint[0]!r}?" if hint else ""
        raise KeyError(f"Unknown agent {name!r}.{maybe} Agents: {', '.join(AGENTS)}.")
    if name == "random":
        return RandomAgent(env)
    return AGENTS[name](**kwargs)


__all__ = [
    "AGENTS", "Agent", "EpisodeResult", "NoopAgent", "RandomAgent", "ScriptedSFTAgent",
    "ScriptedSFTArgs", "make_agent", "run_episode",
]  # fmt: skip
