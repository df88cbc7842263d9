"""The observation of PostTrain-v0: its space and how one is built.

An observation is a ``Dict``:

- ``output``: text the last tool call produced (head and tail kept when long);
- ``workspace``: a summary of the workspace (files, checkpoint, jobs);
- ``budget``: ``seconds_left``, ``steps_left``, ``dev_evals_left``, ``compute_left`` (TFLOP, the
  opt-in compute budget of :mod:`ptb_env.compute`) (``inf`` when unlimited);
- ``best_dev_score``, ``last_dev_score``: dev scores so far (NaN before the first ``evaluate``);
- ``error``: why the last action failed ("" when it did not).

Every string of an observation (and of ``info``, see :func:`valid_text_tree`) is
valid UTF-8: a name that is not (``touch $'bad\xff'``) reaches Python as lone
surrogates, which :func:`valid_text` shows as the escapes ``\xff``, so any JSON
or HTTP client can send the observation on.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from gymnasium import spaces

from ptb_env.sandbox import truncate_middle
from ptb_env.spaces import AnyText, MaybeScore

MAX_OUTPUT_CHARS = 16_000
MAX_SUMMARY_CHARS = 4_000
MAX_ERROR_CHARS = 2_000
_MARKER = 200
"""Room for the cut marker that ``truncate_middle`` inserts."""
BUDGET_KEYS = ("seconds_left", "steps_left", "dev_evals_left", "compute_left")
_LEDGERS = {
    "seconds_left": "wall_clock_s",
    "steps_left": "steps",
    "dev_evals_left": "dev_evals",
    "compute_left": "compute_tflop",
}


def observation_space() -> spaces.Dict:
    """The observation space (the same for every task)."""
    budget = spaces.Dict({k: spaces.Box(0.0, np.inf, shape=(), dtype=np.float64) for k in BUDGET_KEYS})
    return spaces.Dict(
        {
            "output": AnyText(MAX_OUTPUT_CHARS + _MARKER),
            "workspace": AnyText(MAX_SUMMARY_CHARS + _MARKER),
            "budget": budget,
            "best_dev_score": MaybeScore(),
            "last_dev_score": MaybeScore(),
            "error": AnyText(MAX_ERROR_CHARS + _MARKER),
        }
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate shown as an escape, so that it encodes as UTF-8.

    A surrogate that stands for an undecodable byte (``os.fsdecode``'s U+DC80..U+DCFF)
    becomes that byte's ``\\xNN``; any other becomes ``\\udNNN``.

    >>> valid_text("bad\\udcff\\udcfe.txt")
    'bad\\\\xff\\\\xfe.txt'
    """
    return text if text.isascii() else _SURROGATE.sub(_escape, text)


def valid_text_tree(value: Any) -> Any:
    """``value`` with :func:`valid_text` applied to every string in its dicts, lists and tuples."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text_tree(k): valid_text_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(valid_text_tree(v) for v in value)
    return value


class Observation(TypedDict):
    """An observation of ``PostTrain-v0`` (see :func:`observation_space`)."""

    output: str
    """The text of the last tool call, the middle cut when long."""
    workspace: str
    """Top-level files, the checkpoint's files and the jobs."""
    budget: dict[str, np.ndarray]
    """``seconds_left``, ``steps_left``, ``dev_evals_left``, ``compute_left`` (float64 scalars; inf: no
    limit)."""
    best_dev_score: np.ndarray
    last_dev_score: np.ndarray
    error: str
    """Why the last call failed ("" when it did not)."""


def build_observation(
    output: str, summary: str, budget_left: dict[str, float], best: float, last: float, error: str
) -> Observation:
    """A fresh observation (new arrays every call: nothing is shared between steps; valid UTF-8)."""
    budget = {
        k: np.array(max(0.0, float(budget_left.get(_LEDGERS[k], np.inf))), dtype=np.float64)
        for k in BUDGET_KEYS
    }
    return {
        "output": truncate_middle(valid_text(output), MAX_OUTPUT_CHARS),
        "workspace": truncate_middle(valid_text(summary), MAX_SUMMARY_CHARS),
        "budget": budget,
        "best_dev_score": np.array(best, dtype=np.float64),
        "last_dev_score": np.array(last, dtype=np.float64),
        "error": truncate_middle(valid_text(error), MAX_ERROR_CHARS),
    }


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _listing(directory: Path, limit: int) -> list[str]:
    """``name size`` lines of a directory's entries, without following symlinks."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return []
    lines = []
    for e in entries[:limit]:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            lines.append(f"{e.name} -> {os.readlink(e.path)}")
        elif stat.S_ISDIR(st.st_mode):
            lines.append(f"{e.name}/")
        else:
            lines.append(f"{e.name} ({_size(st.st_size)})")
    if len(entries) > limit:
        lines.append(f"... and {len(entries) - limit} more")
    return lines


def workspace_summary(root: Path, final_model: str, jobs: str, inner: str) -> str:
    """Top-level files, the checkpoint's files and the jobs (read host-side, no link followed).

    ``inner`` is the workspace as the agent names it (``Sandbox.paths.workspace``).
    """
    top = [ln for ln in _listing(root, 40) if not ln.startswith(".")]
    try:
        real_dir = stat.S_ISDIR(os.lstat(root / final_model).st_mode)
    except OSError:
        real_dir = False
    ckpt = _listing(root / final_model, 20) if real_dir else []
    parts = [f"{inner}: " + ", ".join(top)]
    parts.append(f"{final_model}/: " + (", ".join(ckpt) if ckpt else "(empty: no checkpoint yet)"))
    parts.append("jobs: " + jobs.replace("\n", "; "))
    return "\n".join(parts)
