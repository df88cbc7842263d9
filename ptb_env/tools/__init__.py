"""The agent's tools: shell, background jobs, files, training, dev evaluation, submit.

Each tool has an OpenAI function-calling schema, a sampler of valid arguments
(for ``action_space.sample()``) and ``run(ctx, args)``. Agent mistakes come back
as ``ToolResult.error``; failures of the machinery raise.
"""

from __future__ import annotations

from ptb_env.tools.base import DevScores, Tool, ToolContext, ToolResult
from ptb_env.tools.bash import Bash
from ptb_env.tools.evaluate import Evaluate
from ptb_env.tools.files import ReadFile, WriteFile
from ptb_env.tools.jobs import JobKill, JobLogs, JobStart, JobStatus, Wait
from ptb_env.tools.submit import Submit
from ptb_env.tools.train import Train


def default_tools() -> dict[str, Tool]:
    """The standard tool set, by name."""
    tools: list[Tool] = [
        Bash(), JobStart(), JobStatus(), JobLogs(), JobKill(), Wait(),
        ReadFile(), WriteFile(), Train(), Evaluate(), Submit(),
    ]  # fmt: skip
    return {t.name: t for t in tools}


__all__ = ["DevScores", "Tool", "ToolContext", "ToolResult", "default_tools"]
