"""Structured tool results: what each tool call produced, as data (``info["result"]``).

The text of a tool call is for the agent and may be reworded at any time; code
(the recipe wrapper, the scripted baselines, the TRL adapter, your own agents)
reads these dicts instead. Every result has ``tool`` (the tool called, ``None``
when the action was invalid) and ``ok`` (no error); the rest depends on the tool:

=================  =====================================================================
tool               keys
=================  =====================================================================
``bash``           ``exit_code`` (``None`` if the command did not finish), ``timed_out``
``job_start``      ``job``: a :class:`JobData`
``job_status``     ``job`` (one job asked for) or ``jobs`` (all of them)
``job_logs``       ``job``, ``chars`` (characters of log returned)
``job_kill``       ``job``
``wait``           ``jobs``: the job waited for, or every job
``read_file``      ``path``, ``size``, ``start``, ``end`` (the byte range returned)
``write_file``     ``path``, ``bytes``, ``append``
``train``          ``job``, ``out`` (checkpoint directory, as the agent named it), ``data_snapshot``;
                   on the compute budget ``compute`` (``steps``, ``tflop``, ``step_tflop``,
                   ``start_tflop``, ``max_length``: what the run was charged for)
``evaluate``       ``model``, ``split``, ``score``, ``n``, ``seconds``, ``best`` (the default split)
``submit``         ``submitted``; the episode's grade is in ``info`` (``status``, ``score`` ...)
=================  =====================================================================

A failed call (``ok`` false) has ``error`` (the message the agent saw) and
whatever the tool could still say (e.g. ``job`` for a job that exists).
"""

from __future__ import annotations

from typing import Any, TypedDict


class JobData(TypedDict):
    """One background job."""

    id: int
    state: str
    """``running``, ``exited``, ``killed`` or ``lost`` (its sandbox restarted)."""
    exit_code: int | None
    """Exit status once finished (``128 + signal`` when a signal killed it)."""
    log: str
    """The job's log, inside the sandbox."""
    seconds: float
    """Seconds since it started (until it ended, once finished)."""
    command: str


class BashData(TypedDict):
    exit_code: int | None
    timed_out: bool


class EvaluateData(TypedDict):
    model: str
    split: str
    score: float
    n: int
    seconds: float
    best: float | None
    """The best score so far on the task's default dev split (``None`` after a call on another)."""


def result_info(tool: str | None, error: str, data: dict[str, Any]) -> dict[str, Any]:
    """``info["result"]``: ``tool``, ``ok``, ``error`` when there is one, and the tool's data."""
    info: dict[str, Any] = {"tool": tool, "ok": not error}
    if error:
        info["error"] = error
    info.update(data)
    return info
