"""Baseline agents for PostTrain-v0 (installed as ``ptb_agents``, never as ``agents``).

Importing the package registers the baselines in :mod:`ptb_env.registry`; the library
finds this package through its ``ptb_env.agents`` entry point, never by name. The agent
protocol, the episode loop and ``make_agent`` live in the library and are re-exported here.

>>> sorted(AGENTS)
['expert', 'llm', 'noop', 'random', 'scripted-sft', 'search']
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from ptb_agents.expert import ExpertAgent, ExpertArgs
from ptb_agents.noop import NoopAgent
from ptb_agents.random_agent import RandomAgent
from ptb_agents.scripted_sft import ScriptedSFTAgent, ScriptedSFTArgs
from ptb_agents.search import Arm, SearchAgent, SearchArgs
from ptb_env.registry import AgentFactory, make_agent, register_agent
from ptb_env.rollout import Agent, EpisodeResult, run_episode


def _llm_agent(env: gym.Env | None, **kwargs: Any) -> Agent:
    """The LLM agent, imported on use (it needs the `openai` client: the `llm` extra)."""
    from ptb_agents.llm import LLMAgent, LLMArgs

    return LLMAgent(LLMArgs(**kwargs))


AGENTS: dict[str, AgentFactory] = {
    "expert": lambda env, **kwargs: ExpertAgent(**kwargs),
    "llm": _llm_agent,
    "noop": lambda env: NoopAgent(),
    "random": RandomAgent,  # samples the env's action space
    "scripted-sft": lambda env, **kwargs: ScriptedSFTAgent(**kwargs),
    "search": lambda env, **kwargs: SearchAgent(**kwargs),
}
"""The baselines by name, as registered: ``factory(env, **kwargs) -> Agent``."""

for _name, _factory in AGENTS.items():
    register_agent(_name, _factory)
del _name, _factory


__all__ = [
    "AGENTS", "Agent", "Arm", "EpisodeResult", "ExpertAgent", "ExpertArgs", "NoopAgent", "RandomAgent",
    "ScriptedSFTAgent", "ScriptedSFTArgs", "SearchAgent", "SearchArgs", "make_agent", "run_episode",
]  # fmt: skip
