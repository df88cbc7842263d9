"""Wrappers over PostTrainEnv: the discrete recipe wrapper for classic RL (``PostTrainRecipe-v0``)
and the trajectory recorder (``RecordTrajectory``, ``replay``)."""

from __future__ import annotations

from ptb_env.wrappers.recipe import OBS_NAMES, MacroAction, RecipeConfig, RecipeWrapper, make_recipe_env
from ptb_env.wrappers.record import RecordTrajectory, read_trajectory, replay

__all__ = [
    "OBS_NAMES", "MacroAction", "RecipeConfig", "RecipeWrapper", "RecordTrajectory", "make_recipe_env",
    "read_trajectory", "replay",
]  # fmt: skip
