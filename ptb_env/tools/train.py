"""The ``train`` tool: the reference SFT recipe as a background job in the sandbox."""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ptb_env.compute import ComputeMeter, job_start_tflop
from ptb_env.errors import WorkspaceError
from ptb_env.sandbox.driver import quote
from ptb_env.tools.base import (
    Tool,
    ToolContext,
    ToolResult,
    integer,
    number,
    schema,
    string,
)
from ptb_env.training.sft import SFTConfig
from ptb_env.workspace import SNAPSHOT_DIR

MAX_DATA_BYTES = 4 << 30
"""Largest training-data file the tool accepts."""
SAVE_MARGIN_S = 20.0
"""Seconds kept free for saving the checkpoint when ``max_seconds`` defaults to the budget left."""

_D = SFTConfig()


class Train(Tool):
    name = "train"
    description = (
        'Fine-tune the base model on chat examples (JSONL, one {"messages": [...]} per line; the '
        "loss covers the last, assistant, message) with the reference full-SFT recipe (AdamW, linear "
        "warm-up, cosine decay). The data file (in the workspace) is snapshotted when the job starts; "
        "the job trains on the snapshot, and the snapshot is checked for contamination at grading. "
        "Runs as a background job and writes a checkpoint to `out`; "
        "wait for it with wait(job_id=...). Training stops at max_seconds (default: the time left "
        "minus a margin to save) and still writes the checkpoint. On the compute budget it runs the "
        "steps it is charged for at start, in the shell's initial environment."
    )
    parameters = schema(
        ("data",),
        data=string("Training data file (JSONL chat examples).", 4096),
        out=string("Output directory (default final_model).", 4096),
        init=string(
            "Checkpoint directory to start from (default: the base model, base_model); pass a "
            "previous run's `out` to continue training it.",
            4096,
        ),
        learning_rate=number(f"Peak learning rate (default {_D.learning_rate}).", 1e-7, 1.0),
        epochs=number(
            f"Passes over the data (default {_D.epochs}; ignored when max_steps is set).", 0.01, 100
        ),
        max_steps=integer("Optimizer steps (default: from epochs).", 1, 1_000_000),
        batch_size=integer(f"Examples per step (default {_D.batch_size}).", 1, 4096),
        max_length=integer(f"Tokens per example (default {_D.max_length}).", 8, 32_768),
        warmup_ratio=number(f"Share of steps warming up (default {_D.warmup_ratio}).", 0.0, 1.0),
        weight_decay=number(f"AdamW weight decay (default {_D.weight_decay}).", 0.0, 1.0),
        max_seconds=number("Stop training after this many seconds.", 1, 10**7),
        seed=integer(f"Seed of data order (default {_D.seed}).", 0, 2**31 - 1),
        schedule={
            "type": "string",
            "enum": ["auto", "steps", "time"],
            "description": "Clock of the warm-up and decay: 'steps', 'time' (max_seconds), or 'auto' "
            f"(default {_D.schedule!r}: steps, switching to time when the first steps show the "
            "planned steps will not fit, so a run cut at max_seconds still ends its decay).",
        },
        save_fractions={
            "type": "array",
            "items": {"type": "number", "minimum": 0.001, "maximum": 0.999},
            "maxItems": 20,
            "description": "Also save the model this far along the run (e.g. [0.5, 0.75]) into "
            "<out>-steps/step-<N>/, to pick one later with evaluate.",
        },
        save_every_s=number("Also save the model every this many seconds (same folder).", 1, 10**7),
        lora_r=integer(
            "LoRA rank (default 0: full fine-tuning); adapters on every linear layer, merged into a "
            "plain checkpoint at the end.",
            0,
            1024,
        ),
        lora_alpha=integer("LoRA scaling numerator (default 2 * lora_r).", 1, 100_000),
        lora_dropout=number(f"Dropout on the LoRA adapters' input (default {_D.lora_dropout}).", 0.0, 0.9),
        max_tflop=number(
            "Compute budget only: TFLOP to spend at most (default: all left but one evaluate's).", 1e-9, 1e12
        ),
    )
    sample_weight = 0.05

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        args = dict(args)
        data, out_arg = args.pop("data"), args.pop("out", "final_model")
        init_arg = args.pop("init", "base_model")
        try:
            out, init = ctx.paths.inner(out_arg, write=True), ctx.paths.inner(init_arg)
        except WorkspaceError as err:
            return ToolResult(error=str(err))
        max_tflop = args.pop("max_tflop", None)
        if max_tflop is not None and ctx.compute is None:
            return ToolResult(error="max_tflop applies to the compute budget only; this episode runs on time")
        snapshot = self._snapshot(ctx, data)
        if isinstance(snapshot, ToolResult):
            return snapshot
        inner_snapshot, host_snapshot = snapshot
        paid: dict[str, Any] | None = None
        if ctx.compute is not None:
            plan = _compute_plan(ctx, ctx.compute, args, host_snapshot, max_tflop)
            if isinstance(plan, ToolResult):
                _discard(host_snapshot)
                return plan
            paid = plan
        elif "max_seconds" not in args:
            left = ctx.budget.remaining_seconds()
            if left != float("inf"):
                args["max_seconds"] = max(1.0, left - SAVE_MARGIN_S)
        known = {f.name for f in fields(SFTConfig)}
        flags = " ".join(_flag(k, v) for k, v in args.items() if k in known)
        command = (
            f"{quote(sys.executable)} -m ptb_env.training.sft --model {quote(init)} "
            f"--data {quote(inner_snapshot)} --out {quote(out)} {flags}"
        )
        shown = command
        if paid is not None:  # its CPU time is paid for: none of the agent's code may run in it
            pristine = " ".join(quote(f"{k}={v}") for k, v in ctx.sandbox.base_env().items())
            command = f"cd / && env -i {pristine} {command}"
        job = ctx.sandbox.jobs.start(command, shown=shown)
        data = {"job": job.data(), "out": out_arg, "data_snapshot": inner_snapshot}
        note = ""
        if paid is not None and ctx.compute is not None:
            ctx.compute.paid_job(job, paid["tflop"])
            data["compute"] = paid
            note = (
                f"; charged {paid['tflop']:.4g} TFLOP for {paid['steps']} steps of "
                f"{args.get('batch_size', _D.batch_size)} examples of at most {paid['max_length']} tokens"
            )
        return ToolResult(
            output=f"started job {job.id} (training, log {job.log}{note}); wait for it with "
            f'{{"tool": "wait", "args": {{"job_id": {job.id}}}}}',
            data=data,
        )

    @staticmethod
    def _snapshot(ctx: ToolContext, data: str) -> tuple[str, Path] | ToolResult:
        """Copy the data file out of the agent's reach; returns its path inside the sandbox and on
        the host."""
        rel = ctx.paths.workspace_rel(data)
        if rel is None:
            return ToolResult(
                error="Training data must be a file in the workspace (it is snapshotted): "
                + ctx.paths.outside(data)
            )
        folder = ctx.workspace.snapshot_dir
        folder.mkdir(exist_ok=True)
        name = f"{len(list(folder.iterdir())) + 1}.jsonl"
        quota = ctx.sandbox.config.workspace_disk_mb
        left = MAX_DATA_BYTES if quota is None else (quota << 20) - ctx.workspace.disk_usage()[0]
        try:  # safe while the agent's processes run; holes kept, data charged to the disk quota
            is_dir = ctx.workspace.export(
                rel, folder / name, max_bytes=max(0, min(MAX_DATA_BYTES, left)), max_file_size=MAX_DATA_BYTES
            )
        except WorkspaceError as err:
            _discard(folder / name)
            return ToolResult(
                error=f"Cannot snapshot training data (disk quota and {MAX_DATA_BYTES >> 30} GiB "
                f"per file apply): {err}"
            )
        if is_dir:
            _discard(folder / name)
            return ToolResult(error=f"Training data {data!r} is a directory; pass one JSONL file.")
        return ctx.paths.in_control(SNAPSHOT_DIR, name), folder / name

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        data = ("data/train.jsonl", "data/missing.jsonl")[int(rng.integers(2))]
        return {"data": data, "max_steps": int(rng.integers(1, 3)), "batch_size": 4, "max_length": 64}


def _compute_plan(
    ctx: ToolContext, meter: ComputeMeter, args: dict[str, Any], snapshot: Path, max_tflop: float | None
) -> dict[str, Any] | ToolResult:
    """Size a run to the compute budget (``ptb_env.compute``): sets ``max_steps`` and ``max_length``
    in ``args`` and returns what to charge, or the error when not one step is affordable."""
    if "max_length" not in args:
        longest = meter.data_max_length(snapshot, _D.max_length)
        if longest is None:
            return ToolResult(error="No chat example in the first lines of the data file.")
        args["max_length"] = longest
    batch, length = int(args.get("batch_size", _D.batch_size)), int(args["max_length"])
    step, start = meter.train_step_tflop(batch, length), job_start_tflop()
    left = ctx.budget.compute.left()
    spend = min(left, max_tflop) if max_tflop is not None else left - meter.eval_tflop(ctx.task.dev_limit)
    if "max_steps" in args:
        planned = int(args["max_steps"])
    else:
        with open(snapshot, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        planned = max(1, math.ceil(float(args.get("epochs", _D.epochs)) * math.ceil(max(1, lines) / batch)))
    steps = min(planned, math.floor(max(0.0, spend - start) / step))
    if steps < 1:
        return ToolResult(
            error=f"Not one training step fits: a job costs {start:.4g} TFLOP to start and a step of "
            f"{batch} examples of {length} tokens {step:.4g} TFLOP, and {spend:.4g} TFLOP may be spent "
            f"({left:.4g} left). Lower batch_size or max_length, or raise max_tflop."
        )
    args["max_steps"] = steps
    tflop = steps * step + start
    return {"steps": steps, "tflop": tflop, "step_tflop": step, "start_tflop": start, "max_length": length}


def _flag(name: str, value: Any) -> str:
    """``--name value`` for ``python -m ptb_env.training.sft`` (a list: its items, shell-quoted)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return " ".join([f"--{name.replace('_', '-')}", *(quote(str(v)) for v in values)])


def _discard(path: Path) -> None:
    """Remove a failed snapshot (a file or a partly copied tree)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
