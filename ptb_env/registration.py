"""Gymnasium registration: ``PostTrain-v0`` (the default tiny task) and one id per task."""

from __future__ import annotations

import gymnasium as gym

from ptb_env.tasks import DEFAULT_TASK, gym_id, list_tasks

ENTRY_POINT = "ptb_env.env:PostTrainEnv"
RECIPE_ENTRY_POINT = "ptb_env.wrappers.recipe:make_recipe_env"


def recipe_id(task_id: str) -> str:
    """The Gymnasium id of a tiny task's recipe wrapper: ``PostTrainRecipe-<task>-v0`` (``/`` becomes
    ``-``, as in :func:`ptb_env.tasks.gym_id`)."""
    return f"PostTrainRecipe-{task_id.replace('/', '-')}-v0"


def register_envs() -> None:
    """Register ``PostTrain-v0`` and ``PostTrain-<task>-v0`` for every registered task (idempotent).

    Also ``PostTrainRecipe-v0`` and ``PostTrainRecipe-<task>-v0`` per tiny task: the discrete
    recipe wrapper (``ptb_env.wrappers.recipe``) over the same env.

    The env is registered as ``nondeterministic``: observations carry the wall-clock
    budget left, so two runs never match exactly (rewards do, on CPU; see the tests).
    """
    ids = {"PostTrain-v0": DEFAULT_TASK, **{gym_id(t): t for t in list_tasks()}}
    for env_id, task in ids.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=ENTRY_POINT, kwargs={"task": task}, nondeterministic=True)
    # The discrete recipe wrapper for classic RL (ptb_env/wrappers/recipe.py), tiny tasks only:
    # it generates training data with the tiny benchmarks' generators.
    tiny = [t for t in list_tasks() if t.startswith("tiny-")]
    recipe_ids = {"PostTrainRecipe-v0": DEFAULT_TASK, **{recipe_id(t): t for t in tiny}}
    for env_id, task in recipe_ids.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=RECIPE_ENTRY_POINT, kwargs={"task": task}, nondeterministic=True)
