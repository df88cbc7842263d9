"""PostTrain-v0 as a Gymnasium vector env: ``make_vec`` in async and sync modes, out of the box.

Each sub-env is a whole episode in its own workspace and sandbox (in its own process in
async mode); the score cache on disk is shared. A batched action is a tuple (or list) of
per-env tool calls; text observations come back as tuples of ``str``.
"""

from __future__ import annotations

import copy
import json
import multiprocessing as mp
import os
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import (
    batch_space,
    create_shared_memory,
    iterate,
    read_from_shared_memory,
    write_to_shared_memory,
)

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_env.errors import GraderError
from ptb_env.paths import cache_dir
from ptb_env.spaces import AnyText, MaybeScore

COPY_BASE = {"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}}
SUBMIT = {"tool": "submit", "args": {}}


def processes_mentioning(paths: list[str]) -> list[int]:
    """Pids of live processes whose command line names one of ``paths`` (the sandboxes bind them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(p in cmdline for p in paths):
            found.append(int(entry.name))
    return found


def make(mode: str, tmp_path: Path, **kwargs) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "PostTrain-v0",
        num_envs=2,
        vectorization_mode=mode,
        time_limit_s=60,
        max_steps=10,
        workspace_root=tmp_path / "ws",
        **kwargs,
    )


# -- spaces in shared memory and batches (cheap) --------------------------------


@pytest.mark.parametrize(
    "texts", [("", "plain"), ("héllo 🙂 中", "a\x00b\r\n\ttab"), ("x" * 50, "\udcff lone surrogate")]
)
def test_anytext_round_trips_through_shared_memory(texts):
    space = AnyText(50)
    memory = create_shared_memory(space, n=2)
    view = read_from_shared_memory(space, memory, n=2)  # read once, as AsyncVectorEnv does
    for i, text in enumerate(texts):
        write_to_shared_memory(space, i, text, memory)
    assert copy.deepcopy(view) == texts and type(copy.deepcopy(view)) is tuple
    assert pickle.loads(pickle.dumps(view)) == texts
    write_to_shared_memory(space, 0, "later", memory)
    assert copy.deepcopy(view) == ("later", texts[1])  # the view is live, not a snapshot
    assert batch_space(space, 2).contains(copy.deepcopy(view))


def test_anytext_too_long_for_shared_memory_is_a_clear_error():
    space = AnyText(5)
    memory = create_shared_memory(space, n=1)
    with pytest.raises(ValueError, match="at most 5 characters"):
        write_to_shared_memory(space, 0, "too long", memory)


def test_batched_scores_accept_nan_and_reject_out_of_range():
    space = batch_space(MaybeScore(), 3)
    assert isinstance(space, MaybeScore) and space.shape == (3,)
    assert space.contains(np.array([np.nan, 0.5, 1.0]))
    assert not space.contains(np.array([np.nan, 0.5, 1.5]))
    assert not space.contains(np.array([0.5, 0.5]))
    assert space.contains(space.sample())


def test_batched_action_space_samples_valid_per_env_calls(tmp_path):
    venv = make("async", tmp_path)
    try:
        single = venv.single_action_space
        venv.action_space.seed(0)
        for _ in range(20):
            actions = venv.action_space.sample()
            assert len(actions) == 2 and venv.action_space.contains(actions)
            assert all(single.contains(a) for a in actions)
        assert venv.action_space.contains([SUBMIT, json.dumps(SUBMIT)])
        assert not venv.action_space.contains((SUBMIT, {"tool": "nope"}))
        schemas = venv.get_attr("tool_schemas")
        assert len(schemas) == 2 and schemas[0] == schemas[1]
        assert {s["function"]["name"] for s in schemas[0]} >= {"bash", "train", "evaluate", "submit"}
    finally:
        venv.close()


# -- episodes ------------------------------------------------------------------


def per_env(infos: dict, key: str) -> list:
    """``infos[key]`` of each env, ``None`` where that env did not report it."""
    return [v if has else None for v, has in zip(infos[key], infos["_" + key], strict=True)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_noop_episodes_run_in_separate_workspaces_and_share_the_score_cache(mode, tmp_path):
    venv = make(mode, tmp_path)
    closed = False
    try:
        obs, infos = venv.reset(seed=0)
        workspaces = list(infos["workspace"])
        assert len(set(workspaces)) == 2 and all(Path(w).is_dir() for w in workspaces)
        assert venv.observation_space.contains(obs)
        assert processes_mentioning(workspaces), "expected live sandboxes before close()"

        # each env's shell is its own: a file written in one is absent from the other
        cmds = [{"tool": "bash", "args": {"command": f"echo env{i} > mark; cat mark; ls"}} for i in range(2)]
        obs, rewards, terminated, truncated, _ = venv.step(cmds)
        assert obs["output"][0].startswith("env0\n") and obs["output"][1].startswith("env1\n")
        assert list(rewards) == [0.0, 0.0] and not terminated.any() and not truncated.any()

        venv.step([COPY_BASE, COPY_BASE])
        obs, rewards, terminated, truncated, infos = venv.step([SUBMIT, json.dumps(SUBMIT)])
        assert terminated.all() and not truncated.any()
        assert list(rewards) == [0.0, 0.0]
        assert per_env(infos, "status") == ["ok", "ok"], per_env(infos, "reason")

        # both graded the same (unchanged) weights: one shared cache entry, whole JSON, no temp files
        scores = cache_dir() / "scores"  # the test session's cache (tests/conftest.py)
        entries = sorted(scores.glob("*.json"))
        assert entries and not list(scores.glob(".*.tmp"))
        for entry in entries:
            assert set(json.loads(entry.read_text())) >= {"score", "n"}

        # NEXT_STEP autoreset: the step after a terminal one starts a new episode, ignoring its action
        obs, rewards, terminated, truncated, infos = venv.step([SUBMIT, SUBMIT])
        assert not terminated.any() and list(rewards) == [0.0, 0.0]
        assert all("Read TASK.md" in o for o in obs["output"])
        fresh = list(infos["workspace"])
        assert set(fresh).isdisjoint(workspaces) and not any(Path(w).exists() for w in workspaces)

        venv.close()
        closed = True
        assert not any(Path(w).exists() for w in fresh)
        assert processes_mentioning(workspaces + fresh) == []
        if mode == "async":
            assert not any(p.is_alive() for p in venv.processes)
    finally:
        if not closed:
            venv.close()


@pytest.mark.slow
def test_async_observations_unbatch_into_per_env_observations(tmp_path):
    venv = make("async", tmp_path)
    try:
        obs, _ = venv.reset(seed=1)
        per = list(iterate(venv.observation_space, obs))
        assert len(per) == 2
        for o in per:
            assert isinstance(o["output"], str) and "Read TASK.md" in o["output"]
            assert float(o["budget"]["steps_left"]) == 10.0 and np.isnan(o["best_dev_score"])
    finally:
        venv.close()


@pytest.mark.slow
def test_a_crash_in_a_worker_raises_in_the_main_process(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("the score cache cannot live under a file")
    venv = gym.make_vec(
        "PostTrain-v0",
        num_envs=2,
        vectorization_mode="async",
        time_limit_s=30,
        workspace_root=tmp_path / "ws",
        score_cache_dir=blocker / "scores",
    )
    with pytest.raises(GraderError, match="Could not score the base model"):
        venv.reset(seed=0)
    venv.close()
    assert not any(p.is_alive() for p in venv.processes)
    assert mp.active_children() == []


@pytest.mark.slow
def test_forked_workers_score_models_after_the_parent_used_torch(tmp_path):
    """GNU OpenMP deadlocks in a forked child's first multi-threaded region; the env avoids it.

    The parent runs a multi-threaded torch op, then the async workers (forked, the default
    context) compute the base score (one computes, the other waits on the cache lock)
    and a dev score each, with a fresh score cache.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randn(256, 256)
        (x @ x).sum()
        venv = make("async", tmp_path, score_cache_dir=tmp_path / "scores")
    finally:
        torch.set_num_threads(before)
    try:
        venv.reset_async(seed=0)
        _, infos = venv.reset_wait(timeout=600)
        assert infos["base_score"][0] == infos["base_score"][1]
        venv.step([COPY_BASE, COPY_BASE])
        venv.step_async([{"tool": "evaluate", "args": {"limit": 2}}] * 2)
        obs, *_ = venv.step_wait(timeout=600)
        assert not np.isnan(obs["last_dev_score"]).any(), obs["error"]
        assert len(list((tmp_path / "scores").glob("*.json"))) == 2  # base test score, dev score
    finally:
        venv.close()
