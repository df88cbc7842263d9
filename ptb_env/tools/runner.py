"""The tool-call kernel: validate an action, run its tool, record the step.

One code path for every place an agent's action runs a tool (the env, the
auditor of ``PostTrainAudit``): the action is parsed and checked against the
tools' schemas (:func:`ptb_env.spaces.check_call`), the tool runs, and whatever
the agent's state did to it becomes an error for the agent, never an exception
of ``step``; only a :class:`~ptb_env.errors.GraderError` (our machinery) raises.
The outcome is a :class:`ToolCall`: the text for the agent and the same outcome
as data (``info["result"]``, see :mod:`ptb_env.tools.results`).
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ptb_env.errors import GraderError
from ptb_env.sandbox.output import truncate_middle
from ptb_env.spaces import check_call
from ptb_env.tools.base import Tool, ToolContext, ToolResult
from ptb_env.tools.results import result_info

_MAX_REPR_CHARS = 100_000


@dataclass(frozen=True)
class ToolCall:
    """One action and what it produced.

    Attributes:
        action: The action as sent.
        tool: The tool it called (``None``: the action was invalid and ran nothing).
        args: Its validated arguments (empty when invalid).
        result: What the tool produced (for an invalid action, the error saying why).
    """

    action: Any
    tool: str | None
    args: dict[str, Any]
    result: ToolResult

    def info(self) -> dict[str, Any]:
        """``info["result"]``: ``tool``, ``ok``, ``error`` if any, and the tool's data."""
        return result_info(self.tool, self.result.error, self.result.data)

    def texts(self, prefix: str) -> list[tuple[str, str]]:
        """``(name, text)`` of every string argument (what the agent sent through the tool)."""
        return [(f"{prefix} {self.tool}.{k}", v) for k, v in self.args.items() if isinstance(v, str)]


class ToolRunner:
    """Validates and runs tool calls against a set of tools."""

    def __init__(
        self, tools: Mapping[str, Tool], schemas: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self.tools = dict(tools)
        self.schemas = (
            dict(schemas) if schemas is not None else {n: t.parameters for n, t in self.tools.items()}
        )

    def parse(self, action: Any) -> tuple[tuple[str, dict[str, Any]] | None, str]:
        """``((tool, args), "")`` or ``(None, why the action is invalid)``."""
        return check_call(action, self.schemas)

    def call(self, action: Any, ctx: ToolContext) -> ToolCall:
        """Parse ``action`` and run it; never raises except ``GraderError``."""
        parsed, why = self.parse(action)
        if parsed is None:
            return ToolCall(action, None, {}, ToolResult(error=why))
        name, args = parsed
        return ToolCall(action, name, args, self.run(name, args, ctx))

    def run(self, name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run a validated call; whatever the agent's state did to the tool becomes an error.

        A ``GraderError`` (the evaluation machinery, not the agent) still raises. Anything
        else, such as a sandbox that died or lied during a control request, is reported to
        the agent (the sandbox restarts at its next call) instead of ending the RL loop.
        """
        try:
            return self.tools[name].run(ctx, args)
        except GraderError:
            raise
        except Exception as err:  # noqa: BLE001 - the agent can break its shell; never crash the loop
            return ToolResult(
                error=f"{name} failed: {type(err).__name__}: {str(err)[-500:]} (the shell restarts at the "
                "next call if it died)"
            )


_SHORT_REPR = reprlib.Repr()
"""Bounded repr of a dict action (safe on deeply nested or huge values)."""
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 6, 2000, 200


def shorten(value: Any, chars: int) -> Any:
    """``value`` with every string cut to ``chars`` (head and tail kept)."""
    if isinstance(value, str):
        return truncate_middle(value, chars)
    if isinstance(value, Mapping):
        return {str(k): shorten(v, chars) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shorten(v, chars) for v in value]
    return value


def action_text(action: Any) -> str:
    """The action as text for a record: a string as sent, anything else as a bounded repr."""
    if isinstance(action, str):
        return action
    try:
        return _SHORT_REPR.repr(action)[:_MAX_REPR_CHARS]
    except (ValueError, RecursionError):
        return f"<{type(action).__name__} action too large to show>"


@dataclass
class StepRecorder:
    """The steps of an episode, each cut short: the one record kept by the env and the auditor.

    A step is ``{"step", "tool", "action", "args", "output", "error", "result"}``: ``action``
    is the action as text (as sent, or a bounded repr), ``args`` the validated arguments
    (``{}`` for an invalid action), ``result`` the tool's data; strings are cut to ``chars``
    (head and tail kept). Only the last ``keep`` steps are kept (all when ``None``).
    """

    chars: int = 2000
    keep: int | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def record(self, call: ToolCall) -> dict[str, Any]:
        self.count += 1
        step = {
            "step": self.count,
            "tool": call.tool,
            "action": truncate_middle(action_text(call.action), self.chars),
            "args": shorten(call.args, self.chars),
            "output": truncate_middle(call.result.output, self.chars),
            "error": truncate_middle(call.result.error, self.chars),
            "result": shorten(call.result.data, self.chars),
        }
        self.steps.append(step)
        if self.keep is not None:
            del self.steps[: -self.keep]
        return step

    def clear(self) -> None:
        self.steps.clear()
        self.count = 0
