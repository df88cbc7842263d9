"""The ``submit`` tool: end the episode and have ``final_model/`` graded."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptb_env.tools.base import Tool, ToolContext, ToolResult, schema


class Submit(Tool):
    name = "submit"
    description = (
        "End the episode: `final_model/` is graded on the hidden test split. Submit when the "
        "checkpoint you want graded is in place and no job still writes to it."
    )
    parameters = schema()
    sample_weight = 0.02

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        return ToolResult(output="submitted: grading final_model/", submit=True, data={"submitted": True})

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {}
