"""Portable infos: host paths as the agent sees them, run-dependent fields dropped."""

from __future__ import annotations

from pathlib import Path

from ptb_env.multiagent.info import grade_info, portable
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.workspace import Workspace


def test_portable_replaces_the_longest_matching_prefix_first():
    paths = {"/w/ep-1": "/workspace", "/w/ep-1.ctl": "/run/ptb"}
    assert portable(["/w/ep-1.ctl/train_data/1.jsonl", "/w/ep-1/data"], paths) == [
        "/run/ptb/train_data/1.jsonl",
        "/workspace/data",
    ]


def test_portable_drops_timings_and_cache_flags_at_any_depth():
    value = {"a": {"seconds": 1.0, "cached": True, "b": [{"seconds": 2.0, "n": 3}]}}
    assert portable(value, {}) == {"a": {"b": [{"n": 3}]}}


def test_grade_info_names_files_as_inside_the_sandbox(tmp_path: Path):
    ws = Workspace.create(tmp_path, TINY_MODEL_DIR, task_card="x")
    info = {
        "status": "disqualified",
        "score": 0.0,
        "base_score": 0.0,
        "uplift": 0.0,
        "reason": f"contamination in {ws.root}/data/a.jsonl",
        "grade": {"n": 0, "seconds": 3.2, "cached": False},
        "integrity": {"contamination": {"evidence": {"files": [f"{ws.control_dir}/train_data/1.jsonl"]}}},
    }
    out = grade_info(info, ws)
    assert out["reason"] == "contamination in /workspace/data/a.jsonl"
    assert out["integrity"]["contamination"]["evidence"]["files"] == ["/run/ptb/train_data/1.jsonl"]
    assert "seconds" not in str(out) and out["n"] == 0
