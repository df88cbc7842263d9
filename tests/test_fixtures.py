"""The shipped base scores (``tests/fixtures/base-scores``) are the ones the suite would compute."""

from __future__ import annotations

import json
from pathlib import Path

from ptb_env.grading import Grader
from ptb_env.score_cache import ScoreCache, checkpoint_fingerprint

REGENERATE = (
    "ship the base scores anew (the model, a split or an evaluation setting changed, and the "
    "suite now computes them in every worker of a fresh machine): rm tests/fixtures/base-scores/*.json "
    "&& PTB_TEST_SCORE_STORE=tests/fixtures/base-scores .venv/bin/python -m pytest -q "
    "tests/test_hidden.py -k score_cache_is_absent, then commit the new files"
)


def test_the_shipped_base_scores_are_the_seeded_tasks_under_their_current_keys(
    seeded_base_scores, tmp_path: Path
):
    shipped, tasks, test_limit = seeded_base_scores
    want = {}
    for task in tasks:
        grader = Grader(task, ScoreCache(tmp_path))
        weights = checkpoint_fingerprint(grader.base_dir)
        for limit in (None, test_limit):
            want[grader._key(weights, "test", limit)] = limit or len(grader.benchmark.items("test"))
    assert {p.stem for p in shipped.glob("*.json")} == set(want), REGENERATE
    for key, n in want.items():
        value = json.loads((shipped / f"{key}.json").read_text(encoding="utf-8"))
        assert value["n"] == n and value["score"] == 0.0  # every tiny base model scores 0 on test
