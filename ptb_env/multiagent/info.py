"""Episode infos of the multi-agent envs, made portable: the same in every run of the same episode.

The single-agent env's ``info`` names host paths (the workspace's random directory) and wall
times; two runs with the same seed and actions would differ there only. The multi-agent envs
report grades through :func:`grade_info`, which writes paths as the agent sees them
(``/workspace``, ``/run/ptb``) and drops the timing and cache fields, so PettingZoo's
``seed_test`` can compare infos.

>>> portable({"file": "/tmp/ws/ep-1/data/x.jsonl", "seconds": 0.3}, {"/tmp/ws/ep-1": "/workspace"})
{'file': '/workspace/data/x.jsonl'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ptb_env.sandbox.bwrap import CONTROL_MOUNT
from ptb_env.workspace import Workspace

RUN_DEPENDENT_KEYS = frozenset({"seconds", "cached"})
"""Keys dropped everywhere: wall times, and whether a score came from the (shared) score cache."""
GRADE_KEYS = ("status", "score", "base_score", "uplift", "reason")
"""Keys of the single-agent env's last ``info`` that the multi-agent envs pass on."""


def portable(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` with host path prefixes replaced (longest first) and run-dependent keys dropped."""
    order = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
    return _portable(value, order)


def _portable(value: Any, order: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for host, inner in order:
            value = value.replace(host, inner)
        return value
    if isinstance(value, Mapping):
        return {k: _portable(v, order) for k, v in value.items() if k not in RUN_DEPENDENT_KEYS}
    if isinstance(value, (list, tuple)):
        return [_portable(v, order) for v in value]
    return value


def workspace_paths(workspace: Workspace) -> dict[str, str]:
    """Host paths of ``workspace`` and what the agent calls them inside its sandbox."""
    out = {}
    for path, inner in ((workspace.root, "/workspace"), (workspace.control_dir, CONTROL_MOUNT)):
        out[str(path)] = inner
        out[str(path.resolve())] = inner
    return out


def grade_info(info: Mapping[str, Any], workspace: Workspace) -> dict[str, Any]:
    """The grade of a finished single-agent episode, portable (see the module docstring).

    Keys: ``status``, ``score``, ``base_score``, ``uplift``, ``reason``, ``n`` (test items scored),
    ``integrity`` (each check's verdict), and ``truncated_by`` when the budget ended the episode.
    """
    out: dict[str, Any] = {k: info[k] for k in GRADE_KEYS if k in info}
    out["n"] = int(info.get("grade", {}).get("n", 0))
    out["integrity"] = info.get("integrity", {})
    if "truncated_by" in info:
        out["truncated_by"] = list(info["truncated_by"])
    return portable(out, workspace_paths(workspace))


__all__ = ["grade_info", "portable", "workspace_paths"]
