"""The ``evaluate`` tool: score a checkpoint of the workspace on the dev split (costs budget)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptb_env.errors import CheckpointError
from ptb_env.tools.base import Tool, ToolContext, ToolResult, integer, schema, string


class Evaluate(Tool):
    name = "evaluate"
    description = (
        "Score a checkpoint directory on a dev split with the grader's own evaluation (greedy "
        "decoding, the task's chat template); the task card names the splits. Each scored call "
        "uses one dev evaluation of the budget, and its time (or compute) counts. The hidden test split is "
        "never used (except by tasks whose card says evaluate scores test items)."
    )
    parameters = schema(
        model=string("Checkpoint directory in the workspace (default final_model).", 4096),
        limit=integer(
            "Score only the first N dev items (default: the task's dev_limit, which the task card "
            "states; 100 on the tiny tasks).",
            1,
            100_000,
        ),
        split=string(
            "Dev split to score (default: the task's, which the task card names). The tiny tasks "
            "have 'dev-shift' (their default: names and wordings the generator never uses, like "
            "the hidden test) and 'dev' (drawn like the generated training data).",
            32,
        ),
    )
    sample_weight = 0.1

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        model = args.get("model", "final_model")
        rel = ctx.paths.workspace_rel(model)
        if rel is None:
            return ToolResult(error=f"{ctx.paths.outside(model)} Evaluate checkpoints in the workspace.")
        splits = ctx.eval_splits()
        split = args.get("split", splits[0])
        if split not in splits:
            return ToolResult(
                error=f"evaluate scores the split {' or '.join(map(repr, splits))}, not {split!r}."
            )
        if ctx.budget.left()["dev_evals"] < 1:
            return ToolResult(error="No dev evaluation is left in the budget.")
        limit = args.get("limit", ctx.task.dev_limit)
        if ctx.compute is not None and ctx.budget.compute.left() < ctx.compute.eval_tflop(limit):
            return ToolResult(
                error=f"Scoring {limit} items costs {ctx.compute.eval_tflop(limit):.4g} TFLOP and "
                f"{ctx.budget.compute.left():.4g} are left; pass a smaller limit."
            )
        try:
            score, n, seconds = ctx.score_dev(rel, limit, split)
        except CheckpointError as err:
            return ToolResult(error=f"Cannot evaluate {model!r} (no dev evaluation was used): {err}")
        ctx.budget.charge_eval()
        if ctx.compute is not None:
            ctx.compute.charge(ctx.compute.eval_tflop(n))
        data = {"model": model, "split": split, "score": score, "n": n, "seconds": seconds}
        if split != splits[0]:  # the observation's dev scores follow the default split only
            text = f"{split} score of {model}: {score:.4f} on {n} items ({seconds:.1f} s)"
            return ToolResult(output=text, data={**data, "best": None})
        ctx.dev.record(score)
        return ToolResult(
            output=f"{split} score of {model}: {score:.4f} on {n} items ({seconds:.1f} s); best so far "
            f"{ctx.dev.best:.4f}",
            data={**data, "best": ctx.dev.best},
        )

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {
            "model": ("final_model", "base_model")[int(rng.integers(2))],
            "limit": int(rng.integers(1, 5)),
        }
