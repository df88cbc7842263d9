"""Tasks: a frozen ``TaskSpec`` per task and the registry the env and CLI read.

>>> get_task("tiny-arith").benchmark
'tiny-arith'
>>> gym_id("tiny-tools")
'PostTrain-tiny-tools-v0'
"""

from __future__ import annotations

import dataclasses
import os

from ptb_env.errors import PtbEnvError, TaskNotFound
from ptb_env.tasks.ptb import PTB_TASKS, ptb_task
from ptb_env.tasks.spec import TaskSpec
from ptb_env.tasks.tiny import GRID_TASKS, SHORT_TASKS, TINY_TASKS

DEFAULT_TASK = "tiny-arith"
_REGISTRY: dict[str, TaskSpec] = {t.id: t for t in (*TINY_TASKS, *GRID_TASKS, *SHORT_TASKS, *PTB_TASKS)}
TEST_LIMIT_VAR = "PTB_ENV_TEST_LIMIT"
"""Environment variable: when set to N, every registered task without a ``test_limit`` of its own
grades the first N hidden test items only (smoke runs and test suites: cheaper, noisier rewards;
the env's ``info["grade"]["n"]`` and recorded trajectories say how many items were graded)."""


def register_task(spec: TaskSpec, *, replace: bool = False) -> None:
    """Add a task to the registry (``replace=True`` to overwrite an id)."""
    if spec.id in _REGISTRY and not replace:
        raise ValueError(f"Task {spec.id!r} is already registered; pass replace=True to overwrite it.")
    _REGISTRY[spec.id] = spec


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The task registered under ``task`` (a ``TaskSpec`` passes through).

    With :data:`TEST_LIMIT_VAR` set, a registered task without a ``test_limit`` of its own
    gets that many hidden test items.

    Raises:
        TaskNotFound: Unknown id; the message suggests the closest one.
        PtbEnvError: :data:`TEST_LIMIT_VAR` is set to something else than a whole number >= 1.
    """
    if isinstance(task, TaskSpec):
        return task
    try:
        spec = _REGISTRY[task]
    except KeyError:
        raise TaskNotFound(task, _REGISTRY) from None
    limit = os.environ.get(TEST_LIMIT_VAR, "").strip()
    if limit and spec.test_limit is None:
        if not limit.isdigit() or int(limit) < 1:
            raise PtbEnvError(f"Expect {TEST_LIMIT_VAR} to be a whole number >= 1, actually got {limit!r}.")
        spec = dataclasses.replace(spec, test_limit=int(limit))
    return spec


def list_tasks(world: str | None = None) -> list[str]:
    """Ids of the registered tasks (of one world, ``"tiny"`` or ``"ptb"``, when given)."""
    return sorted(t for t, spec in _REGISTRY.items() if world is None or spec.world == world)


def gym_id(task_id: str) -> str:
    """The Gymnasium id of a task: ``PostTrain-<task>-v0`` (``/`` becomes ``-``).

    >>> gym_id("gsm8k/Qwen3-1.7B-Base")
    'PostTrain-gsm8k-Qwen3-1.7B-Base-v0'
    """
    return f"PostTrain-{task_id.replace('/', '-')}-v0"


__all__ = [
    "DEFAULT_TASK",
    "PTB_TASKS",
    "TaskSpec",
    "ptb_task",
    "get_task",
    "gym_id",
    "list_tasks",
    "register_task",
]
