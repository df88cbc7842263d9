"""The agent protocol and the episode loop, re-exported from their home, :mod:`ptb_env.rollout`."""

from __future__ import annotations

from ptb_env.rollout import Agent, EpisodeResult, run_episode

__all__ = ["Agent", "EpisodeResult", "run_episode"]
