"""The ``bash`` tool: one command in the agent's persistent, sandboxed shell."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptb_env.tools.base import Tool, ToolContext, ToolResult, number, schema, string

_SAMPLES = (
    "ls", "pwd", "timer", "cat TASK.md", "ls -la data", "echo $HOME", "false", "nproc",
    "du -sh .", "python -c 'print(2 + 2)'", "cd data", "cd /workspace", "export X=1; echo $X",
    "head -c 300 data/*.jsonl", "ls base_model", "printf 'λ 中 🙂\\n'",
)  # fmt: skip


class Bash(Tool):
    name = "bash"
    description = (
        "Run a bash command in your persistent shell (cwd and exported variables persist between "
        "calls; stdin is empty; output is stdout and stderr, the middle cut when long). "
        "Use job_start for anything that runs longer than a few minutes."
    )
    parameters = schema(
        ("command",),
        command=string("Bash code to run (may span lines)."),
        timeout=number(
            "Seconds before the command is killed (default 600, never past the budget).", 1, 36_000
        ),
    )
    sample_weight = 6.0

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        result = ctx.sandbox.run(args["command"], timeout=args.get("timeout"))
        return ToolResult(
            output=result.render(), data={"exit_code": result.exit_code, "timed_out": result.timed_out}
        )

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"command": _SAMPLES[int(rng.integers(len(_SAMPLES)))], "timeout": 10.0}
