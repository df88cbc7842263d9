"""Background-job tools: ``job_start``, ``job_status``, ``job_logs``, ``job_kill`` and ``wait``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptb_env.errors import JobNotFound
from ptb_env.sandbox import OUTPUT_LIMIT
from ptb_env.tools.base import Tool, ToolContext, ToolResult, integer, number, schema, string

_JOB_ID = integer("Job id (from job_start or train).", 1, 1_000_000)


def _not_found(err: JobNotFound) -> ToolResult:
    return ToolResult(error=str(err))


class JobStart(Tool):
    name = "job_start"
    description = (
        "Start a bash command in the background (in the current directory of your shell). "
        "Its output goes to a log; follow it with job_logs, wait for it with wait."
    )
    parameters = schema(("command",), command=string("Bash code to run in the background."))
    sample_weight = 0.5

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        job = ctx.sandbox.jobs.start(args["command"])
        return ToolResult(output=f"started {job.describe()}", data={"job": job.data()})

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"command": ("sleep 1", "echo background", "ls -R base_model")[int(rng.integers(3))]}


class JobStatus(Tool):
    name = "job_status"
    description = "Show the state of one background job, or of every job."
    parameters = schema(job_id=_JOB_ID)

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        try:
            jobs = ctx.sandbox.jobs.status(args.get("job_id"))
        except JobNotFound as err:
            return _not_found(err)
        if "job_id" not in args:
            text = "\n".join(j.describe() for j in jobs) if jobs else "no jobs"
            return ToolResult(output=text, data={"jobs": [j.data() for j in jobs]})
        return ToolResult(output=jobs[0].describe(), data={"job": jobs[0].data()})

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {} if rng.random() < 0.5 else {"job_id": int(rng.integers(1, 4))}


class JobLogs(Tool):
    name = "job_logs"
    description = (
        "The end of a background job's output (a line that a progress bar redraws with \\r shows "
        "its last state)."
    )
    parameters = schema(
        ("job_id",), job_id=_JOB_ID, chars=integer("How many characters (default 4000).", 1, OUTPUT_LIMIT)
    )

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        try:
            job = ctx.sandbox.jobs.status(args["job_id"])[0]
            tail = ctx.sandbox.jobs.tail(job.id, args.get("chars", 4000))
        except JobNotFound as err:
            return _not_found(err)
        return ToolResult(output=f"{job.describe()}\n{tail}", data={"job": job.data(), "chars": len(tail)})

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"job_id": int(rng.integers(1, 4)), "chars": int(rng.integers(1, 2000))}


class JobKill(Tool):
    name = "job_kill"
    description = "Kill a background job (its whole process group)."
    parameters = schema(("job_id",), job_id=_JOB_ID)
    sample_weight = 0.5

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        try:
            job = ctx.sandbox.jobs.kill(args["job_id"])
        except JobNotFound as err:
            return _not_found(err)
        return ToolResult(output=job.describe(), data={"job": job.data()})

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"job_id": int(rng.integers(1, 4))}


class Wait(Tool):
    name = "wait"
    description = (
        "Wait until a background job ends, or for a number of seconds, whichever comes first "
        "(never past the budget). Without job_id, waits the seconds and reports every job."
    )
    parameters = schema(
        job_id=_JOB_ID, seconds=number("Longest wait in seconds (default: until the job ends).", 0, 36_000)
    )

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        job_id, seconds = args.get("job_id"), args.get("seconds")
        if job_id is None and seconds is None:
            return ToolResult(error="wait needs job_id, seconds, or both.")
        try:
            jobs = ctx.sandbox.jobs.wait(job_id, seconds)
        except JobNotFound as err:
            return _not_found(err)
        return ToolResult(
            output="\n".join(j.describe() for j in jobs) or "no jobs", data={"jobs": [j.data() for j in jobs]}
        )

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        args: dict[str, Any] = {"seconds": float(rng.uniform(0, 0.2))}
        if rng.random() < 0.3:
            args["job_id"] = int(rng.integers(1, 4))
        return args
