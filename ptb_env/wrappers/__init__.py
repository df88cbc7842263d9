"""Wrappers over PostTrainEnv: the discrete recipe wrapper for classic RL (``PostTrainRecipe-v0``)."""

from __future__ import annotations

from ptb_env.wrappers.recipe import OBS_NAMES, MacroAction, RecipeConfig, RecipeWrapper, make_recipe_env

__all__ = ["OBS_NAMES", "MacroAction", "RecipeConfig", "RecipeWrapper", "make_recipe_env"]
