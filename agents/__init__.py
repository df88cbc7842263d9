"""Baseline agents for PostTrain-v0 (installed as ``ptb_agents``, never as ``agents``).

>>> sorted(AGENTS)
['llm', 'noop', 'random', 'scripted-sft', 'search']
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from ptb_agents.base import Agent, EpisodeResult, run_episode
from ptb_agents.noop import NoopAgent
from ptb_agents.random_agent import RandomAgent
from ptb_agents.scripted_sft import ScriptedSFTAgent, ScriptedSFTArgs
from ptb_agents.search import Arm, SearchAgent, SearchArgs


def _llm_agent(**kwargs: Any) -> Agent:
    """The LLM agent, imported on use (it needs the `openai` client: the `llm` extra)."""
    from ptb_agents.llm import LLMAgent, LLMArgs

    return LLMAgent(LLMArgs(**kwargs))


AGENTS = {
    "llm": _llm_agent,
    "noop": NoopAgent,
    "random": RandomAgent,
    "scripted-sft": ScriptedSFTAgent,
    "search": SearchAgent,
}


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
    "AGENTS", "Agent", "Arm", "EpisodeResult", "NoopAgent", "RandomAgent", "ScriptedSFTAgent",
    "ScriptedSFTArgs", "SearchAgent", "SearchArgs", "make_agent", "run_episode",
]  # fmt: skip
