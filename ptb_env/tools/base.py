"""The tool protocol: a name, a JSON schema, an argument sampler and ``run(ctx, args)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptb_env.budget import Budget
from ptb_env.compute import ComputeMeter
from ptb_env.sandbox import Sandbox, SandboxPaths
from ptb_env.tasks import TaskSpec
from ptb_env.workspace import Workspace

MAX_TEXT_ARG = 1_000_000
"""Longest string argument (commands, file contents)."""


@dataclass
class DevScores:
    """Dev scores of the episode so far (NaN until the first ``evaluate``)."""

    best: float = float("nan")
    last: float = float("nan")

    def record(self, score: float) -> None:
        self.last = score
        self.best = score if self.best != self.best else max(self.best, score)


@dataclass
class ToolContext:
    """What a tool may touch: the task, the workspace, the sandbox, the budget, the dev scorer.

    ``score_dev(path, limit, split)`` scores a checkpoint directory of the workspace (a path
    relative to it) on a split of ``dev_splits`` and returns ``(score, n, seconds)``; the env
    provides it (the grader's validation and evaluation path).
    """

    task: TaskSpec
    workspace: Workspace
    sandbox: Sandbox
    budget: Budget
    score_dev: Callable[[str, int, str], tuple[float, int, float]]
    dev: DevScores = field(default_factory=DevScores)
    dev_splits: tuple[str, ...] = ()
    """The splits ``evaluate`` may score, the task's ``dev_split`` (its default) first (empty: that
    one only). The observation's dev scores follow the default split."""
    compute: ComputeMeter | None = None
    """The compute budget's meter when the episode runs on it (``ptb_env.compute``), else ``None``."""

    def eval_splits(self) -> tuple[str, ...]:
        """:attr:`dev_splits`, or the task's ``dev_split`` alone when none are given."""
        return self.dev_splits or (self.task.dev_split,)

    @property
    def paths(self) -> SandboxPaths:
        """Where the workspace is, as the agent names it and on the host (the sandbox's mapping).

        Tools resolve every path the agent names with it (``ctx.paths.inner(path)``,
        ``ctx.paths.workspace_rel(path)``), never by spelling ``/workspace``.
        """
        return self.sandbox.paths


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced.

    Attributes:
        output: Text for the agent (the observation's ``output``).
        error: Why the call failed, for the agent ("" when it did not).
        submit: The agent submitted: the episode ends and is graded.
        data: The same outcome for code (``info["result"]``; keys per tool in
            :mod:`ptb_env.tools.results`). Code reads this, never ``output``.
    """

    output: str = ""
    error: str = ""
    submit: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class Tool(ABC):
    """One tool of the agent: its schema (OpenAI function calling) and what it does."""

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    sample_weight: float = 1.0
    """How often ``action_space.sample()`` picks this tool, relative to the others."""

    @abstractmethod
    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        """Carry out a validated call; agent mistakes are returned as ``ToolResult.error``."""

    @abstractmethod
    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        """Valid arguments drawn with ``rng`` (cheap to run: used by random agents and checks)."""

    def openai_schema(self) -> dict[str, Any]:
        """The tool in the OpenAI function-calling format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def string(description: str, max_length: int = MAX_TEXT_ARG) -> dict[str, Any]:
    return {"type": "string", "description": description, "maxLength": max_length}


def integer(description: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "description": description, "minimum": minimum, "maximum": maximum}


def number(description: str, minimum: float, maximum: float) -> dict[str, Any]:
    return {"type": "number", "description": description, "minimum": minimum, "maximum": maximum}


def schema(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}
